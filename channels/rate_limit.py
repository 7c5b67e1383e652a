"""How often one client may write (Art. 11, 32): sliding windows per key, and the client's address.

Counters live in this process (`SlidingWindow`), or in Redis when several gateways share them
(`gateway/cluster.py`'s windows, same `Limiter` interface): callers get a `Windows` factory. A limited
client is told politely and where to call in an emergency; the text is still screened first, so a
limited sender in danger still hears the emergency lines (the caller decides that, see web adapter).
"""

from __future__ import annotations

import functools
import ipaddress
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

from aiohttp import web

# What agents are shown when a client is limited (Art. 32(2): repeated use without good reason).
ART32_WARNING = ("该用户短时间内大量发送消息，可能属于《泰安市12345政务服务便民热线管理办法》第三十二条所列"
                 "“无正当理由反复使用或者长时间占用热线资源”的情形，请劝阻并告知法律后果。")


@dataclass
class SlidingWindow:
    """At most `limit` events per key in the last `seconds`."""

    limit: int
    seconds: float
    _events: dict[str, deque[float]] = field(default_factory=dict)
    _last_sweep: float = 0.0

    def allow(self, key: str, now: float | None = None) -> bool:
        """Count one event for `key` if it fits; False (and nothing counted) when over the limit."""
        now = time.monotonic() if now is None else now
        self._sweep(now)
        q = self._events.setdefault(key, deque())
        while q and now - q[0] > self.seconds:
            q.popleft()
        if len(q) >= self.limit:
            return False
        q.append(now)
        return True

    async def hit(self, key: str) -> bool:
        """`allow` behind the `Limiter` interface (the Redis windows must await)."""
        return self.allow(key)

    async def full(self, key: str) -> bool:
        now = time.monotonic()
        q = self._events.get(key)
        while q and now - q[0] > self.seconds:
            q.popleft()
        return q is not None and len(q) >= self.limit

    async def add(self, key: str) -> None:
        now = time.monotonic()
        self._sweep(now)
        self._events.setdefault(key, deque()).append(now)

    def _sweep(self, now: float) -> None:
        """Forget idle keys now and then: memory stays bounded by the active clients."""
        if now - self._last_sweep < self.seconds:
            return
        self._last_sweep = now
        self._events = {k: q for k, q in self._events.items() if q and now - q[-1] <= self.seconds}


class Limiter(Protocol):
    """At most `limit` events per key per window, counted wherever the implementation keeps them."""

    async def hit(self, key: str) -> bool:
        """Count one event for `key` if it fits; False (and nothing counted) when over the limit."""

    async def full(self, key: str) -> bool:
        """Whether the window is at its limit (nothing counted): for a limit checked before the work and
        counted after it succeeded (e-mail's automatic replies)."""

    async def add(self, key: str) -> None:
        """Count one event whatever the window holds."""


# name (unique per use: the counters' namespace when shared), limit, seconds -> a limiter.
Windows = Callable[[str, int, float], Limiter]


def local_windows(name: str, limit: int, seconds: float) -> Limiter:
    """One process's counters (the single-gateway default)."""
    return SlidingWindow(limit, seconds)


@functools.lru_cache(maxsize=16)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parsed once per configuration, not per request."""
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(addr: str, proxies: Iterable[str]) -> bool:
    try:
        ip = ipaddress.ip_address(addr.strip())
    except ValueError:
        return False
    return any(ip in net for net in _networks(tuple(proxies)))


def came_over_https(request: web.Request, trusted_proxies: Iterable[str]) -> bool:
    """HTTPS to us, or to a trusted proxy that says so in X-Forwarded-Proto."""
    if request.secure:
        return True
    proxies = list(trusted_proxies)
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
    return bool(proxies) and _trusted(request.remote or "", proxies) and forwarded == "https"


def client_address(request: web.Request, trusted_proxies: Iterable[str]) -> str:
    """The client's address: the peer, or — when the peer is one of our proxies — the last address in
    X-Forwarded-For that is not one of them (earlier entries are whatever the client claimed)."""
    proxies = list(trusted_proxies)
    peer = request.remote or ""
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return peer
