"""Agent accounts, console sessions and the audit trail of agent actions.

Passwords are hashed with scrypt (a memory-hard KDF from the standard library) and a random salt;
session tokens are stored as their SHA-256, so a database leak does not hand out logins.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from routing.clock import Clock
from gateway.store.database import Database
from gateway.store.messages import ConversationRef, OutboundDraft, record_outbound, set_state
from gateway.store.outbox import OutboxItem
from gateway.store.schema import agent_sessions, agents, audit_log, contacts, conversations, messages, tickets

SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=8)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Agent:
    id: int
    username: str
    display_name: str
    role: str


@dataclass(frozen=True, slots=True)
class LoginResult:
    agent: Agent | None
    token: str | None = None
    csrf: str | None = None
    locked: bool = False


@dataclass(frozen=True, slots=True)
class ConversationQuery:
    """What the console's list asks for. `state` None means every open (not closed) conversation."""

    q: str | None = None          # a ticket number, a phone number, or part of the citizen's address
    phone: str | None = None      # `q` read as a phone number, when it is one
    channel: str | None = None
    state: str | None = None
    category: str | None = None   # of a ticket opened in the conversation
    only_id: int | None = None    # one row, for live updates of the list
    seats: tuple[str, ...] | None = None  # a skilled agent's own waiting list (Art. 17 special seats)
    hide_seats: tuple[str, ...] = ()      # seats whose waiting conversations other agents' lists leave out
    offset: int = 0
    limit: int = 50


PAGE_LIMIT = 100  # the most rows the console's list is ever sent at once


def _order_columns() -> tuple[Any, Any]:
    group = sa.case((conversations.c.state == "waiting_for_agent", 0), (conversations.c.emergency.is_(True), 1),
                    (conversations.c.state == "agent", 2), (conversations.c.state == "bot", 3), else_=4)
    waiting = sa.case((conversations.c.state == "waiting_for_agent",
                       sa.func.coalesce(conversations.c.handoff_at, conversations.c.created_at)), else_=None)
    return group, waiting


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _conversation_page(conn: Connection, query: ConversationQuery) -> tuple[list[dict[str, Any]], int]:
    conds: list[Any] = [conversations.c.state != "closed"] if query.state is None else [
        conversations.c.state == query.state]
    if query.only_id is not None:
        conds.append(conversations.c.id == query.only_id)
    if query.channel:
        conds.append(conversations.c.channel == query.channel)
    if query.seats is not None:
        conds += [conversations.c.state == "waiting_for_agent", conversations.c.seat.in_(query.seats)]
    if query.hide_seats:
        conds.append(sa.not_(sa.and_(conversations.c.state == "waiting_for_agent",
                                     sa.func.coalesce(conversations.c.seat, "").in_(query.hide_seats))))
    if query.category:
        conds.append(sa.exists().where(tickets.c.conversation_id == conversations.c.id,
                                       tickets.c.category == query.category))
    if query.q:
        ticket_match = [tickets.c.number == query.q]
        found = [contacts.c.external_user.like(_like(query.q), escape="\\"), contacts.c.phone == query.q]
        if query.phone:
            ticket_match.append(tickets.c.contact_phone == query.phone)
            found += [contacts.c.phone == query.phone, contacts.c.external_user == query.phone]
        found.append(sa.exists().where(tickets.c.conversation_id == conversations.c.id, sa.or_(*ticket_match)))
        conds.append(sa.or_(*found))
    group, waiting = _order_columns()
    base = (sa.select(conversations.c.id, conversations.c.channel, conversations.c.state, conversations.c.agent_id,
                      conversations.c.emergency, conversations.c.created_at, conversations.c.handoff_at,
                      conversations.c.seat, conversations.c.contact_id, contacts.c.external_user,
                      contacts.c.blocked_at.is_not(None).label("contact_blocked"),
                      group.label("rank_group"), waiting.label("rank_wait"))
            .join(contacts, contacts.c.id == conversations.c.contact_id).where(*conds))
    rows = conn.execute(base.order_by(group, waiting.asc(), conversations.c.id.desc())
                        .offset(query.offset).limit(min(query.limit, PAGE_LIMIT))).all()
    total = conn.execute(sa.select(sa.func.count()).select_from(
        conversations.join(contacts, contacts.c.id == conversations.c.contact_id)).where(*conds)).scalar_one()
    ids = [r.id for r in rows]
    last: dict[int, Any] = {}
    if ids:
        latest = (sa.select(sa.func.max(messages.c.id)).where(messages.c.conversation_id.in_(ids))
                  .group_by(messages.c.conversation_id))
        for m in conn.execute(sa.select(messages.c.conversation_id, messages.c.text, messages.c.created_at,
                                        messages.c.direction).where(messages.c.id.in_(latest))):
            last[m.conversation_id] = m
    items = []
    for r in rows:
        m = last.get(r.id)
        items.append({**r._mapping, "last_text": m.text if m else "", "last_at": m.created_at if m else r.created_at,
                      "last_direction": m.direction if m else None})
    return items, total


class TakeoverRefused(Exception):
    def __init__(self, owner: str | None, state: str) -> None:
        super().__init__(f"conversation is {state}" + (f", owned by {owner}" if owner else ""))
        self.owner, self.state = owner, state


def _audit(conn: Connection, now: datetime, actor: str, action: str, conversation_id: int | None,
           data: dict[str, Any] | None) -> None:
    conn.execute(audit_log.insert().values(at=now, actor=actor, action=action, conversation_id=conversation_id,
                                           data=data))


@dataclass(frozen=True, slots=True)
class Accounts:
    """A password account table and its session table: the console's agents, or the units' staff
    (gateway/store/unit_users.py). Both log in, lock out and keep sessions the same way."""
    table: sa.Table
    sessions: sa.Table
    owner: str  # the session table's column naming the account
    actor: str  # the audit log's actor prefix, e.g. "agent"


AGENT_ACCOUNTS = Accounts(agents, agent_sessions, "agent_id", "agent")


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    row: Any  # the account row when the password was right
    token: str | None = None
    csrf: str | None = None
    locked: bool = False


async def password_login(db: Database, clock: Clock, accounts: Accounts, username: str,
                         password: str) -> LoginAttempt:
    """Check a password, count failures (MAX_FAILED_LOGINS locks the account for LOCKOUT), and open a
    session stored as its token's SHA-256 with a CSRF token."""
    table, sessions = accounts.table, accounts.sessions
    row = await db.run(lambda conn: conn.execute(
        sa.select(table).where(table.c.username == username)).one_or_none())
    now = clock.now()
    if row is None:
        await asyncio.to_thread(hash_password, password)  # the same work either way: no enumeration by timing
        return LoginAttempt(None)
    if row.locked_until is not None and row.locked_until > now:
        return LoginAttempt(None, locked=True)
    ok = await asyncio.to_thread(verify_password, password, row.password_hash)
    actor = f"{accounts.actor}:{username}"[:64]

    def work(conn: Connection) -> LoginAttempt:
        # Counted against the row as it is now (locked for the update), not as it was read before
        # the hash: ten guesses sent at once are ten failures, and a lock set meanwhile holds.
        current = conn.execute(sa.select(table.c.failed_logins, table.c.locked_until)
                               .where(table.c.id == row.id).with_for_update()).one()
        if current.locked_until is not None and current.locked_until > now:
            return LoginAttempt(None, locked=True)
        if not ok:
            failed = current.failed_logins + 1
            locked = now + LOCKOUT if failed >= MAX_FAILED_LOGINS else None
            conn.execute(table.update().where(table.c.id == row.id).values(
                failed_logins=0 if locked else failed, locked_until=locked))
            _audit(conn, clock.now(), actor, "login_failed", None, {"locked": bool(locked)})
            return LoginAttempt(None, locked=bool(locked))
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        # Expired sessions are purged here, at every login, so the table never grows without bound.
        conn.execute(sessions.delete().where(sessions.c.expires_at <= now))
        conn.execute(table.update().where(table.c.id == row.id).values(failed_logins=0, locked_until=None))
        conn.execute(sessions.insert().values({"token_hash": token_hash(token), accounts.owner: row.id,
                                               "csrf": csrf, "created_at": now, "expires_at": now + SESSION_TTL}))
        _audit(conn, clock.now(), actor, "login", None, None)
        return LoginAttempt(row, token, csrf)
    return await db.run(work)


async def session_of(db: Database, clock: Clock, accounts: Accounts, token: str) -> tuple[Any, str] | None:
    """The account row and the session's CSRF token for a live session cookie."""
    table, sessions = accounts.table, accounts.sessions

    def work(conn: Connection) -> tuple[Any, str] | None:
        row = conn.execute(
            sa.select(table, sessions.c.csrf)
            .join(sessions, sessions.c[accounts.owner] == table.c.id)
            .where(sessions.c.token_hash == token_hash(token), sessions.c.expires_at > clock.now())
        ).one_or_none()
        return None if row is None else (row, row.csrf)
    return await db.run(work)


async def end_session(db: Database, accounts: Accounts, token: str) -> None:
    await db.run(lambda conn: conn.execute(
        accounts.sessions.delete().where(accounts.sessions.c.token_hash == token_hash(token))))


class AgentStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def add(self, username: str, display_name: str, role: str, password: str) -> Agent:
        # scrypt is slow on purpose: in a worker thread (it releases the GIL), never on the event loop.
        hashed = await asyncio.to_thread(hash_password, password)

        def work(conn: Connection) -> Agent:
            agent_id = conn.execute(agents.insert().values(
                username=username, display_name=display_name, role=role, password_hash=hashed,
                failed_logins=0, created_at=self._clock.now()).returning(agents.c.id)).scalar_one()
            return Agent(agent_id, username, display_name, role)
        return await self._db.run(work)

    async def login(self, username: str, password: str) -> LoginResult:
        found = await password_login(self._db, self._clock, AGENT_ACCOUNTS, username, password)
        if found.row is None:
            return LoginResult(None, locked=found.locked)
        row = found.row
        return LoginResult(Agent(row.id, row.username, row.display_name, row.role), found.token, found.csrf)

    async def session(self, token: str) -> tuple[Agent, str] | None:
        found = await session_of(self._db, self._clock, AGENT_ACCOUNTS, token)
        if found is None:
            return None
        row, csrf = found
        return Agent(row.id, row.username, row.display_name, row.role), csrf

    async def logout(self, token: str) -> None:
        await end_session(self._db, AGENT_ACCOUNTS, token)

    async def conversations(self, query: "ConversationQuery") -> tuple[list[dict[str, Any]], int]:
        """One page of conversations, those waiting for a human first (longest wait first), then
        emergencies, then the ones agents hold, then the bot's; and how many match in all."""
        return await self._db.run(_conversation_page, query)

    async def conversation_info(self, conversation_id: int) -> dict[str, Any]:
        """What the console shows beside a conversation: its owner's name, when a human was asked for."""
        def work(conn: Connection) -> dict[str, Any]:
            row = conn.execute(sa.select(conversations.c.agent_id, conversations.c.handoff_at, agents.c.display_name)
                               .outerjoin(agents, agents.c.username == conversations.c.agent_id)
                               .where(conversations.c.id == conversation_id)).one_or_none()
            if row is None or row.agent_id is None:
                return {"agent_name": None, "handoff_at": row.handoff_at if row else None}
            return {"agent_name": f"{row.display_name}（{row.agent_id}）" if row.display_name else row.agent_id,
                    "handoff_at": row.handoff_at}
        return await self._db.run(work)

    async def takeover(self, conversation_id: int, agent: Agent) -> ConversationRef:
        def work(conn: Connection) -> ConversationRef:
            row = conn.execute(sa.select(conversations).where(conversations.c.id == conversation_id)
                               .with_for_update()).one_or_none()
            if row is None or row.state == "closed":
                raise TakeoverRefused(None, "closed" if row else "missing")
            if row.state == "agent" and row.agent_id != agent.username:
                raise TakeoverRefused(row.agent_id, row.state)
            # Only one agent wins: the update is conditional on nobody else owning it.
            done = conn.execute(conversations.update().where(
                conversations.c.id == conversation_id,
                sa.or_(conversations.c.agent_id.is_(None), conversations.c.agent_id == agent.username))
                .values(state="agent", agent_id=agent.username)).rowcount
            if done != 1:
                raise TakeoverRefused(None, "taken")
            _audit(conn, self._clock.now(), f"agent:{agent.username}", "takeover", conversation_id, {"from_state": row.state})
            return ConversationRef(row.id, row.channel, row.key, row.contact_id, "agent", agent.username, row.emergency)
        return await self._db.run(work)

    async def owned(self, conversation_id: int, agent: Agent) -> tuple[ConversationRef, str] | None:
        """The conversation and its citizen's address when this agent owns it."""
        def work(conn: Connection) -> tuple[ConversationRef, str] | None:
            row = conn.execute(sa.select(conversations, contacts.c.external_user)
                               .join(contacts, contacts.c.id == conversations.c.contact_id)
                               .where(conversations.c.id == conversation_id)).one_or_none()
            if row is None or row.state != "agent" or row.agent_id != agent.username:
                return None
            return (ConversationRef(row.id, row.channel, row.key, row.contact_id, row.state, row.agent_id,
                                    row.emergency), row.external_user)
        return await self._db.run(work)

    async def agent_reply(self, conv: ConversationRef, recipient: str, agent: Agent, text: str,
                          queue: bool) -> list[OutboxItem]:
        def work(conn: Connection) -> list[OutboxItem]:
            items = record_outbound(conn, self._clock.now(), conv, recipient, None,
                                    [OutboundDraft(text, "agent", agent.username, None)], queue)
            _audit(conn, self._clock.now(), f"agent:{agent.username}", "reply", conv.id, {"message_id": items[0].message_id})
            return items
        return await self._db.run(work)

    async def release(self, conv: ConversationRef, recipient: str, agent: Agent, action: str, note: str | None,
                      queue: bool) -> list[OutboxItem]:
        """Hand back to the bot (`handback`) or close (`close`), with an optional note to the citizen."""
        def work(conn: Connection) -> list[OutboxItem]:
            set_state(conn, self._clock.now(), conv.id, "bot" if action == "handback" else "closed")
            items = record_outbound(conn, self._clock.now(), conv, recipient, None, [OutboundDraft(note, "system", agent.username)],
                                    queue) if note else []
            _audit(conn, self._clock.now(), f"agent:{agent.username}", action, conv.id, None)
            return items
        return await self._db.run(work)

    async def log(self, agent: Agent, action: str, conversation_id: int | None, data: dict[str, Any] | None) -> None:
        await self._db.run(_audit, self._clock.now(), f"agent:{agent.username}", action, conversation_id, data)

    async def audit(self, conversation_id: int) -> list[dict[str, Any]]:
        return await self._db.run(lambda conn: [dict(r._mapping) for r in conn.execute(
            sa.select(audit_log).where(audit_log.c.conversation_id == conversation_id).order_by(audit_log.c.id))])


class ContactNotFound(Exception):
    pass


def _set_block(conn: Connection, now: datetime, contact_id: int, agent: Agent, reason: str | None) -> dict[str, Any]:
    row = conn.execute(sa.select(contacts.c.id, contacts.c.channel, contacts.c.external_user)
                       .where(contacts.c.id == contact_id).with_for_update()).one_or_none()
    if row is None:
        raise ContactNotFound(contact_id)
    blocked = reason is not None
    conn.execute(contacts.update().where(contacts.c.id == contact_id).values(
        blocked_at=now if blocked else None, blocked_by=agent.username if blocked else None,
        blocked_reason=reason))
    _audit(conn, now, f"agent:{agent.username}", "contact_blocked" if blocked else "contact_unblocked", None,
           {"contact_id": contact_id, "channel": row.channel, **({"reason": reason} if blocked else {})})
    return {"id": contact_id, "channel": row.channel, "blocked": blocked, "reason": reason}


class ContactBlocks:
    """Contacts a supervisor has blocked (Art. 32), audited; the pipeline asks `is_blocked` on every
    message, so the set is kept in memory and loaded at start (per process: issue 20 moves it)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._blocked: set[int] = set()

    async def load(self) -> None:
        rows = await self._db.run(lambda conn: conn.execute(
            sa.select(contacts.c.id).where(contacts.c.blocked_at.is_not(None))).all())
        self._blocked = {r.id for r in rows}

    def is_blocked(self, contact_id: int) -> bool:
        return contact_id in self._blocked

    async def block(self, contact_id: int, agent: Agent, reason: str) -> dict[str, Any]:
        result = await self._db.run(_set_block, self._clock.now(), contact_id, agent, reason)
        self._blocked.add(contact_id)
        return result

    async def unblock(self, contact_id: int, agent: Agent) -> dict[str, Any]:
        result = await self._db.run(_set_block, self._clock.now(), contact_id, agent, None)
        self._blocked.discard(contact_id)
        return result
