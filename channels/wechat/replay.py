"""Which signed WeChat queries were seen lately, and with which body.

A plaintext push's signature covers only the token, timestamp and nonce, not the body: whoever captured
a query could send it again with a body of their own. Within the timestamp window the same query with
the same body is WeChat retrying (answered from the store); with another body it is refused.

The window keeps its entries in the order they were seen, so forgetting the expired ones costs only
those: the previous rebuild of the whole map whenever it held 10,000 queries cost every push under
sustained load (16 a second is enough) a pass over all of them (issue 16's WeChat benchmark: 6% of the
gateway's time). Memory stays bounded by `capacity`; past it the oldest entries go first.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from typing import Callable

log = logging.getLogger(__name__)

Query = tuple[str, str, str]  # app id, timestamp, nonce


class NonceWindow:
    def __init__(self, seconds: float, capacity: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._capacity = capacity
        self._clock = clock
        self._seen: OrderedDict[Query, tuple[float, bytes]] = OrderedDict()
        self._over_capacity_told = False

    def __len__(self) -> int:
        return len(self._seen)

    def admit(self, query: Query, body: bytes) -> bool:
        """False when `query` was seen within the window with another body (a replay); otherwise it is
        remembered with this body."""
        now = self._clock()
        self._forget_before(now - self._seconds)
        digest = hashlib.sha256(body).digest()
        seen = self._seen.get(query)
        if seen is not None and seen[1] != digest:
            return False
        self._seen[query] = (now, digest)
        self._seen.move_to_end(query)
        if len(self._seen) > self._capacity:
            if not self._over_capacity_told:
                self._over_capacity_told = True
                log.warning("wechat: more than %d signed queries within %.0f s; the oldest are forgotten early",
                            self._capacity, self._seconds)
            self._seen.popitem(last=False)
        return True

    def _forget_before(self, horizon: float) -> None:
        seen = self._seen
        while seen:
            query, (at, _) = next(iter(seen.items()))
            if at >= horizon:
                return
            del seen[query]
