"""The knowledge base as the gateway serves it: the store plus a search index kept current.

The index is rebuilt after local edits at once, and when another replica
changed the KB (seen by polling the newest `updated_at`, every few seconds).
Building is CPU work (jieba): it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Sequence

from gateway.store.kb import KbStore, SaveResult
from nlu.kb import KbEntry
from nlu.kb_search import DEFAULT_THRESHOLD, Analyzer, KbIndex, SearchHit
from routing.clock import Clock

log = logging.getLogger(__name__)


class KbService:
    def __init__(self, store: KbStore, analyzer: Analyzer, clock: Clock, threshold: float = DEFAULT_THRESHOLD) -> None:
        self._store = store
        self._clock = clock
        self._analyzer = analyzer
        self.threshold = threshold
        self._index = KbIndex([], analyzer)
        self._seen: datetime | None = None
        self._lock = asyncio.Lock()

    async def refresh(self, force: bool = False) -> None:
        async with self._lock:
            last = await self._store.last_change()
            if not force and last == self._seen and len(self._index):
                return
            today = self._clock.today()
            entries = [e for e in await self._store.all() if e.servable(today)]
            self._index = await asyncio.to_thread(KbIndex, entries, self._analyzer)
            self._seen = last
            log.info("knowledge base index: %d servable entries", len(entries))

    async def run_refresher(self, every_seconds: float = 10.0) -> None:
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await self.refresh()
            except Exception:  # a failed refresh keeps the old index; try again next time
                log.exception("knowledge base refresh failed")

    def search(self, query: str, k: int = 5) -> list[tuple[KbEntry, SearchHit]]:
        index = self._index
        return [(index.entries[h.key], h) for h in index.search(query, k)]  # type: ignore[misc]

    def best_answer(self, query: str) -> tuple[KbEntry, SearchHit] | None:
        """The entry to answer with, or None when there is no good match."""
        hits = self.search(query, 1)
        if hits and hits[0][1].confidence >= self.threshold:
            return hits[0]
        return None

    async def entries(self, status: str | None = None) -> list[KbEntry]:
        return await self._store.all(status)

    async def get(self, key: str) -> KbEntry | None:
        return await self._store.get(key)

    async def history(self, key: str) -> list[dict[str, object]]:
        return await self._store.history(key)

    async def save(self, entries: Sequence[KbEntry], author: str) -> list[SaveResult]:
        results = await self._store.save_many(list(entries), author)
        if any(r.changed for r in results):
            await self.refresh(force=True)
        return results
