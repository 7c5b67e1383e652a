"""Alembic migrations run over the application's own database object.

No fallback: a schema behind the code's is migrated when allowed, and is a
start-up error otherwise.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from gateway.errors import StoreUnavailable
from gateway.store.database import Database

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def _config() -> Config:
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


# Replicas starting together on PostgreSQL: one migrates, the others wait for it and then find the schema
# current (the lock ends with the migrating transaction).
MIGRATION_LOCK = 1234500012


def _upgrade(conn: Connection, revision: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    cfg = _config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


async def current_revision(db: Database) -> str | None:
    return await db.run(_current)


async def upgrade(db: Database, revision: str = "head") -> None:
    await db.run(_upgrade, revision)


async def ensure_schema(db: Database, auto_migrate: bool) -> None:
    current, head = await current_revision(db), head_revision()
    if current == head:
        return
    if not auto_migrate:
        raise StoreUnavailable(f"database schema is at {current}, expected {head}: run `hotline db upgrade`")
    log.info("migrating database schema from %s to %s", current, head)
    await upgrade(db)
