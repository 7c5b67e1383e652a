"""Several gateways on one PostgreSQL: what every replica must see goes through Redis.

The database stays the only record (messages, takeover state, outbox, KB).
Redis carries what is not a record: live events (the console's list, the web
chat's "a reply is stored" notices, KB and block-list changes) over one pub/sub
channel, and the abuse counters as sliding windows. Pub/sub is at most once, as
the in-process hub always was: a client that misses an event reloads from the
store when it reconnects. Why Redis and not PostgreSQL's LISTEN/NOTIFY:
docs/architecture.md, "Replicas".

Without `[cluster] redis_url` none of this runs: one process, in-memory hub and
counters, no Redis needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import fcntl
import json
import logging
import os
import socket
import uuid
from pathlib import Path
from typing import IO, Any, Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from channels.rate_limit import Limiter
from gateway.errors import ConfigError
from gateway.events import EventHub

log = logging.getLogger(__name__)

# Replicas tell each other what changed in state they keep in memory: {"type": "kb_changed"},
# {"type": "contacts_changed"}.
CLUSTER_TOPIC = "cluster"

# One sliding window per key: a sorted set of event times (Redis's own clock, so replicas whose clocks
# differ count alike), trimmed to the window, added to only while under the limit. Atomic: a script.
_WINDOW_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return 1
"""


_FULL_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
return redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) and 1 or 0
"""
_ADD_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) / 1000))
return 1
"""


def redacted(url: str) -> str:
    """The URL for logs: a password never appears."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def instance_name(configured: str) -> str:
    return configured or f"{socket.gethostname()}:{os.getpid()}"


class RedisWindow:
    """`channels.rate_limit.Limiter` over Redis: every gateway counts into the same window.

    Redis away: the event is allowed (and a warning logged) — the hotline keeps answering; abuse limits
    are a protection, not a condition of service."""

    def __init__(self, redis: "aioredis.Redis", prefix: str, limit: int, seconds: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self._limit = limit
        self._window_us = int(seconds * 1_000_000)
        self._script = redis.register_script(_WINDOW_SCRIPT)
        self._full = redis.register_script(_FULL_SCRIPT)
        self._add = redis.register_script(_ADD_SCRIPT)

    def _key(self, key: str) -> str:
        """What Redis is given: a digest of the client's key (a web-chat session opens its history; an address
        names a citizen), never the key itself."""
        return self._prefix + hashlib.sha256(key.encode()).hexdigest()[:32]

    async def full(self, key: str) -> bool:
        try:
            return bool(await self._full(keys=[self._key(key)], args=[self._window_us, self._limit]))
        except (RedisError, OSError) as exc:
            log.warning("rate window %s: Redis unavailable, allowing: %s", self._prefix, type(exc).__name__)
            return False

    async def add(self, key: str) -> None:
        try:
            await self._add(keys=[self._key(key)], args=[self._window_us, uuid.uuid4().hex])
        except (RedisError, OSError) as exc:
            log.warning("rate window %s: Redis unavailable, not counted: %s", self._prefix, type(exc).__name__)

    async def hit(self, key: str) -> bool:
        try:
            return bool(await self._script(keys=[self._key(key)],
                                           args=[self._window_us, self._limit, uuid.uuid4().hex]))
        except (RedisError, OSError) as exc:
            log.warning("rate window %s: Redis unavailable, allowing: %s", self._prefix, type(exc).__name__)
            return True


class RedisHub(EventHub):
    """The in-process hub, plus every event published to the other replicas and theirs delivered here.

    `publish` stays synchronous (callers are in the middle of a request): local subscribers get the event
    at once, and a writer task sends it on. Events from this replica come back from Redis and are dropped
    by their origin id."""

    def __init__(self, redis: "aioredis.Redis", listener: "aioredis.Redis", origin: str, channel: str,
                 queue_size: int = 256, outgoing: int = 10_000) -> None:
        super().__init__(queue_size)
        self.channel = channel
        self._redis = redis
        self._listener = listener
        self.origin = origin
        self._out: asyncio.Queue[str] = asyncio.Queue(outgoing)
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = asyncio.Event()

    def listened(self, topic: str) -> bool:
        return True

    def publish(self, topic: str, event: dict[str, Any]) -> int:
        delivered = super().publish(topic, event)
        try:
            self._out.put_nowait(json.dumps({"o": self.origin, "t": topic, "e": event}, ensure_ascii=False))
        except asyncio.QueueFull:
            log.warning("cluster events: Redis is not keeping up; event on %s not sent to other replicas",
                        topic.split(":")[0])
        return delivered

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._read(), name="cluster-events-in"),
                       asyncio.create_task(self._write(), name="cluster-events-out")]
        # Subscribed before the gateway serves, so no event after start is missed.
        await asyncio.wait_for(self.connected.wait(), 10)

    async def stop(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._drain(), 2)  # what this replica published before stopping
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _drain(self) -> None:
        while not self._out.empty():
            await asyncio.sleep(0.02)

    async def _write(self) -> None:
        while True:
            data = await self._out.get()
            try:
                await self._redis.publish(self.channel, data)
            except (RedisError, OSError) as exc:
                # Notifications only: the record is in the database, clients reload it on reconnect.
                log.warning("cluster events: publish failed, event dropped: %s", type(exc).__name__)
                await asyncio.sleep(0.5)

    async def _read(self) -> None:
        while True:
            pubsub = self._listener.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.connected.set()
                async for message in pubsub.listen():
                    self._receive(message.get("data"))
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("cluster events: subscription lost, reconnecting: %s", type(exc).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(1)

    def _receive(self, data: Any) -> None:
        try:
            envelope = json.loads(data)
            origin, topic, event = envelope["o"], envelope["t"], envelope["e"]
        except (TypeError, ValueError, KeyError):
            log.warning("cluster events: malformed message on %s ignored", self.channel)
            return
        if origin != self.origin and isinstance(topic, str) and isinstance(event, dict):
            EventHub.publish(self, topic, event)


class TurnClaims:
    """Which gateway is answering a message (by its channel and external id, claimed before it is
    stored). One process (the default): nothing to share — every claim is "new", and a re-delivery is
    answered from the store as it always was."""

    async def claim(self, key: str) -> str:
        """"new" (nobody had it: now this gateway), "mine" (this gateway already has it), "running" (a
        live gateway has it: wait for its replies) or "taken" (its gateway died: now this one has it)."""
        return "new"

    async def finish(self, key: str) -> None:
        return None


# A claim names its gateway; a gateway proves it lives by a key it renews every second.
_CLAIM_SCRIPT = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return 'mine' end
if holder and redis.call('EXISTS', ARGV[3] .. holder) == 1 then return 'running' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if holder then return 'taken' end
return 'new'
"""
_FINISH_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


class RedisTurnClaims(TurnClaims):
    """A gateway killed between storing a message and storing its answer leaves the message stored and
    unanswered; the citizen's retry reaches another gateway, which sees a duplicate with no replies. The
    claim, taken before the message is stored, says whether the first gateway still lives (then its
    answer is awaited) or not (then this one answers). Redis away: "new" — the retry is answered from the
    store, as with one process."""

    ALIVE_MS = 3000            # a gateway silent this long is dead (renewed every second)
    CLAIM_MS = 10 * 60 * 1000  # a claim outlives any turn; it only needs to outlive its gateway

    def __init__(self, redis: "aioredis.Redis", namespace: str, origin: str) -> None:
        self._redis = redis
        self._prefix = f"{namespace}:turn:"
        self._alive = f"{namespace}:alive:"
        self._origin = origin
        self._claim = redis.register_script(_CLAIM_SCRIPT)
        self._finish = redis.register_script(_FINISH_SCRIPT)

    async def renew(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._redis.set(self._alive + self._origin, 1, px=self.ALIVE_MS)

    async def claim(self, key: str) -> str:
        try:
            found = await self._claim(keys=[self._prefix + key], args=[self._origin, self.CLAIM_MS, self._alive])
        except (RedisError, OSError) as exc:
            log.warning("turn claims: Redis unavailable: %s", type(exc).__name__)
            return "new"
        return found.decode() if isinstance(found, bytes) else str(found)

    async def finish(self, key: str) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._finish(keys=[self._prefix + key], args=[self._origin])

    async def stop(self) -> None:
        """A graceful stop has finished its turns: it stops claiming to live at once."""
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(self._alive + self._origin)


class SharedPresence:
    """Who has the console open on the other replicas: each replica keeps its agents in a set of its own
    that expires unless renewed (a killed replica's agents drop out within seconds)."""

    TTL_MS = 3000

    def __init__(self, redis: "aioredis.Redis", namespace: str, origin: str) -> None:
        self._redis = redis
        self._replicas = f"{namespace}:replicas"
        self._prefix = f"{namespace}:online:"
        self._origin = origin
        self._here: frozenset[str] = frozenset()

    async def publish(self, usernames: frozenset[str]) -> None:
        """This replica's agents now (called on every change and every second)."""
        self._here = usernames
        key = self._prefix + self._origin
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                if usernames:
                    pipe.sadd(key, *sorted(usernames))
                    pipe.pexpire(key, self.TTL_MS)
                pipe.sadd(self._replicas, self._origin)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("presence: Redis unavailable: %s", type(exc).__name__)

    async def renew(self) -> None:
        await self.publish(self._here)

    async def elsewhere(self) -> set[str]:
        """Agents online on the other replicas (Redis away: none known)."""
        try:
            origins = [o.decode() for o in await self._redis.smembers(self._replicas)]
            others = [o for o in origins if o != self._origin]
            if not others:
                return set()
            async with self._redis.pipeline(transaction=False) as pipe:
                for origin in others:
                    pipe.smembers(self._prefix + origin)
                found = await pipe.execute()
            gone = [o for o, members in zip(others, found) if not members]
            if gone:
                await self._redis.srem(self._replicas, *gone)  # re-added by its next renewal if it lives
            return {m.decode() for members in found for m in members}
        except (RedisError, OSError) as exc:
            log.warning("presence: Redis unavailable: %s", type(exc).__name__)
            return set()

    async def stop(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(self._prefix + self._origin)


class Cluster:
    """The Redis connections of one replica: its hub, its abuse windows, its turn claims, its console
    presence."""

    def __init__(self, url: str, instance: str, namespace: str = "hotline") -> None:
        self.url = url
        self.instance = instance
        self.namespace = namespace
        # Commands answer within seconds or count as failed; the subscription waits for events as long as
        # it takes (its health checks find a dead connection).
        self.redis = aioredis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        self._listener = aioredis.Redis.from_url(url, socket_connect_timeout=3, health_check_interval=15)
        self.hub = RedisHub(self.redis, self._listener, f"{instance}:{uuid.uuid4().hex[:8]}", f"{namespace}:events")
        self.turns = RedisTurnClaims(self.redis, namespace, self.hub.origin)
        self.presence = SharedPresence(self.redis, namespace, self.hub.origin)
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Configured and unreachable is a start failure, not a gateway that quietly runs alone."""
        try:
            await asyncio.wait_for(self.redis.ping(), 5)
            await self.hub.start()
            self._heartbeat = asyncio.create_task(self._beat(), name="cluster-heartbeat")
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            await self.close()
            raise ConfigError(f"[cluster] redis_url {redacted(self.url)} is unreachable: "
                              f"{type(exc).__name__}: {exc}") from exc
        log.info("cluster: replica %s on Redis %s", self.instance, redacted(self.url))

    async def _beat(self) -> None:
        """Every second: this replica lives (its turn claims hold) and its console agents are online."""
        while True:
            await self.turns.renew()
            await self.presence.renew()
            await asyncio.sleep(1)

    def windows(self, name: str, limit: int, seconds: float) -> Limiter:
        return RedisWindow(self.redis, f"{self.namespace}:rl:{name}:", limit, seconds)

    async def health(self) -> dict[str, Any]:
        await self.redis.ping()
        return {"ok": True, "instance": self.instance}

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            await self.turns.stop()
            await self.presence.stop()
        await self.hub.stop()
        await self.redis.aclose()
        await self._listener.aclose()


async def follow(hub: EventHub, topic: str, handlers: dict[str, Callable[[], Awaitable[None]]]) -> None:
    """Run a handler for each event of its type on `topic` (another replica changed the KB, the block list).

    A failing handler is logged and the next event still handled (the KB's periodic refresh catches up)."""
    with hub.subscribe(topic) as queue:
        while True:
            event = await queue.get()
            handler = handlers.get(str(event.get("type")))
            if handler is None:
                continue
            try:
                await handler()
            except Exception:
                log.exception("cluster event %s: handler failed", event.get("type"))


class SingleServeLock:
    """One `hotline serve` per SQLite file: a second one would share the file with its own writer thread,
    its own in-memory hub and counters, and so quietly split the console and the limits.

    An exclusive `flock` beside the database file: the kernel releases it when the process ends, however it
    ends (kill -9 included), so no stale lock is ever left to clean up."""

    def __init__(self, database_file: Path) -> None:
        self.database = database_file
        self.path = database_file.with_name(database_file.name + ".serve.lock")
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip()[:80] or "unknown"
            fh.close()
            raise ConfigError(
                f"another `hotline serve` ({holder}) already serves the SQLite database {self.database}; "
                "SQLite serves one gateway. For several, use PostgreSQL ([database] url) and Redis "
                "([cluster] redis_url)") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def sqlite_file(database_url: str) -> Path | None:
    """The database file of a file-backed SQLite URL; None for PostgreSQL and in-memory databases."""
    for prefix in ("sqlite:///", "sqlite+aiosqlite:///", "sqlite+pysqlite:///"):
        if database_url.startswith(prefix):
            rest = database_url[len(prefix):].split("?", 1)[0]
            return None if not rest or ":memory:" in rest else Path(rest)
    return None
