"""What the supervisor's screen reads (值班长/督办, Art. 14-16, 19, 32): the manual dispatch queue, a unit's
tickets behind each count of the supervision board, requests and ratings waiting for a decision, a
ticket's contact, blocked contacts.

Reads only: every change goes through `TicketStore` / `ContactBlocks`, which apply the lifecycle. The
rules deciding what is pending live in `routing.supervision`; here are the queries that feed them.
"""

from __future__ import annotations

from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.store.database import Database
from gateway.store.schema import contacts, conversations, ticket_events, tickets
from gateway.store.tickets import _TICKET_COLS, TicketEvent, TicketRecord, _record
from routing.clock import Clock
from routing.supervision import REQUESTS, awaiting_decision, pending_request

HANDLING = ("dispatched", "in_progress")
QUEUE_EVENTS = ("dispatch_proposed", "needs_supervisor", "return")
MAX_ROWS = 500


def _events(conn: Connection, ids: Sequence[int], kinds: Sequence[str]) -> dict[int, list[TicketEvent]]:
    """The listed kinds of events of these tickets, oldest first, per ticket."""
    found: dict[int, list[TicketEvent]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = conn.execute(sa.select(ticket_events).where(ticket_events.c.ticket_id.in_(ids),
                                                       ticket_events.c.kind.in_(kinds))
                        .order_by(ticket_events.c.id)).all()
    for e in rows:
        found[e.ticket_id].append(TicketEvent(e.at, e.actor, e.kind, bool(e.public), e.data, e.id))
    return found


class SupervisionQueries:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def manual_queue(self) -> list[tuple[TicketRecord, list[TicketEvent]]]:
        """Tickets waiting for a supervisor to name the lead unit (Art. 14(3)), oldest first, with their
        dispatch proposals and returns."""
        def work(conn: Connection) -> list[tuple[TicketRecord, list[TicketEvent]]]:
            rows = conn.execute(sa.select(*_TICKET_COLS).where(tickets.c.status == "open")
                                .order_by(tickets.c.created_at, tickets.c.id).limit(MAX_ROWS)).all()
            events = _events(conn, [r.id for r in rows], QUEUE_EVENTS)
            return [(_record(r), events[r.id]) for r in rows]
        return await self._db.run(work)

    async def pending_requests(self) -> list[tuple[TicketRecord, str, TicketEvent]]:
        """Extension and termination requests no supervisor has decided yet: (ticket, kind, request)."""
        family = tuple(k for r in REQUESTS for k in (r, f"{r}_approved", f"{r}_rejected"))

        def work(conn: Connection) -> list[tuple[TicketRecord, str, TicketEvent]]:
            asked = sa.select(ticket_events.c.ticket_id).where(ticket_events.c.kind.in_(REQUESTS))
            rows = conn.execute(sa.select(*_TICKET_COLS).where(tickets.c.status == "in_progress",
                                                               tickets.c.id.in_(asked))
                                .order_by(tickets.c.due_date, tickets.c.id).limit(MAX_ROWS)).all()
            events = _events(conn, [r.id for r in rows], family)
            found = []
            for r in rows:
                kinds = [e.kind for e in events[r.id]]
                for request in REQUESTS:
                    if pending_request(kinds, request):
                        last = [e for e in events[r.id] if e.kind == request][-1]
                        found.append((_record(r), request, last))
            return found
        return await self._db.run(work)

    async def awaiting_rehandling(self) -> list[tuple[TicketRecord, TicketEvent, TicketEvent | None]]:
        """Results the citizen rated dissatisfied, waiting for re-handling or closing (Art. 16):
        (ticket, the rating, the result it rated)."""
        def work(conn: Connection) -> list[tuple[TicketRecord, TicketEvent, TicketEvent | None]]:
            rows = conn.execute(sa.select(*_TICKET_COLS).where(tickets.c.status == "resolved")
                                .order_by(tickets.c.updated_at, tickets.c.id).limit(MAX_ROWS)).all()
            events = _events(conn, [r.id for r in rows], ("result", "rating"))
            found = []
            for r in rows:
                trail = events[r.id]
                if awaiting_decision((e.kind, e.data) for e in trail):
                    results = [e for e in trail if e.kind == "result"]
                    found.append((_record(r), trail[-1], results[-1] if results else None))
            return found
        return await self._db.run(work)

    async def handling(self, unit: str) -> list[TicketRecord]:
        """The unit's tickets being handled (dispatched or in progress), soonest due first."""
        def work(conn: Connection) -> list[TicketRecord]:
            rows = conn.execute(sa.select(*_TICKET_COLS).where(tickets.c.unit_id == unit,
                                                               tickets.c.status.in_(HANDLING))
                                .order_by(tickets.c.due_date, tickets.c.id).limit(MAX_ROWS)).all()
            return [_record(r) for r in rows]
        return await self._db.run(work)

    async def returned_by(self, unit: str) -> list[tuple[TicketRecord, int]]:
        """Tickets the unit returned (Art. 14(4)), newest first, with how often it returned each."""
        def work(conn: Connection) -> list[tuple[TicketRecord, int]]:
            times: dict[int, int] = {}
            for ticket_id, data in conn.execute(sa.select(ticket_events.c.ticket_id, ticket_events.c.data)
                                                .where(ticket_events.c.kind == "return")).all():
                if data and data.get("unit") == unit:
                    times[ticket_id] = times.get(ticket_id, 0) + 1
            if not times:
                return []
            rows = conn.execute(sa.select(*_TICKET_COLS).where(tickets.c.id.in_(list(times)))
                                .order_by(tickets.c.id.desc()).limit(MAX_ROWS)).all()
            return [(_record(r), times[r.id]) for r in rows]
        return await self._db.run(work)

    async def rated_dissatisfied(self, unit: str) -> list[tuple[TicketRecord, int]]:
        """The unit's tickets with dissatisfied ratings (as the board counts them), with how many."""
        def work(conn: Connection) -> list[tuple[TicketRecord, int]]:
            times: dict[int, int] = {}
            for ticket_id, data in conn.execute(
                    sa.select(ticket_events.c.ticket_id, ticket_events.c.data)
                    .join(tickets, tickets.c.id == ticket_events.c.ticket_id)
                    .where(ticket_events.c.kind == "rating", tickets.c.unit_id == unit)).all():
                if data and data.get("level") == "dissatisfied":
                    times[ticket_id] = times.get(ticket_id, 0) + 1
            if not times:
                return []
            rows = conn.execute(sa.select(*_TICKET_COLS).where(tickets.c.id.in_(list(times)))
                                .order_by(tickets.c.id.desc()).limit(MAX_ROWS)).all()
            return [(_record(r), times[r.id]) for r in rows]
        return await self._db.run(work)

    async def ticket_contact(self, number: str) -> dict[str, Any] | None:
        """The citizen behind a ticket (for blocking, Art. 32); None when it has no known contact."""
        def work(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(sa.select(contacts).join(tickets, tickets.c.contact_id == contacts.c.id)
                               .where(tickets.c.number == number)).one_or_none()
            return None if row is None else dict(row._mapping)
        return await self._db.run(work)

    async def conversation_contact(self, conversation_id: int) -> dict[str, Any] | None:
        def work(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(sa.select(contacts).join(conversations, conversations.c.contact_id == contacts.c.id)
                               .where(conversations.c.id == conversation_id)).one_or_none()
            return None if row is None else dict(row._mapping)
        return await self._db.run(work)

    async def blocked_contacts(self) -> list[dict[str, Any]]:
        """Contacts whose messages are not being accepted (Art. 32), most recently blocked first."""
        def work(conn: Connection) -> list[dict[str, Any]]:
            rows = conn.execute(sa.select(contacts).where(contacts.c.blocked_at.is_not(None))
                                .order_by(contacts.c.blocked_at.desc()).limit(MAX_ROWS)).all()
            return [dict(r._mapping) for r in rows]
        return await self._db.run(work)
