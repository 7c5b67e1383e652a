"""Delivering queued replies through the channel adapters, with retries and back-off.

The pipeline asks for an immediate attempt right after storing a reply; a
background loop (started in the app's cleanup context) retries what failed,
and picks up what another replica or a crash left behind.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Mapping, Sequence

from channels.base import Channel, ChannelAdapter, OutboundMessage
from channels.registry import Capabilities
from channels.errors import DeliveryError
from gateway.metrics import Metrics
from gateway.settings import OutboxSettings
from gateway.store.outbox import OutboxItem, OutboxStore
from gateway.errors import StoreUnavailable

log = logging.getLogger(__name__)


class OutboxDispatcher:
    def __init__(self, store: OutboxStore, adapters: Mapping[Channel, ChannelAdapter],
                 capabilities: Mapping[Channel, Capabilities], settings: OutboxSettings,
                 metrics: Metrics | None = None) -> None:
        self._capabilities = dict(capabilities)
        self._metrics = metrics
        self._store = store
        self._adapters = dict(adapters)
        self._settings = settings
        self._wake = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self._stopping = False
        # Items this process leased and has not tried yet: released (due at once for another replica)
        # when it stops, instead of waiting out the lease.
        self._untried: set[int] = set()

    def register(self, adapter: ChannelAdapter) -> None:
        self._adapters[adapter.channel] = adapter

    def _in_background(self, channel: Channel) -> bool:
        found = self._capabilities.get(channel)
        return found is not None and found.deliver_in_background

    def queues(self, channel: Channel) -> bool:
        """Whether replies on this channel need the outbox (a platform must accept them)."""
        found = self._capabilities.get(channel)
        return found is None or not found.delivered_on_store

    async def deliver_now(self, items: Sequence[OutboxItem]) -> None:
        """First attempt for items the caller has just stored (and so holds the lease of).

        Channels whose platform is slow to accept (an SMTP relay) get the attempt in the background:
        the citizen's own transaction (the SMTP 250) need not wait for it, and the stored, leased
        row guarantees a retry if the attempt never finishes."""
        if not items:
            return
        now = [i for i in items if not self._in_background(Channel(i.channel))]
        later = [i for i in items if i not in now]
        if later:
            task = asyncio.create_task(self._deliver(later))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        if now:
            await self._deliver(now)

    async def run_once(self) -> int:
        items = await self._store.claim(self._settings.batch_size)
        await self._deliver(items)
        return len(items)

    async def run_forever(self) -> None:
        while not self._stopping:
            try:
                n = await self.run_once()
            except StoreUnavailable as exc:
                log.warning("outbox: store unavailable, will retry: %s", exc.reason)
                n = 0
            if n < self._settings.batch_size:
                try:
                    await asyncio.wait_for(self._wake.wait(), self._settings.poll_seconds)
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()

    async def stop(self, worker: "asyncio.Task[None]", grace_seconds: float = 5.0) -> None:
        """Graceful stop: the worker finishes its batch, background attempts get `grace_seconds`, then
        what this process leased but never tried is released for the other replicas at once. An item
        whose attempt was cut off keeps its lease: the platform may have it, and a second send after the
        lease ends is safer than a second send now."""
        self._stopping = True
        self._wake.set()
        pending = [worker, *self._background]
        _done, cut = await asyncio.wait(pending, timeout=grace_seconds)
        for task in cut:
            task.cancel()
        await asyncio.gather(*cut, return_exceptions=True)
        if self._untried:
            try:
                released = await self._store.release(sorted(self._untried))
            except StoreUnavailable as exc:
                # Stopping while the database is away: the leases run out by themselves, and the rest of the
                # shutdown must still happen.
                log.warning("outbox: %d leased items not released (%s); their leases expire",
                            len(self._untried), exc)
            else:
                log.info("outbox: %d leased items released for other replicas", released)
            self._untried.clear()

    async def _deliver(self, items: Sequence[OutboxItem]) -> None:
        sent: list[int] = []
        self._untried.update(i.id for i in items if i.id is not None)
        try:
            await self._attempt(items, sent)
        except asyncio.CancelledError:
            # Stopping mid-batch: what went out is marked sent, so no replica sends it again.
            await asyncio.shield(self._store.mark_sent(sent))
            raise
        await self._store.mark_sent(sent)

    async def _attempt(self, items: Sequence[OutboxItem], sent: list[int]) -> None:
        for item in items:
            if self._stopping and item.id is not None:
                continue  # left for another replica (released by `stop`)
            self._untried.discard(item.id)  # type: ignore[arg-type]
            adapter = self._adapters.get(Channel(item.channel))
            if adapter is None:
                await self._retry_or_fail(item, "no adapter for channel", permanent=False)
                continue
            payload = item.payload or {}
            out = OutboundMessage(channel=Channel(item.channel), conversation_key=item.conversation_key,
                                  recipient=item.recipient, text=item.text, sender_role=item.sender_role,
                                  buttons=tuple(payload.get("buttons", ())),
                                  meta={"message_id": item.message_id, **payload})
            try:
                await adapter.deliver(out)
            except DeliveryError as exc:
                await self._retry_or_fail(item, exc.reason, exc.permanent, exc.retry_after)
                continue
            except Exception as exc:  # an adapter bug must not stop the other deliveries
                log.exception("outbox: adapter %s crashed", item.channel)
                await self._retry_or_fail(item, f"{type(exc).__name__}: {exc}", permanent=False)
                continue
            if item.id is not None:
                sent.append(item.id)
            if self._metrics is not None:
                self._metrics.messages.labels(item.channel, "out").inc()

    async def _retry_or_fail(self, item: OutboxItem, reason: str, permanent: bool,
                             retry_after: float | None = None) -> None:
        if self._metrics is not None:
            given_up = permanent or (item.id is not None and item.attempts >= self._settings.max_attempts)
            self._metrics.delivery_failures.labels(item.channel, "true" if given_up else "false").inc()
        if item.id is None:
            log.warning("outbox: notifying %s of stored message %d failed: %s", item.channel, item.message_id, reason)
            return
        if permanent or item.attempts >= self._settings.max_attempts:
            log.error("outbox: message %d to %s failed for good after %d attempts: %s",
                      item.message_id, item.channel, item.attempts, reason)
            await self._store.mark_failed(item.id, reason)
            return
        delay = min(self._settings.base_backoff_seconds * 2 ** (item.attempts - 1), self._settings.max_backoff_seconds)
        if retry_after is not None:
            delay = max(delay, retry_after)  # the platform said when (Telegram's 429 retry_after)
        log.warning("outbox: message %d to %s failed (attempt %d), retry in %.0fs: %s",
                    item.message_id, item.channel, item.attempts, delay, reason)
        await self._store.mark_retry(item.id, reason, timedelta(seconds=delay))
