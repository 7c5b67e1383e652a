"""What was read from citizens' images and videos (issue 18): the durable queue and the results.

Rows are queued with the message (gateway/store/messages.py). A reader leases a row before reading, so a
crashed reader's rows are read again after the lease and two readers never read the same row at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from channels.base import Channel, InboundMessage, MessageKind
from gateway.store.database import Database
from gateway.store.messages import _CONV_COLS, _conv, ConversationRef
from gateway.store.schema import (attachments, contacts, conversations, emergency_referrals, media_readings, messages,
                                  tickets)
from routing.clock import Clock

# A file is tried this many times (a worker killed by a hostile file counts) before it is given up.
MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class PendingReading:
    attachment_id: int
    message_id: int
    kind: str
    storage_key: str


@dataclass(frozen=True, slots=True)
class ReadingContext:
    """A stored inbound message as the pipeline needs it to act on its readings later."""

    message: InboundMessage
    conversation: ConversationRef
    referred: bool            # an emergency referral is already on record for it


class MediaReadings:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def lease_for(self, message_id: int, lease: timedelta) -> list[PendingReading]:
        """The message's readings not leased by anyone, leased now for an immediate read."""
        return await self._db.run(_lease, self._clock.now(), lease, message_id, 100, None)

    async def lease_due(self, lease: timedelta, limit: int, newer_than: timedelta,
                        older_than: timedelta) -> list[PendingReading]:
        """Pending readings nobody holds (left by a restart or a reader that stopped), oldest first."""
        now = self._clock.now()
        return await self._db.run(_lease, now, lease, None, limit, now - newer_than, now - older_than)

    async def unapplied(self, older_than: timedelta, newer_than: timedelta, limit: int) -> list[int]:
        """Messages whose files are all read but whose reading nobody acted on (a stop between the two)."""
        now = self._clock.now()

        def work(conn: Connection) -> list[int]:
            pending = sa.select(media_readings.c.message_id).where(media_readings.c.state == "pending")
            return list(conn.execute(
                sa.select(media_readings.c.message_id).distinct()
                .where(media_readings.c.applied == sa.false(), media_readings.c.created_at <= now - older_than,
                       media_readings.c.created_at >= now - newer_than,
                       media_readings.c.message_id.not_in(pending))
                .order_by(media_readings.c.message_id).limit(limit)).scalars())
        return await self._db.run(work)

    async def stored_for(self, message_id: int) -> dict[int, dict[str, Any]]:
        """attachment id → kind, state, masked text, confidence, location of the message's finished readings."""
        def work(conn: Connection) -> dict[int, dict[str, Any]]:
            rows = conn.execute(sa.select(media_readings).where(media_readings.c.message_id == message_id,
                                                                media_readings.c.state != "pending")).all()
            return {r.attachment_id: {"kind": r.kind, "state": r.state, "text": r.text, "confidence": r.confidence,
                                      "location": (r.result or {}).get("location")} for r in rows}
        return await self._db.run(work)

    async def save(self, attachment_id: int, ok: bool, text: str, confidence: float | None,
                   result: dict[str, Any], final: bool) -> None:
        """The outcome; a failure that is not `final` leaves the row pending for another try."""
        state = "done" if ok else ("failed" if final else "pending")
        await self._db.run(lambda conn: conn.execute(media_readings.update().where(
            media_readings.c.attachment_id == attachment_id).values(
            state=state, text=text, confidence=confidence, result=result,
            done_at=self._clock.now() if state != "pending" else None)))

    async def finished(self, message_id: int) -> bool:
        """Whether no reading of the message is still pending."""
        return await self._db.run(lambda conn: conn.execute(sa.select(sa.func.count()).where(
            media_readings.c.message_id == message_id, media_readings.c.state == "pending")).scalar_one() == 0)

    async def claim(self, message_id: int) -> bool:
        """True for the one caller that acts on the message's readings (answer, ticket, referral)."""
        def work(conn: Connection) -> bool:
            done = conn.execute(media_readings.update().where(
                media_readings.c.message_id == message_id, media_readings.c.applied == sa.false())
                .values(applied=True))
            return bool(done.rowcount)
        return await self._db.run(work)

    async def result_of(self, attachment_id: int) -> dict[str, Any] | None:
        return await self._db.run(lambda conn: conn.execute(sa.select(media_readings.c.result).where(
            media_readings.c.attachment_id == attachment_id)).scalar_one_or_none())

    async def context(self, message_id: int) -> ReadingContext | None:
        return await self._db.run(_context, message_id)

    async def refer(self, message_id: int, conversation_id: int, lines: Sequence[str], reason: str) -> bool:
        """Record an emergency found in what a photo says; False when the message was referred already."""
        def work(conn: Connection) -> bool:
            if conn.execute(sa.select(emergency_referrals.c.id).where(
                    emergency_referrals.c.message_id == message_id)).first() is not None:
                return False
            conn.execute(emergency_referrals.insert().values(
                message_id=message_id, conversation_id=conversation_id, lines=list(lines), reason=reason,
                created_at=self._clock.now()))
            conn.execute(conversations.update().where(conversations.c.id == conversation_id).values(emergency=True))
            return True
        return await self._db.run(work)

    async def set_triage(self, message_id: int, triage: dict[str, Any]) -> None:
        await self._db.run(lambda conn: conn.execute(
            messages.update().where(messages.c.id == message_id).values(triage=triage)))

    async def locate_ticket(self, ticket_id: int, position: dict[str, Any]) -> bool:
        """The photo's position on the ticket, unless one is there already; its district where none is."""
        def work(conn: Connection) -> bool:
            row = conn.execute(sa.select(tickets.c.reported_position, tickets.c.district)
                               .where(tickets.c.id == ticket_id)).one_or_none()
            if row is None or row.reported_position:
                return False
            values: dict[str, Any] = {"reported_position": position}
            if not row.district and position.get("district"):
                values["district"] = position["district"]
            conn.execute(tickets.update().where(tickets.c.id == ticket_id).values(**values))
            return True
        return await self._db.run(work)


def _lease(conn: Connection, now: datetime, lease: timedelta, message_id: int | None, limit: int,
           since: datetime | None, before: datetime | None = None) -> list[PendingReading]:
    free = sa.or_(media_readings.c.lease_until.is_(None), media_readings.c.lease_until < now)
    query = (sa.select(media_readings.c.attachment_id, media_readings.c.message_id, media_readings.c.kind,
                       media_readings.c.attempts, attachments.c.storage_key)
             .join(attachments, attachments.c.id == media_readings.c.attachment_id)
             .where(media_readings.c.state == "pending", free)
             .order_by(media_readings.c.attachment_id).limit(limit))
    if message_id is not None:
        query = query.where(media_readings.c.message_id == message_id)
    if since is not None:
        query = query.where(media_readings.c.created_at >= since)
    if before is not None:
        query = query.where(media_readings.c.created_at <= before)
    taken = []
    for row in conn.execute(query).all():
        if row.attempts >= MAX_ATTEMPTS:
            conn.execute(media_readings.update().where(media_readings.c.attachment_id == row.attachment_id)
                         .values(state="failed", done_at=now,
                                 result={"reason": f"given up after {row.attempts} attempts"}))
            continue
        # Only the caller whose update still sees the row free gets it (the other reader's lease won).
        won = conn.execute(media_readings.update().where(
            media_readings.c.attachment_id == row.attachment_id, media_readings.c.state == "pending", free)
            .values(lease_until=now + lease, attempts=row.attempts + 1)).rowcount
        if won:
            taken.append(PendingReading(row.attachment_id, row.message_id, row.kind, row.storage_key))
    return taken


def _context(conn: Connection, message_id: int) -> ReadingContext | None:
    row = conn.execute(
        sa.select(messages.c.id, messages.c.channel, messages.c.external_id, messages.c.text, messages.c.kind,
                  messages.c.conversation_id, messages.c.received_at, messages.c.payload, contacts.c.external_user)
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .join(contacts, contacts.c.id == conversations.c.contact_id)
        .where(messages.c.id == message_id, messages.c.direction == "in")).one_or_none()
    if row is None:
        return None
    conv = _conv(conn.execute(sa.select(*_CONV_COLS).where(conversations.c.id == row.conversation_id)).one())
    referred = conn.execute(sa.select(emergency_referrals.c.id).where(
        emergency_referrals.c.message_id == message_id)).first() is not None
    msg = InboundMessage(channel=Channel(row.channel), external_id=row.external_id or str(row.id),
                         sender=row.external_user, conversation_key=conv.key, text=row.text or "",
                         kind=MessageKind(row.kind), received_at=row.received_at,
                         meta=dict(row.payload) if isinstance(row.payload, dict) else {})
    return ReadingContext(msg, conv, referred)
