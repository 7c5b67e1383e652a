"""Files a handling unit attaches to a ticket (photos of the repaired street light, a PDF of the
termination material): the bytes are in the media store, the row says whose ticket they belong to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from channels.base import Attachment
from gateway.store.database import Database
from gateway.store.schema import attachments, media_readings, messages, ticket_files, tickets
from routing.clock import Clock


@dataclass(frozen=True, slots=True)
class TicketFile:
    id: int
    ticket_number: str
    unit_id: str
    kind: str
    content_type: str
    size: int
    storage_key: str
    filename: str | None
    used_in: str | None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "content_type": self.content_type, "size": self.size,
                "filename": self.filename, "used_in": self.used_in}


_SELECT = sa.select(ticket_files, tickets.c.number).join(tickets, tickets.c.id == ticket_files.c.ticket_id)


def _file(row: Any) -> TicketFile:
    return TicketFile(row.id, row.number, row.unit_id, row.kind, row.content_type, row.size, row.storage_key,
                      row.filename, row.used_in)


# A unit attaches files while it can still act on the ticket (accept, progress, result, return, requests).
UPLOAD_STATUSES = frozenset({"dispatched", "in_progress"})
MAX_UNUSED = 20


class UploadRefused(Exception):
    """`reason`: "closed" (the unit can no longer act on the ticket) or "too_many" (unused uploads)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def claim_files(conn: Connection, ticket_id: int, unit_id: str, ids: Sequence[int], action: str) -> list[dict[str, Any]]:
    """Mark the unit's unused uploads for this ticket as part of `action`; their descriptions go into
    the event. Raises LookupError naming an id that is not such an upload."""
    if not ids:
        return []
    rows = conn.execute(_SELECT.where(ticket_files.c.id.in_(list(ids))).with_for_update(of=ticket_files)).all()
    by_id = {r.id: r for r in rows}
    for i in ids:
        row = by_id.get(i)
        if row is None or row.ticket_id != ticket_id or row.unit_id != unit_id or row.used_in is not None:
            raise LookupError(i)
    conn.execute(ticket_files.update().where(ticket_files.c.id.in_(list(ids))).values(used_in=action))
    return [{"id": i, "filename": by_id[i].filename, "content_type": by_id[i].content_type,
             "size": by_id[i].size} for i in ids]


class TicketFiles:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def add(self, number: str, unit_id: str, uploaded_by: str, att: Attachment) -> TicketFile | None:
        """None when the ticket is not this unit's. Refused (`UploadRefused`) when the unit can no longer act
        on it, or already holds `MAX_UNUSED` uploads not yet named in an action (review of issue 17: 30
        uploads went into a closed ticket)."""
        def work(conn: Connection) -> TicketFile | None:
            row = conn.execute(sa.select(tickets.c.id, tickets.c.unit_id, tickets.c.status)
                               .where(tickets.c.number == number).with_for_update()).one_or_none()
            if row is None or row.unit_id != unit_id:
                return None
            if row.status not in UPLOAD_STATUSES:
                raise UploadRefused("closed")
            unused = conn.execute(sa.select(sa.func.count()).select_from(ticket_files).where(
                ticket_files.c.ticket_id == row.id, ticket_files.c.unit_id == unit_id,
                ticket_files.c.used_in.is_(None))).scalar_one()
            if unused >= MAX_UNUSED:
                raise UploadRefused("too_many")
            file_id = conn.execute(ticket_files.insert().values(
                ticket_id=row.id, unit_id=unit_id, uploaded_by=uploaded_by[:64], kind=att.kind.value,
                content_type=att.content_type, size=att.size, sha256=att.sha256, storage_key=att.storage_key,
                filename=att.filename, created_at=self._clock.now()).returning(ticket_files.c.id)).scalar_one()
            return TicketFile(file_id, number, unit_id, att.kind.value, att.content_type, att.size, att.storage_key,
                              att.filename, None)
        return await self._db.run(work)

    async def get(self, file_id: int) -> TicketFile | None:
        row = await self._db.run(lambda conn: conn.execute(_SELECT.where(ticket_files.c.id == file_id)).one_or_none())
        return None if row is None else _file(row)

    async def for_ticket(self, number: str) -> list[TicketFile]:
        rows = await self._db.run(lambda conn: conn.execute(
            _SELECT.where(tickets.c.number == number).order_by(ticket_files.c.id)).all())
        return [_file(r) for r in rows]

    async def citizen_media(self, message_ids: Sequence[int], attachment_id: int | None = None) -> list[dict[str, Any]]:
        """What the citizen sent with the ticket's own messages (photos of the problem, a call recording;
        `message_ids` from its trail), never what they sent about another ticket of the same chat. With
        `attachment_id`, that one only if it is one of them."""
        if not message_ids:
            return []
        query = (sa.select(attachments.c.id, attachments.c.kind, attachments.c.content_type, attachments.c.size,
                           attachments.c.filename, attachments.c.storage_key,
                           media_readings.c.text.label("read_text"), media_readings.c.result.label("read_result"))
                 .join(messages, messages.c.id == attachments.c.message_id)
                 .outerjoin(media_readings, media_readings.c.attachment_id == attachments.c.id)
                 .where(messages.c.id.in_(sorted(set(message_ids))), messages.c.direction == "in")
                 .order_by(attachments.c.id))
        if attachment_id is not None:
            query = query.where(attachments.c.id == attachment_id)
        rows = await self._db.run(lambda conn: conn.execute(query).all())
        return [dict(r._mapping) for r in rows]
