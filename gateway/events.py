"""In-process publish/subscribe for live updates (web chat sockets, agent console).

Single-replica default; a Redis-backed hub with the same interface replaces
it when several replicas run. Slow subscribers lose events rather than block
the pipeline: clients reload history from the store when they reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any, AsyncIterator

log = logging.getLogger(__name__)

# The agents' console listens here: new messages, emergencies, hand-overs, abuse warnings.
CONSOLE_TOPIC = "console"


class EventHub:
    def __init__(self, queue_size: int = 256) -> None:
        self._subs: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._queue_size = queue_size

    def publish(self, topic: str, event: dict[str, Any]) -> int:
        """Deliver to every current subscriber of `topic`; returns how many got it."""
        delivered = 0
        for q in tuple(self._subs.get(topic, ())):
            try:
                q.put_nowait(event)
                delivered += 1
            except asyncio.QueueFull:
                log.warning("event subscriber on %s is too slow; event dropped", topic.split(":")[0])
        return delivered

    def subscribers(self, topic: str) -> int:
        """Subscribers in this process."""
        return len(self._subs.get(topic, ()))

    def listened(self, topic: str) -> bool:
        """Whether anyone may want `topic`'s events: publishers skip building an event nobody reads. The
        Redis hub says yes (another replica's subscribers are not counted here)."""
        return bool(self._subs.get(topic))

    @contextlib.contextmanager
    def subscribe(self, topic: str) -> Any:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._queue_size)
        self._subs[topic].add(q)
        try:
            yield q
        finally:
            self._subs[topic].discard(q)
            if not self._subs[topic]:
                del self._subs[topic]


async def iterate(q: "asyncio.Queue[dict[str, Any]]") -> AsyncIterator[dict[str, Any]]:
    while True:
        yield await q.get()
