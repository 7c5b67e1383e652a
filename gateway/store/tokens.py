"""Access tokens of outside platforms, kept in the database so every gateway process uses the same one."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.store.common import PerDialect
from routing.clock import Clock
from gateway.store.database import Database
from gateway.store.schema import platform_tokens

_UPSERT = PerDialect(lambda insert: (lambda stmt: stmt.on_conflict_do_update(
    index_elements=["platform", "account"],
    set_={"token": stmt.excluded.token, "expires_at": stmt.excluded.expires_at,
          "updated_at": stmt.excluded.updated_at}))(insert(platform_tokens)))


class TokenStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def get(self, platform: str, account: str) -> tuple[str, datetime] | None:
        def work(conn: Connection) -> tuple[str, datetime] | None:
            row = conn.execute(sa.select(platform_tokens.c.token, platform_tokens.c.expires_at).where(
                platform_tokens.c.platform == platform, platform_tokens.c.account == account)).one_or_none()
            return None if row is None else (row.token, row.expires_at)
        return await self._db.run(work)

    async def put(self, platform: str, account: str, token: str, expires_at: datetime) -> None:
        def work(conn: Connection) -> None:
            conn.execute(_UPSERT(conn), {"platform": platform, "account": account, "token": token,
                                         "expires_at": expires_at, "updated_at": self._clock.now()})
        await self._db.run(work)
