"""Handling units' staff accounts and sessions (Art. 8(1): units name their hotline staff).

Passwords, lockout and sessions work exactly as the console's agents' (gateway/store/agents.py,
`password_login`): scrypt hashes, sessions stored as the token's SHA-256.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from gateway.store.agents import Accounts, LoginAttempt, end_session, hash_password, password_login, session_of
from gateway.store.database import Database
from gateway.store.schema import UNIT_ROLES, unit_sessions, unit_users
from routing.clock import Clock

UNIT_ACCOUNTS = Accounts(unit_users, unit_sessions, "user_id", "unit_user")


@dataclass(frozen=True, slots=True)
class UnitUser:
    id: int
    unit_id: str
    username: str
    display_name: str
    role: str

    @property
    def actor(self) -> str:
        """How the ticket trail names the person: the unit, and who in it."""
        return f"unit:{self.unit_id}:{self.username}"[:64]


def _user(row: object) -> UnitUser:
    return UnitUser(row.id, row.unit_id, row.username, row.display_name, row.role)  # type: ignore[attr-defined]


class UnitUserStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def add(self, unit_id: str, username: str, display_name: str, role: str, password: str) -> UnitUser:
        if role not in UNIT_ROLES:
            raise ValueError(f"role must be one of {UNIT_ROLES}")
        hashed = await asyncio.to_thread(hash_password, password)  # slow on purpose: off the event loop

        def work(conn: Connection) -> UnitUser:
            user_id = conn.execute(unit_users.insert().values(
                unit_id=unit_id, username=username, display_name=display_name, role=role, password_hash=hashed,
                failed_logins=0, created_at=self._clock.now()).returning(unit_users.c.id)).scalar_one()
            return UnitUser(user_id, unit_id, username, display_name, role)
        return await self._db.run(work)

    async def login(self, username: str, password: str) -> tuple[UnitUser | None, LoginAttempt]:
        found = await password_login(self._db, self._clock, UNIT_ACCOUNTS, username, password)
        return (_user(found.row) if found.row is not None else None), found

    async def session(self, token: str) -> tuple[UnitUser, str] | None:
        found = await session_of(self._db, self._clock, UNIT_ACCOUNTS, token)
        return None if found is None else (_user(found[0]), found[1])

    async def logout(self, token: str) -> None:
        await end_session(self._db, UNIT_ACCOUNTS, token)
