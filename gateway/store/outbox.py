"""The outbox: replies stored before delivery, retried until the platform accepts them.

Rows are leased by pushing `next_attempt_at` forward: the pipeline leases
the rows it has just written for its immediate attempt, and the worker claims
due rows (with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never take
the same row). A crash mid-delivery makes the row due again when the lease ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.store.prepared import Prepared

from routing.clock import Clock
from gateway.store.database import Database
from gateway.store.schema import messages, outbox

OUTBOX_LEASE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int | None  # None: not queued (the channel's replies are delivered by being stored)
    message_id: int
    channel: str
    recipient: str
    conversation_key: str
    attempts: int
    text: str
    sender_role: str
    payload: dict[str, Any] | None


def _claim(conn: Connection, now: datetime, limit: int, lease: timedelta) -> list[OutboxItem]:
    query = (sa.select(outbox.c.id, outbox.c.message_id, outbox.c.channel, outbox.c.recipient,
                       outbox.c.conversation_key, outbox.c.attempts, messages.c.text, messages.c.sender_role,
                       messages.c.payload)
             .join(messages, messages.c.id == outbox.c.message_id)
             .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= now)
             .order_by(outbox.c.id).limit(limit))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=outbox)
    rows = conn.execute(query).all()
    if rows:
        conn.execute(outbox.update().where(outbox.c.id.in_([r.id for r in rows]))
                     .values(next_attempt_at=now + lease, attempts=outbox.c.attempts + 1))
    return [OutboxItem(r.id, r.message_id, r.channel, r.recipient, r.conversation_key, r.attempts + 1, r.text,
                       r.sender_role, r.payload) for r in rows]


_MARK_SENT = outbox.update().where(outbox.c.id == sa.bindparam("b_id")).values(
    status="sent", sent_at=sa.bindparam("b_now"), last_error=None)
_MARK_ONE_SENT = Prepared(_MARK_SENT)


def _mark_sent(conn: Connection, now: datetime, ids: Sequence[int]) -> None:
    if len(ids) == 1:  # the reply just delivered: the prepared statement
        _MARK_ONE_SENT(conn, {"b_id": ids[0], "b_now": now})
    elif ids:  # a batch of the background outbox: one executemany
        conn.execute(_MARK_SENT, [{"b_id": i, "b_now": now} for i in ids])


def _mark_retry(conn: Connection, item_id: int, error: str, next_attempt_at: datetime) -> None:
    conn.execute(outbox.update().where(outbox.c.id == item_id)
                 .values(last_error=error[:1000], next_attempt_at=next_attempt_at))


def _mark_failed(conn: Connection, item_id: int, error: str) -> None:
    conn.execute(outbox.update().where(outbox.c.id == item_id).values(status="failed", last_error=error[:1000]))


def _counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)).all()
    return {status: n for status, n in rows}


class OutboxStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def claim(self, limit: int = 50, lease: timedelta = OUTBOX_LEASE) -> list[OutboxItem]:
        """Claim due items for one delivery attempt each."""
        return await self._db.run(_claim, self._clock.now(), limit, lease)

    async def mark_sent(self, ids: Sequence[int]) -> None:
        if ids:
            await self._db.run(_mark_sent, self._clock.now(), list(ids))

    async def mark_retry(self, item_id: int, error: str, after: timedelta) -> None:
        """Retry the item `after` from now (the store's clock, the one `claim` compares with)."""
        await self._db.run(_mark_retry, item_id, error, self._clock.now() + after)

    async def release(self, ids: Sequence[int]) -> int:
        """Leased items due again now (a stopping replica never tried them); the count."""
        now = self._clock.now()

        def work(conn: Connection) -> int:
            return conn.execute(outbox.update().where(outbox.c.id.in_(list(ids)), outbox.c.status == "pending")
                                .values(next_attempt_at=now, attempts=sa.func.greatest(outbox.c.attempts - 1, 0)
                                        if conn.dialect.name == "postgresql"
                                        else sa.func.max(outbox.c.attempts - 1, 0))).rowcount or 0
        return await self._db.run(work)

    async def mark_failed(self, item_id: int, error: str) -> None:
        await self._db.run(_mark_failed, item_id, error)

    async def redrive_failed(self, channel: str | None = None) -> int:
        """Failed items back to pending, due now, with a fresh attempt count: after a long outage of a
        relay or a platform, operators send what gave up (the worker picks them up). The count."""
        now = self._clock.now()

        def work(conn: Connection) -> int:
            query = outbox.update().where(outbox.c.status == "failed")
            if channel is not None:
                query = query.where(outbox.c.channel == channel)
            return conn.execute(query.values(status="pending", attempts=0, next_attempt_at=now)).rowcount or 0
        return await self._db.run(work)

    async def counts(self) -> dict[str, int]:
        return await self._db.run(_counts)
