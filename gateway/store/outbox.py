"""The outbox: replies stored before delivery, retried until the platform accepts them.

A worker claims due rows by pushing their `next_attempt_at` forward by a
lease (with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never claim
the same row); a crash mid-delivery makes the row due again when the lease ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.common import reading, transaction, utcnow
from gateway.store.schema import messages, outbox


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    message_id: int
    channel: str
    recipient: str
    conversation_key: str
    attempts: int
    text: str
    sender_role: str
    payload: dict[str, Any] | None


class OutboxStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(self, message_ids: Sequence[int] | None = None, limit: int = 50,
                    lease: timedelta = timedelta(seconds=60)) -> list[OutboxItem]:
        """Claim due items (or the given messages' items, if still pending) for one delivery attempt."""
        now = utcnow()
        query = (sa.select(outbox.c.id, outbox.c.message_id, outbox.c.channel, outbox.c.recipient,
                           outbox.c.conversation_key, outbox.c.attempts, messages.c.text, messages.c.sender_role,
                           messages.c.payload)
                 .join(messages, messages.c.id == outbox.c.message_id)
                 .where(outbox.c.status == "pending"))
        if message_ids is not None:
            query = query.where(outbox.c.message_id.in_(message_ids))
        else:
            query = query.where(outbox.c.next_attempt_at <= now)
        query = query.order_by(outbox.c.id).limit(limit)
        async with transaction(self._engine) as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=outbox)
            rows = (await conn.execute(query)).all()
            if rows:
                await conn.execute(outbox.update().where(outbox.c.id.in_([r.id for r in rows]))
                                   .values(next_attempt_at=now + lease, attempts=outbox.c.attempts + 1))
        return [OutboxItem(r.id, r.message_id, r.channel, r.recipient, r.conversation_key, r.attempts + 1, r.text,
                           r.sender_role, r.payload) for r in rows]

    async def mark_sent(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        async with transaction(self._engine) as conn:
            await conn.execute(outbox.update().where(outbox.c.id.in_(ids))
                               .values(status="sent", sent_at=utcnow(), last_error=None))

    async def mark_retry(self, item_id: int, error: str, next_attempt_at: datetime) -> None:
        async with transaction(self._engine) as conn:
            await conn.execute(outbox.update().where(outbox.c.id == item_id)
                               .values(last_error=error[:1000], next_attempt_at=next_attempt_at))

    async def mark_failed(self, item_id: int, error: str) -> None:
        async with transaction(self._engine) as conn:
            await conn.execute(outbox.update().where(outbox.c.id == item_id)
                               .values(status="failed", last_error=error[:1000]))

    async def counts(self) -> dict[str, int]:
        async with reading(self._engine) as conn:
            rows = (await conn.execute(sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status))).all()
        return {status: n for status, n in rows}
