"""Running units of work against the database chosen by URL.

A unit of work is a plain synchronous function over a SQLAlchemy Core
`Connection`, run in one transaction. The same function runs on both
backends:

- PostgreSQL: the async engine (asyncpg) runs it through `run_sync`.
- SQLite: a synchronous pysqlite engine runs it on one dedicated thread, the
  only writer SQLite allows anyway. Measured on the 2-core machine, SQLAlchemy's
  aiosqlite adapter costs ~0.37 ms per statement (several thread hops each)
  against ~0.05 ms here, where a whole transaction costs one hop; that is
  the difference between ~90 and well over 1,000 messages/s.

Foreign errors are wrapped here: `StoreUnavailable` for anything transient,
`IntegrityError` passes through for callers that detect races with it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gateway.errors import ConfigError, StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")
UnitOfWork = Callable[Concatenate[Connection, P], T]


def normalize_url(url: str) -> str:
    """Accept `postgresql://`, `postgres://`, `sqlite:///` and the `+aiosqlite` spelling."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite+aiosqlite://"):
        return "sqlite+pysqlite://" + url[len("sqlite+aiosqlite://"):]
    if url.startswith("sqlite://"):
        return "sqlite+pysqlite://" + url[len("sqlite://"):]
    return url


def _wrap(exc: BaseException) -> StoreUnavailable:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return StoreUnavailable(f"database error: {type(exc).__name__}: {first[:300]}")


class Database:
    """The interface the stores use; `open_database` picks the implementation from the URL."""

    dialect: str
    url: str

    async def run(self, fn: UnitOfWork[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        raise NotImplementedError

    async def dispose(self) -> None:
        raise NotImplementedError

    async def ping(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self.run(lambda conn: conn.execute(sa.text("SELECT 1")).scalar_one())
        except TimeoutError as exc:
            raise StoreUnavailable(f"database did not answer within {timeout:.0f}s ({self.url})") from exc


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers never wait for the writer. NORMAL sync: durable across an
    # application crash; only a power loss can lose the last transactions.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class SQLiteDatabase(Database):
    """One writer thread that commits units of work in groups.

    Units queued while a transaction runs are executed together in the next
    one (group commit): one commit and one thread hand-off for many messages.
    Each caller's future is resolved only after the commit that made its
    work durable. If any unit in a group fails, the group is rolled back and
    every unit is run again on its own, so a failure only reaches its caller
    (units are plain transactions over the database state, safe to re-run).
    """

    dialect = "sqlite"
    MAX_GROUP = 64

    def __init__(self, url: str, echo: bool = False) -> None:
        parsed = make_url(url)
        database = parsed.database or ""
        if not database or database == ":memory:":
            raise ConfigError("an in-memory SQLite database loses everything: give a file path")
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot open SQLite database {database}: {exc}") from exc
        self.url = parsed.render_as_string(hide_password=True)
        # hide_parameters: an error's text (logged with a 500's traceback) never carries a citizen's words (Art. 28).
        self._engine: Engine = sa.create_engine(url, echo=echo, poolclass=sa.pool.StaticPool, hide_parameters=True,
                                                connect_args={"check_same_thread": False})
        event.listen(self._engine, "connect", _sqlite_pragmas)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="sqlite-writer", daemon=True)
        self._thread.start()

    async def run(self, fn: UnitOfWork[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if not self._thread.is_alive():
            raise StoreUnavailable("database closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(fn, args, kwargs, future, loop))
        return await future

    def _serve(self) -> None:
        conn = self._engine.connect()
        try:
            while True:
                job = self._queue.get()
                if job is None:
                    return
                group = [job]
                while len(group) < self.MAX_GROUP:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        self._queue.put(None)  # finish this group, then stop
                        break
                    group.append(nxt)
                self._run_group(conn, group)
        finally:
            conn.close()

    def _run_group(self, conn: Connection, group: list["_Job"]) -> None:
        if len(group) > 1:
            try:
                with conn.begin():
                    results = [job.fn(conn, *job.args, **job.kwargs) for job in group]
            except BaseException:
                for job in group:
                    self._run_group(conn, [job])
                return
            _resolve([(job, True, r) for job, r in zip(group, results)])
            return
        job = group[0]
        try:
            with conn.begin():
                result = job.fn(conn, *job.args, **job.kwargs)
        except IntegrityError as exc:
            _resolve([(job, False, exc)])
        except (SQLAlchemyError, OSError) as exc:
            _resolve([(job, False, _wrap(exc))])
        except BaseException as exc:  # the unit's own exceptions go back to its caller
            _resolve([(job, False, exc)])
        else:
            _resolve([(job, True, result)])

    async def dispose(self) -> None:
        self._queue.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._engine.dispose()


@dataclass(slots=True)
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: "asyncio.Future[Any]"
    loop: asyncio.AbstractEventLoop


def _settle(items: list[tuple[_Job, bool, Any]]) -> None:
    for job, ok, value in items:
        if job.future.done():
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


def _resolve(items: list[tuple[_Job, bool, Any]]) -> None:
    """Hand results back to the event loops that asked, one wake-up per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, bool, Any]]] = {}
    for item in items:
        by_loop.setdefault(item[0].loop, []).append(item)
    for loop, batch in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, batch)
        except RuntimeError:  # that loop has closed; nobody is waiting any more
            pass


class PostgresDatabase(Database):
    """The async engine's pool, with a liveness check only for connections that sat idle.

    SQLAlchemy's `pool_pre_ping` costs three round trips (BEGIN, a ping, ROLLBACK) on every checkout,
    and a message checks out three times: measured, 13% of the PostgreSQL ingest rate. A connection
    returned to the pool a moment ago was alive then; one idle for longer than `ping_after_idle`
    seconds (or never used) is pinged, and a dead one is replaced before the unit runs. A server
    restart within that moment costs the units that take those connections a `StoreUnavailable`
    (nothing is acknowledged that was not committed), and each lost connection is dropped.
    """

    dialect = "postgresql"

    def __init__(self, url: str, pool_size: int, echo: bool, connect_timeout: float,
                 ping_after_idle: float = 1.0) -> None:
        self.url = make_url(url).render_as_string(hide_password=True)
        self._engine: AsyncEngine = create_async_engine(
            url, echo=echo, pool_size=pool_size, max_overflow=pool_size, hide_parameters=True,  # as SQLite's
            connect_args={"timeout": connect_timeout})
        pool = self._engine.sync_engine.pool
        event.listen(pool, "checkin", _note_idle_since)
        event.listen(pool, "checkout", _ping_if_idle(self._engine.sync_engine.dialect, ping_after_idle))

    async def run(self, fn: UnitOfWork[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            async with self._engine.begin() as conn:
                return await conn.run_sync(fn, *args, **kwargs)
        except IntegrityError:
            raise
        except (SQLAlchemyError, OSError, ConnectionError) as exc:
            raise _wrap(exc) from exc

    async def dispose(self) -> None:
        await self._engine.dispose()


def _note_idle_since(_dbapi_conn: Any, record: Any) -> None:
    if record is not None:
        record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dialect: Any, after_seconds: float) -> Callable[[Any, Any, Any], None]:
    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < after_seconds:
            return  # just connected, or back in the pool a moment ago
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as exc:  # the pool replaces the connection and tries again
            log.warning("database connection idle %.0fs did not answer a ping: %s", time.monotonic() - since,
                        type(exc).__name__)
            raise DisconnectionError(str(exc)) from exc
    return checkout


def open_database(url: str, *, pool_size: int = 10, echo: bool = False, connect_timeout: float = 5.0) -> Database:
    url = normalize_url(url)
    try:
        backend = make_url(url).get_backend_name()
    except SQLAlchemyError as exc:
        raise ConfigError(f"invalid database URL: {exc}") from exc
    if backend == "sqlite":
        return SQLiteDatabase(url, echo)
    if backend == "postgresql":
        return PostgresDatabase(url, pool_size, echo, connect_timeout)
    raise ConfigError(f"unsupported database backend {backend!r}: use sqlite:/// or postgresql://")
