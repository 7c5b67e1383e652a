"""The knowledge base as the gateway serves it: the store plus a search index kept current.

The index is rebuilt after local edits at once; other replicas are told through
`notify` (the cluster's event, gateway/cluster.py) and also poll the newest
`updated_at` every few seconds, which catches edits no gateway made (`hotline kb import`).
Building is CPU work (jieba): it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Callable, Sequence

from gateway.store.kb import KbChoices, KbStore, SaveResult
from nlu.kb import KbEntry
from gateway import kb_answers
from gateway.kb_answers import KbReply
from nlu.kb_decision import DecisionThresholds, KbDecision, decide
from nlu.kb_search import Analyzer, KbIndex, SearchHit
from routing.clock import Clock

log = logging.getLogger(__name__)


# The decision looks at the top five entries.
DECISION_HITS = 5
# The console lists suggestions beside the conversation; below this an entry is more distraction than help.
CONSOLE_MIN_CONFIDENCE = 0.2


class KbService:
    def __init__(self, store: KbStore, analyzer: Analyzer, clock: Clock, thresholds: DecisionThresholds,
                 choices: KbChoices | None = None, notify: Callable[[], None] | None = None) -> None:
        self._store = store
        self._notify = notify
        self.choices = choices
        self._clock = clock
        self._analyzer = analyzer
        self.thresholds = thresholds
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

    def decide(self, query: str, max_choices: int | None = None) -> KbDecision:
        return decide(self._index.search(query, DECISION_HITS), self.thresholds, max_choices)

    def reply(self, query: str, channel: str) -> KbReply:
        """Answer, 「您是想问」 with the close entries, or no match: worded for the channel."""
        return self._reply(self._index, self._index.search(query, DECISION_HITS), channel)

    def search_and_reply(self, query: str, k: int, channel: str) -> tuple[list[tuple[KbEntry, SearchHit]], KbReply]:
        """The ranking the KB API shows and the reply the bot gives, from one search when k <= 5."""
        index = self._index
        top = index.search(query, DECISION_HITS)
        hits = top[:k] if k <= DECISION_HITS else index.search(query, k)
        return [(index.entries[h.key], h) for h in hits], self._reply(index, top, channel)  # type: ignore[misc]

    def _reply(self, index: KbIndex, hits: Sequence[SearchHit], channel: str) -> KbReply:
        decision = decide(hits, self.thresholds, kb_answers.PHONE_CHOICES if channel == "ivr" else None)
        entries = [index.entries[h.key] for h in decision.hits]
        if decision.outcome == "answer":
            return kb_answers.answer(entries[0])  # type: ignore[arg-type]
        if decision.outcome == "choose":
            return kb_answers.choose(entries, channel)  # type: ignore[arg-type]
        return kb_answers.no_match()

    def entry(self, key: str) -> KbEntry | None:
        """A servable entry by key (a choice offered a while ago may have been archived since)."""
        return self._index.entries.get(key)  # type: ignore[return-value]

    def suggestions(self, query: str) -> list[tuple[KbEntry, SearchHit]]:
        """For the agents' console: the entries the bot would answer with or offer, nothing unrelated."""
        decision = self.decide(query)
        index = self._index
        # An agent reads the whole list: a weak lexical match (路灯坏了 → 社保卡坏了) is noise there.
        return [(index.entries[h.key], h) for h in decision.hits  # type: ignore[misc]
                if decision.outcome == "answer" or h.confidence >= CONSOLE_MIN_CONFIDENCE]

    async def entries(self, status: str | None = None) -> list[KbEntry]:
        return await self._store.all(status)

    async def get(self, key: str) -> KbEntry | None:
        return await self._store.get(key)

    async def history(self, key: str) -> list[dict[str, object]]:
        return await self._store.history(key)

    async def save(self, entries: Sequence[KbEntry], author: str) -> list[SaveResult]:
        results = await self._store.save_many(list(entries), author)
        if any(r.changed for r in results):
            await self.changed()
        return results

    async def changed(self) -> None:
        """After an edit here: this index at once, the other replicas told."""
        await self.refresh(force=True)
        if self._notify is not None:
            self._notify()
