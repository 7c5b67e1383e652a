"""Contacts, conversations, messages, attachments and emergency referrals.

`record_inbound` is the pipeline's durable step: one transaction stores the
contact, the open conversation, the message, its attachments and (for an
emergency) the referral, before the platform is acknowledged. The unique
`(channel, external_id)` makes a re-delivery a no-op that returns the first
message's id, so the caller can answer it the same way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from channels.base import Attachment, InboundMessage
from gateway.store.common import PerDialect
from routing.clock import Clock
from routing.seats import seat_for
from gateway.store.database import Database
from gateway.store.outbox import OUTBOX_LEASE, OutboxItem
from gateway.store.prepared import Prepared
from gateway.store.schema import (attachments, contacts, conversations, emergency_referrals, media_readings, messages,
                                  outbox)


@dataclass(frozen=True, slots=True)
class ConversationRef:
    id: int
    channel: str
    key: str
    contact_id: int
    state: str
    agent_id: str | None
    emergency: bool


@dataclass(frozen=True, slots=True)
class IngestResult:
    message_id: int
    conversation: ConversationRef
    duplicate: bool
    new_conversation: bool = False  # opened by this message: it has no ticket yet


@dataclass(frozen=True, slots=True)
class OutboundDraft:
    """A reply about to be stored and queued for delivery."""

    text: str
    sender_role: str = "bot"
    author: str | None = None
    payload: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    conversation_id: int
    direction: str
    sender_role: str
    kind: str
    text: str
    payload: dict[str, Any] | None
    in_reply_to: int | None
    created_at: datetime
    attachments: tuple[dict[str, Any], ...] = ()
    triage: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id, "direction": self.direction, "from": self.sender_role, "kind": self.kind,
            "text": self.text, "created_at": self.created_at.isoformat(),
        }
        if self.payload:
            data.update({k: v for k, v in self.payload.items() if k in ("buttons", "ticket_number", "emergency_lines")})
        if self.attachments:
            data["attachments"] = list(self.attachments)
        return data


class _Duplicate(Exception):
    def __init__(self, result: IngestResult) -> None:
        self.result = result


_CONV_COLS = (conversations.c.id, conversations.c.channel, conversations.c.key, conversations.c.contact_id,
              conversations.c.state, conversations.c.agent_id, conversations.c.emergency)


def _conv(row: sa.Row[Any]) -> ConversationRef:
    return ConversationRef(row.id, row.channel, row.key, row.contact_id, row.state, row.agent_id, bool(row.emergency))


class MessageStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def record_inbound(self, msg: InboundMessage, triage: dict[str, Any] | None,
                             emergency: tuple[Sequence[str], str] | None = None) -> IngestResult:
        """Store one inbound message (and its referral if `emergency` = (lines, reason))."""
        for attempt in range(3):
            try:
                return await self._db.run(_record_inbound, self._clock.now(), msg, triage, emergency)
            except _Duplicate as dup:  # raised inside: the contact/conversation touches roll back
                return dup.result
            except IntegrityError:
                # A concurrent first message created the conversation, or the same
                # delivery arrived twice at once: the retry sees the winner's rows.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def record_outbound(self, conversation: ConversationRef, recipient: str, in_reply_to: int | None,
                              drafts: Sequence[OutboundDraft], queue: bool = True) -> list[OutboxItem]:
        """Store replies and (with `queue`) queue them in the outbox, in one transaction.

        Queued items are already leased to the caller for an immediate delivery
        attempt; if that attempt never finishes, the lease expires and the
        outbox worker retries them. Unqueued items (channels whose replies are
        delivered by being stored) come back with `id` None.
        """
        if not drafts:
            return []
        return await self._db.run(record_outbound, self._clock.now(), conversation, recipient, in_reply_to, drafts,
                                  queue)

    async def replies_to(self, message_id: int) -> list[StoredMessage]:
        """The stored answers to an inbound message: what a re-delivery gets back."""
        def work(conn: Connection) -> list[StoredMessage]:
            rows = conn.execute(sa.select(messages).where(messages.c.in_reply_to == message_id)
                                .order_by(messages.c.id)).all()
            return [_stored(r) for r in rows]
        return await self._db.run(work)

    async def text_of(self, message_id: int) -> str | None:
        return await self._db.run(lambda conn: conn.execute(
            sa.select(messages.c.text).where(messages.c.id == message_id)).scalar_one_or_none())

    async def history(self, channel: str, key: str, limit: int = 200) -> list[StoredMessage]:
        """The messages of every conversation with this key, oldest first."""
        return await self._db.run(_history, channel, key, limit)

    async def attachment(self, attachment_id: int) -> tuple[dict[str, Any], str, str] | None:
        """An attachment's row with its conversation's channel and key (for access checks)."""
        def work(conn: Connection) -> tuple[dict[str, Any], str, str] | None:
            row = conn.execute(
                sa.select(attachments, conversations.c.channel.label("conv_channel"),
                          conversations.c.key.label("conv_key"))
                .join(messages, messages.c.id == attachments.c.message_id)
                .join(conversations, conversations.c.id == messages.c.conversation_id)
                .where(attachments.c.id == attachment_id)).one_or_none()
            return None if row is None else (dict(row._mapping), row.conv_channel, row.conv_key)
        return await self._db.run(work)

    async def set_state(self, conversation_id: int, state: str, agent_id: str | None = None) -> None:
        await self._db.run(set_state, self._clock.now(), conversation_id, state, agent_id)

    async def reply_context(self, outbound_id: int) -> dict[str, Any] | None:
        """The inbound message an outbound one answers (or the conversation's latest), as its payload."""
        def work(conn: Connection) -> dict[str, Any] | None:
            row = _REPLY_PAYLOAD(conn, {"b_out": outbound_id}).one_or_none()
            if row is None:
                return None
            if row.in_reply_to is not None:
                return row.payload
            latest = conn.execute(sa.select(messages.c.payload).where(
                messages.c.direction == "in", messages.c.conversation_id == row.conversation_id)
                .order_by(messages.c.id.desc()).limit(1)).one_or_none()
            return latest.payload if latest is not None else None
        return await self._db.run(work)

    async def conversation(self, conversation_id: int) -> tuple[ConversationRef, str] | None:
        """A conversation and its citizen's platform address."""
        def work(conn: Connection) -> tuple[ConversationRef, str] | None:
            row = conn.execute(sa.select(*_CONV_COLS, contacts.c.external_user)
                               .join(contacts, contacts.c.id == conversations.c.contact_id)
                               .where(conversations.c.id == conversation_id)).one_or_none()
            return None if row is None else (_conv(row), row.external_user)
        return await self._db.run(work)

    async def state_of(self, channel: str, key: str) -> str | None:
        """The state of the open conversation with this key, or None."""
        return await self._db.run(lambda conn: conn.execute(sa.select(conversations.c.state).where(
            conversations.c.channel == channel, conversations.c.key == key, _CONVERSATION_IS_OPEN)
        ).scalar_one_or_none())

    async def request_agent(self, conversation_id: int) -> tuple[str, str] | None:
        """Move an open bot conversation to `waiting_for_agent`: (state, key), or None if not open."""
        def work(conn: Connection) -> tuple[str, str] | None:
            row = conn.execute(sa.select(conversations.c.state, conversations.c.key).where(
                conversations.c.id == conversation_id, _CONVERSATION_IS_OPEN)).one_or_none()
            if row is None:
                return None
            if row.state == "bot":
                now = self._clock.now()
                set_state(conn, now, conversation_id, "waiting_for_agent")
                # A legal or enterprise matter among the citizen's last five messages goes to that special
                # seat (Art. 17); "转人工" itself says nothing about the matter.
                recent = conn.execute(sa.select(messages.c.triage).where(
                    messages.c.conversation_id == conversation_id, messages.c.direction == "in")
                    .order_by(messages.c.id.desc()).limit(5)).scalars()
                seat = next((s for s in map(seat_for, recent) if s), None)
                # The wait agents see is counted from this request, not from the conversation's start.
                conn.execute(conversations.update().where(conversations.c.id == conversation_id)
                             .values(handoff_at=now, seat=seat))
                return "waiting_for_agent", row.key
            return row.state, row.key
        return await self._db.run(work)


_SET_STATE = Prepared(conversations.update().where(conversations.c.id == sa.bindparam("b_id")).values(
    state=sa.bindparam("b_state"), agent_id=sa.bindparam("b_agent"), closed_at=sa.bindparam("b_closed")))


def set_state(conn: Connection, now: datetime, conversation_id: int, state: str, agent_id: str | None = None) -> None:
    _SET_STATE(conn, {"b_id": conversation_id, "b_state": state, "b_agent": agent_id,
                              "b_closed": now if state == "closed" else None})


_CONTACT_UPSERT = Prepared(PerDialect(lambda insert: (
    lambda stmt: stmt.on_conflict_do_update(index_elements=["channel", "external_user"],
                                            set_={"last_seen_at": stmt.excluded.last_seen_at})
)(insert(contacts)).returning(contacts.c.id)))
_MESSAGE_INSERT_NEW = Prepared(PerDialect(lambda insert: insert(messages).on_conflict_do_nothing(
    index_elements=["channel", "external_id"]).returning(messages.c.id)))

# Spelled as the open-key index's own predicate, not a bound parameter: SQLite (and PostgreSQL's generic plans)
# use a partial index only when the query's WHERE implies the index's, which a parameter cannot show. With a
# parameter this lookup scanned every conversation ever held: 0.7 ms per message at a few thousand.
_CONVERSATION_IS_OPEN = sa.text("conversations.state != 'closed'")
_OPEN_CONVERSATION = Prepared(sa.select(*_CONV_COLS).where(
    conversations.c.channel == sa.bindparam("b_channel"), conversations.c.key == sa.bindparam("b_key"),
    _CONVERSATION_IS_OPEN))
_CONVERSATION_INSERT = Prepared(conversations.insert().returning(*_CONV_COLS))
_CONVERSATION_FLAG = Prepared(conversations.update().where(conversations.c.id == sa.bindparam("b_id")).values(
    emergency=True))
_MESSAGE_INSERT = Prepared(messages.insert().returning(messages.c.id))
_ATTACHMENT_INSERT = Prepared(attachments.insert().returning(attachments.c.id))
# Attachment kinds whose content is read (OCR, EXIF, video frames): see gateway/media_reading.py.
READABLE_KINDS = frozenset({"image", "video"})
# Every reply mail asks for the mail it answers (its subject and Message-ID): one prepared statement.
_ANSWERED = messages.alias("answered")
_REPLY_PAYLOAD = Prepared(
    sa.select(_ANSWERED.c.payload, messages.c.in_reply_to, messages.c.conversation_id)
    .select_from(messages.outerjoin(_ANSWERED, sa.and_(_ANSWERED.c.id == messages.c.in_reply_to,
                                                        _ANSWERED.c.direction == "in")))
    .where(messages.c.id == sa.bindparam("b_out")))
_OUTBOX_INSERT = Prepared(outbox.insert().returning(outbox.c.id))


def _record_inbound(conn: Connection, now: datetime, msg: InboundMessage, triage: dict[str, Any] | None,
                    emergency: tuple[Sequence[str], str] | None) -> IngestResult:
    channel = msg.channel.value
    conv, new_conversation = _open_conversation(conn, msg, now)
    message_id = _MESSAGE_INSERT_NEW(conn, {
        "conversation_id": conv.id, "direction": "in", "channel": channel, "external_id": msg.external_id,
        "in_reply_to": None, "sender_role": "citizen", "author": None, "kind": msg.kind.value, "text": msg.text,
        "payload": msg.meta or None, "triage": triage, "raw": msg.raw, "received_at": msg.received_at,
        "created_at": now}).scalar_one_or_none()
    if message_id is None:
        existing = conn.execute(
            sa.select(messages.c.id, messages.c.conversation_id)
            .where(messages.c.channel == channel, messages.c.external_id == msg.external_id)).one()
        first_conv = conn.execute(sa.select(*_CONV_COLS).where(conversations.c.id == existing.conversation_id)).one()
        raise _Duplicate(IngestResult(existing.id, _conv(first_conv), duplicate=True))
    for a in msg.attachments:
        attachment_id = _ATTACHMENT_INSERT(conn, _attachment_row(message_id, a, now)).scalar_one()
        if a.kind.value in READABLE_KINDS:
            # Queued with the message: a reading is never lost to a crash between the two writes.
            conn.execute(media_readings.insert().values(
                attachment_id=attachment_id, message_id=message_id, kind=a.kind.value, state="pending",
                attempts=0, created_at=now))
    if emergency is not None:
        lines, reason = emergency
        conn.execute(emergency_referrals.insert().values(
            message_id=message_id, conversation_id=conv.id, lines=list(lines), reason=reason, created_at=now))
        _CONVERSATION_FLAG(conn, {"b_id": conv.id})
        conv = dataclasses.replace(conv, emergency=True)
    return IngestResult(message_id, conv, duplicate=False, new_conversation=new_conversation)


def _open_conversation(conn: Connection, msg: InboundMessage, now: datetime) -> tuple[ConversationRef, bool]:
    """The open conversation for the message's key, or a new one (and the contact) if there is none;
    whether it is new."""
    channel, key = msg.channel.value, msg.conversation_key
    row = _OPEN_CONVERSATION(conn, {"b_channel": channel, "b_key": key}).one_or_none()
    if row is not None:
        return _conv(row), False
    contact_id = _CONTACT_UPSERT(conn, {
        "channel": channel, "external_user": msg.sender, "display_name": msg.sender_name,
        "created_at": now, "last_seen_at": now}).scalar_one()
    row = _CONVERSATION_INSERT(conn, {
        "channel": channel, "key": key, "contact_id": contact_id, "state": "bot", "agent_id": None,
        "emergency": False, "created_at": now, "closed_at": None}).one()
    return _conv(row), True


def record_outbound(conn: Connection, now: datetime, conversation: ConversationRef, recipient: str,
                    in_reply_to: int | None, drafts: Sequence[OutboundDraft], queue: bool) -> list[OutboxItem]:
    ids = [_MESSAGE_INSERT(conn, {
        "conversation_id": conversation.id, "direction": "out", "channel": conversation.channel,
        "external_id": None, "in_reply_to": in_reply_to, "sender_role": d.sender_role, "author": d.author,
        "kind": "text", "text": d.text, "payload": d.payload, "triage": None, "raw": None,
        "received_at": now, "created_at": now}).scalar_one() for d in drafts]
    box_ids: list[int | None] = [None] * len(ids) if not queue else [_OUTBOX_INSERT(conn, {
        "message_id": mid, "channel": conversation.channel, "recipient": recipient,
        "conversation_key": conversation.key, "status": "pending", "attempts": 1, "last_error": None,
        "next_attempt_at": now + OUTBOX_LEASE, "created_at": now, "sent_at": None}).scalar_one() for mid in ids]
    return [OutboxItem(bid, mid, conversation.channel, recipient, conversation.key, 1, d.text, d.sender_role,
                       d.payload) for bid, mid, d in zip(box_ids, ids, drafts)]


def _history(conn: Connection, channel: str, key: str, limit: int) -> list[StoredMessage]:
    conv_ids = sa.select(conversations.c.id).where(conversations.c.channel == channel, conversations.c.key == key)
    rows = conn.execute(sa.select(messages).where(messages.c.conversation_id.in_(conv_ids))
                        .order_by(messages.c.id.desc()).limit(limit)).all()
    atts: dict[int, list[dict[str, Any]]] = {}
    ids = [r.id for r in rows]
    if ids:
        read = {r.attachment_id: r for r in conn.execute(
            sa.select(media_readings).where(media_readings.c.message_id.in_(ids))).all()}
        for a in conn.execute(sa.select(attachments).where(attachments.c.message_id.in_(ids))).all():
            shown = {"id": a.id, "kind": a.kind, "content_type": a.content_type, "size": a.size,
                     "filename": a.filename}
            if a.id in read:
                shown["reading"] = reading_shown(read[a.id])
            elif a.kind == "voice":
                # The platform's speech recognition, when it sent one, is the message's text (WeChat's
                # Recognition); agents are told when a voice message came without it.
                shown["transcript"] = bool((a.meta or {}).get("transcript"))
            atts.setdefault(a.message_id, []).append(shown)
    return [_stored(r, tuple(atts.get(r.id, ()))) for r in reversed(rows)]


def reading_shown(r: sa.Row[Any]) -> dict[str, Any]:
    """What agents and units see of a reading (masked text, confidence, state, facts); no raw text exists."""
    result = dict(r.result or {})
    return {"state": r.state, "text": r.text, "confidence": r.confidence,
            **{k: result[k] for k in ("reason", "location", "duration", "lines") if result.get(k) is not None},
            "poster": bool(result.get("poster_key")), "audio": bool(result.get("audio_key"))}


def _attachment_row(message_id: int, a: Attachment, now: datetime) -> dict[str, Any]:
    return {"message_id": message_id, "kind": a.kind.value, "content_type": a.content_type, "size": a.size,
            "sha256": a.sha256, "storage_key": a.storage_key, "filename": a.filename, "meta": a.meta or None,
            "created_at": now}


def _stored(r: sa.Row[Any], atts: tuple[dict[str, Any], ...] = ()) -> StoredMessage:
    return StoredMessage(r.id, r.conversation_id, r.direction, r.sender_role, r.kind, r.text, r.payload,
                         r.in_reply_to, r.created_at, atts, r.triage)
