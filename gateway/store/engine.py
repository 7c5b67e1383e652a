"""Opening the database from its URL, checking it answers, and migrating it.

There is no fallback: an unreachable or unmigrated database is a start-up
error, so a misconfigured replica never runs with an in-memory store.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gateway.errors import ConfigError, StoreUnavailable

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def normalize_url(url: str) -> str:
    """Accept plain `postgresql://` and `sqlite:///` URLs and pick the async drivers."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers proceed during a write; NORMAL sync is durable across
    # application crashes (only an OS crash can lose the last transactions).
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False,
                  connect_timeout: float = 5.0) -> AsyncEngine:
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except SQLAlchemyError as exc:
        raise ConfigError(f"invalid database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # One connection: SQLite allows one writer anyway, and queueing in the
        # pool is fair and fast where SQLite's busy handler sleeps and polls.
        engine = create_async_engine(url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=30)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        return create_async_engine(
            url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
            connect_args={"timeout": connect_timeout},
        )
    raise ConfigError(f"unsupported database backend {backend!r}: use sqlite+aiosqlite or postgresql+asyncpg")


async def check_connection(engine: AsyncEngine, timeout: float = 5.0) -> None:
    """Raise StoreUnavailable unless the database answers a trivial query in time."""
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise StoreUnavailable(f"database unreachable ({engine.url.render_as_string(hide_password=True)}): "
                               f"{type(exc).__name__}: {exc}") from exc


def _alembic_config() -> Config:
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    def _current(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations over an existing engine (so SQLite pragmas and pools are shared)."""
    cfg = _alembic_config()

    def _upgrade(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


async def ensure_schema(engine: AsyncEngine, auto_migrate: bool) -> None:
    """Migrate when allowed; otherwise refuse to start on an out-of-date schema."""
    current, head = await current_revision(engine), head_revision()
    if current == head:
        return
    if not auto_migrate:
        raise StoreUnavailable(f"database schema is at {current}, expected {head}: run `hotline db upgrade`")
    log.info("migrating database schema from %s to %s", current, head)
    await upgrade(engine)
