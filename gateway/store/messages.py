"""Contacts, conversations, messages, attachments and emergency referrals.

`record_inbound` is the pipeline's durable step: one transaction stores the
contact, the open conversation, the message, its attachments and (for an
emergency) the referral, before the platform is acknowledged. The unique
`(channel, external_id)` makes a re-delivery a no-op that returns the first
message's id, so the caller can answer it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from channels.base import Attachment, InboundMessage
from gateway.store.common import reading, transaction, upsert, utcnow
from gateway.store.schema import attachments, contacts, conversations, emergency_referrals, messages, outbox


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
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record_inbound(self, msg: InboundMessage, triage: dict[str, Any] | None,
                             emergency: tuple[Sequence[str], str] | None = None) -> IngestResult:
        """Store one inbound message (and its referral if `emergency` = (lines, reason))."""
        for attempt in range(3):
            try:
                async with transaction(self._engine) as conn:
                    result = await self._record_inbound(conn, msg, triage, emergency)
                    if result.duplicate:
                        raise _Duplicate(result)  # rolls back the contact/conversation touches
                    return result
            except _Duplicate as dup:
                return dup.result
            except IntegrityError:
                # A concurrent first message created the conversation or the
                # same delivery arrived twice at once: the retry sees it.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _record_inbound(self, conn: AsyncConnection, msg: InboundMessage, triage: dict[str, Any] | None,
                              emergency: tuple[Sequence[str], str] | None) -> IngestResult:
        now = utcnow()
        channel = msg.channel.value
        ins = upsert(conn, contacts).values(
            channel=channel, external_user=msg.sender, display_name=msg.sender_name, created_at=now, last_seen_at=now)
        contact_id = (await conn.execute(
            ins.on_conflict_do_update(index_elements=["channel", "external_user"],
                                      set_={"last_seen_at": now}).returning(contacts.c.id))).scalar_one()
        conv = await self._open_conversation(conn, channel, msg.conversation_key, contact_id, now)
        message_id = (await conn.execute(
            upsert(conn, messages).values(
                conversation_id=conv.id, direction="in", channel=channel, external_id=msg.external_id,
                sender_role="citizen", kind=msg.kind.value, text=msg.text, triage=triage, raw=msg.raw,
                payload=msg.meta or None, received_at=msg.received_at, created_at=now,
            ).on_conflict_do_nothing(index_elements=["channel", "external_id"]).returning(messages.c.id)
        )).scalar_one_or_none()
        if message_id is None:
            existing = (await conn.execute(
                sa.select(messages.c.id, messages.c.conversation_id)
                .where(messages.c.channel == channel, messages.c.external_id == msg.external_id))).one()
            first_conv = (await conn.execute(
                sa.select(*_CONV_COLS).where(conversations.c.id == existing.conversation_id))).one()
            return IngestResult(existing.id, _conv(first_conv), duplicate=True)
        if msg.attachments:
            await conn.execute(attachments.insert(), [_attachment_row(message_id, a, now) for a in msg.attachments])
        update: dict[str, Any] = {"last_message_at": now}
        if emergency is not None:
            lines, reason = emergency
            await conn.execute(emergency_referrals.insert().values(
                message_id=message_id, conversation_id=conv.id, lines=list(lines), reason=reason, created_at=now))
            update["emergency"] = True
            conv = ConversationRef(conv.id, conv.channel, conv.key, conv.contact_id, conv.state, conv.agent_id, True)
        await conn.execute(conversations.update().where(conversations.c.id == conv.id).values(**update))
        return IngestResult(message_id, conv, duplicate=False)

    async def _open_conversation(self, conn: AsyncConnection, channel: str, key: str, contact_id: int,
                                 now: datetime) -> ConversationRef:
        row = (await conn.execute(
            sa.select(*_CONV_COLS).where(conversations.c.channel == channel, conversations.c.key == key,
                                         conversations.c.state != "closed"))).one_or_none()
        if row is None:
            row = (await conn.execute(conversations.insert().values(
                channel=channel, key=key, contact_id=contact_id, state="bot", emergency=False,
                created_at=now, last_message_at=now).returning(*_CONV_COLS))).one()
        return _conv(row)

    async def record_outbound(self, conversation: ConversationRef, recipient: str, in_reply_to: int | None,
                              drafts: Sequence[OutboundDraft]) -> list[int]:
        """Store replies and queue them in the outbox in one transaction; returns message ids."""
        if not drafts:
            return []
        now = utcnow()
        async with transaction(self._engine) as conn:
            ids = []
            for d in drafts:
                ids.append((await conn.execute(messages.insert().values(
                    conversation_id=conversation.id, direction="out", channel=conversation.channel,
                    in_reply_to=in_reply_to, sender_role=d.sender_role, author=d.author, kind="text", text=d.text,
                    payload=d.payload, received_at=now, created_at=now).returning(messages.c.id))).scalar_one())
            await conn.execute(outbox.insert(), [
                {"message_id": mid, "channel": conversation.channel, "recipient": recipient,
                 "conversation_key": conversation.key, "status": "pending", "attempts": 0,
                 "next_attempt_at": now, "created_at": now} for mid in ids])
        return ids

    async def replies_to(self, message_id: int) -> list[StoredMessage]:
        """The stored answers to an inbound message: what a re-delivery gets back."""
        async with reading(self._engine) as conn:
            rows = (await conn.execute(sa.select(messages).where(messages.c.in_reply_to == message_id)
                                       .order_by(messages.c.id))).all()
        return [_stored(r) for r in rows]

    async def history(self, channel: str, key: str, limit: int = 200) -> list[StoredMessage]:
        """The messages of the latest conversation with this key, oldest first."""
        async with reading(self._engine) as conn:
            conv_ids = sa.select(conversations.c.id).where(conversations.c.channel == channel,
                                                           conversations.c.key == key)
            rows = (await conn.execute(sa.select(messages).where(messages.c.conversation_id.in_(conv_ids))
                                       .order_by(messages.c.id.desc()).limit(limit))).all()
            ids = [r.id for r in rows]
            atts: dict[int, list[dict[str, Any]]] = {}
            if ids:
                for a in (await conn.execute(sa.select(attachments).where(attachments.c.message_id.in_(ids)))).all():
                    atts.setdefault(a.message_id, []).append(
                        {"id": a.id, "kind": a.kind, "content_type": a.content_type, "size": a.size,
                         "filename": a.filename})
        return [_stored(r, tuple(atts.get(r.id, ()))) for r in reversed(rows)]

    async def attachment(self, attachment_id: int) -> tuple[dict[str, Any], str, str] | None:
        """An attachment's row with its conversation's channel and key (for access checks)."""
        async with reading(self._engine) as conn:
            row = (await conn.execute(
                sa.select(attachments, conversations.c.channel.label("conv_channel"),
                          conversations.c.key.label("conv_key"))
                .join(messages, messages.c.id == attachments.c.message_id)
                .join(conversations, conversations.c.id == messages.c.conversation_id)
                .where(attachments.c.id == attachment_id))).one_or_none()
        if row is None:
            return None
        return dict(row._mapping), row.conv_channel, row.conv_key

    async def set_state(self, conversation_id: int, state: str, agent_id: str | None = None) -> None:
        values: dict[str, Any] = {"state": state, "agent_id": agent_id}
        if state == "closed":
            values["closed_at"] = utcnow()
        async with transaction(self._engine) as conn:
            await conn.execute(conversations.update().where(conversations.c.id == conversation_id).values(**values))

    async def message_count(self) -> int:
        async with reading(self._engine) as conn:
            return (await conn.execute(sa.select(sa.func.count()).select_from(messages))).scalar_one()


def _attachment_row(message_id: int, a: Attachment, now: datetime) -> dict[str, Any]:
    return {"message_id": message_id, "kind": a.kind.value, "content_type": a.content_type, "size": a.size,
            "sha256": a.sha256, "storage_key": a.storage_key, "filename": a.filename, "meta": a.meta or None,
            "created_at": now}


def _stored(r: sa.Row[Any], atts: tuple[dict[str, Any], ...] = ()) -> StoredMessage:
    return StoredMessage(r.id, r.conversation_id, r.direction, r.sender_role, r.kind, r.text, r.payload,
                         r.in_reply_to, r.created_at, atts)
