"""Tickets (工单) and their append-only audit trail.

Numbers are `YYYYMMDD-NNNNNN` in the hotline's local day (Asia/Shanghai),
drawn from a per-day counter row with an atomic upsert, so they are unique
and gap-free per day on SQLite and PostgreSQL alike, across replicas.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.common import reading, transaction, upsert, utcnow
from gateway.store.schema import ticket_counters, ticket_events, tickets

HOTLINE_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class TicketDraft:
    description: str
    channel: str
    source: str
    conversation_id: int | None = None
    contact_id: int | None = None
    request_type: str | None = None
    category: str | None = None
    district: str | None = None
    location: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    anonymous: bool = False
    utility: bool = False


@dataclass(frozen=True, slots=True)
class TicketEvent:
    at: datetime
    actor: str
    kind: str
    public: bool
    data: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "actor": self.actor, "kind": self.kind, "data": self.data or {}}


@dataclass(frozen=True, slots=True)
class TicketRecord:
    id: int
    number: str
    status: str
    channel: str
    source: str
    description: str
    request_type: str | None
    category: str | None
    district: str | None
    location: str | None
    contact_name: str | None
    contact_phone: str | None
    anonymous: bool
    utility: bool
    conversation_id: int | None
    created_at: datetime
    updated_at: datetime
    events: tuple[TicketEvent, ...] = field(default=())

    def as_json(self, with_events: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat()
        data["events"] = [e.as_json() for e in self.events] if with_events else None
        if not with_events:
            del data["events"]
        return data


@dataclass(frozen=True, slots=True)
class TicketFilter:
    status: str | None = None
    channel: str | None = None
    category: str | None = None
    district: str | None = None
    request_type: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    phone: str | None = None


def ticket_day(now: datetime) -> str:
    return now.astimezone(HOTLINE_TZ).strftime("%Y%m%d")


_TICKET_COLS = [c for c in tickets.c if c.name not in ("contact_id",)]


def _record(row: sa.Row[Any], events: Sequence[TicketEvent] = ()) -> TicketRecord:
    m = row._mapping
    return TicketRecord(
        id=m["id"], number=m["number"], status=m["status"], channel=m["channel"], source=m["source"],
        description=m["description"], request_type=m["request_type"], category=m["category"],
        district=m["district"], location=m["location"], contact_name=m["contact_name"],
        contact_phone=m["contact_phone"], anonymous=bool(m["anonymous"]), utility=bool(m["utility"]),
        conversation_id=m["conversation_id"], created_at=m["created_at"], updated_at=m["updated_at"],
        events=tuple(events))


class TicketStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, draft: TicketDraft, actor: str) -> TicketRecord:
        now = utcnow()
        async with transaction(self._engine) as conn:
            number = await self._next_number(conn, now)
            row = (await conn.execute(tickets.insert().values(
                number=number, status="open", created_at=now, updated_at=now, **asdict(draft),
            ).returning(*_TICKET_COLS))).one()
            event = TicketEvent(now, actor, "created", True, {"source": draft.source, "channel": draft.channel})
            await self._insert_event(conn, row.id, event)
        return _record(row, [event])

    async def _next_number(self, conn: AsyncConnection, now: datetime) -> str:
        day = ticket_day(now)
        stmt = upsert(conn, ticket_counters).values(day=day, last=1)
        stmt = stmt.on_conflict_do_update(index_elements=["day"], set_={"last": ticket_counters.c.last + 1})
        n = (await conn.execute(stmt.returning(ticket_counters.c.last))).scalar_one()
        return f"{day}-{n:06d}"

    @staticmethod
    async def _insert_event(conn: AsyncConnection, ticket_id: int, e: TicketEvent) -> None:
        await conn.execute(ticket_events.insert().values(
            ticket_id=ticket_id, at=e.at, actor=e.actor, kind=e.kind, public=e.public, data=e.data))

    async def add_event(self, ticket_id: int, actor: str, kind: str, data: dict[str, Any] | None = None,
                        public: bool = False) -> TicketEvent:
        event = TicketEvent(utcnow(), actor, kind, public, data)
        async with transaction(self._engine) as conn:
            await self._insert_event(conn, ticket_id, event)
            await conn.execute(tickets.update().where(tickets.c.id == ticket_id).values(updated_at=event.at))
        return event

    async def update(self, number: str, actor: str, changes: dict[str, Any]) -> TicketRecord | None:
        """Change fields and record old and new values in the audit trail."""
        async with transaction(self._engine) as conn:
            row = (await conn.execute(sa.select(*_TICKET_COLS).where(tickets.c.number == number))).one_or_none()
            if row is None:
                return None
            diff = {k: {"from": row._mapping[k], "to": v} for k, v in changes.items() if row._mapping[k] != v}
            if diff:
                now = utcnow()
                await conn.execute(tickets.update().where(tickets.c.id == row.id).values(updated_at=now, **changes))
                kind = "status_changed" if set(diff) == {"status"} else "updated"
                await self._insert_event(conn, row.id, TicketEvent(now, actor, kind, "status" in diff, diff))
        return await self.get(number)

    async def get(self, number: str) -> TicketRecord | None:
        async with reading(self._engine) as conn:
            row = (await conn.execute(sa.select(*_TICKET_COLS).where(tickets.c.number == number))).one_or_none()
            if row is None:
                return None
            events = (await conn.execute(sa.select(ticket_events).where(ticket_events.c.ticket_id == row.id)
                                         .order_by(ticket_events.c.id))).all()
        return _record(row, [TicketEvent(e.at, e.actor, e.kind, bool(e.public), e.data) for e in events])

    async def open_for_conversation(self, conversation_id: int) -> TicketRecord | None:
        """The conversation's newest ticket still being worked on (fallback appends to it)."""
        async with reading(self._engine) as conn:
            row = (await conn.execute(
                sa.select(*_TICKET_COLS)
                .where(tickets.c.conversation_id == conversation_id,
                       tickets.c.status.in_(("open", "dispatched", "in_progress")))
                .order_by(tickets.c.id.desc()).limit(1))).one_or_none()
        return None if row is None else _record(row)

    async def for_conversation(self, conversation_id: int) -> list[TicketRecord]:
        async with reading(self._engine) as conn:
            rows = (await conn.execute(sa.select(*_TICKET_COLS).where(tickets.c.conversation_id == conversation_id)
                                       .order_by(tickets.c.id))).all()
        return [_record(r) for r in rows]

    async def list(self, flt: TicketFilter, offset: int = 0, limit: int = 50) -> tuple[list[TicketRecord], int]:
        conds = []
        for name in ("status", "channel", "category", "district", "request_type"):
            value = getattr(flt, name)
            if value is not None:
                conds.append(tickets.c[name] == value)
        if flt.phone is not None:
            conds.append(tickets.c.contact_phone == flt.phone)
        if flt.created_from is not None:
            conds.append(tickets.c.created_at >= flt.created_from)
        if flt.created_to is not None:
            conds.append(tickets.c.created_at < flt.created_to)
        async with reading(self._engine) as conn:
            total = (await conn.execute(sa.select(sa.func.count()).select_from(tickets).where(*conds))).scalar_one()
            rows = (await conn.execute(sa.select(*_TICKET_COLS).where(*conds)
                                       .order_by(tickets.c.id.desc()).offset(offset).limit(limit))).all()
        return [_record(r) for r in rows], total
