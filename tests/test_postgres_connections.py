"""Database connections under the gateway, on the driver's direct path (`gateway.store.prepared`).

PostgreSQL connections that die (a server restart, an administrator's pg_terminate_backend): the pool
pings only connections that sat idle, so these tests kill the server's side of pooled connections and
check what the next units of work see."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from gateway.errors import StoreUnavailable
from gateway.store import Store
from gateway.store.database import open_database
from gateway.store.prepared import Prepared
from gateway.store.schema import contacts
from tests.conftest import PG_URL

needs_postgres = pytest.mark.skipif(not PG_URL, reason="needs HOTLINE_TEST_PG_URL (CI sets it)")

_BACKEND_PID = Prepared(sa.select(sa.func.pg_backend_pid().label("pid")))
_CONTACT_INSERT = Prepared(contacts.insert())


async def _terminate_backends_of(database_url: str) -> int:
    """Ends every server process serving the database, as a restart would; how many there were."""
    name = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(PG_URL)
    try:
        return len(await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name))
    finally:
        await admin.close()


def _pid(conn: sa.Connection) -> int:
    return _BACKEND_PID(conn, {}).scalar_one()


@needs_postgres
async def test_a_connection_that_died_while_idle_is_replaced_before_the_unit_runs(pg_database: str) -> None:
    db = open_database(pg_database, pool_size=2)
    try:
        first = await db.run(_pid)
        assert await _terminate_backends_of(pg_database) >= 1
        await asyncio.sleep(1.3)  # longer than `ping_after_idle` (1 s): the checkout pings it
        second = await db.run(_pid)  # the ping failed; a new connection ran the unit
        assert second != first
    finally:
        await db.dispose()


@needs_postgres
async def test_a_connection_lost_mid_unit_fails_that_unit_only_and_is_not_reused(pg_database: str) -> None:
    db = open_database(pg_database, pool_size=1)  # one connection: the next unit would get the same one
    try:
        first = await db.run(_pid)
        await _terminate_backends_of(pg_database)
        # Back in the pool a moment ago, so not pinged: the unit's own statement meets the dead connection
        # and its caller gets our error, not the driver's.
        with pytest.raises(StoreUnavailable):
            await db.run(_pid)
        # That connection was dropped: the next unit runs on a new one at once.
        assert await db.run(_pid) != first
    finally:
        await db.dispose()


async def test_a_conflict_on_the_direct_path_is_sqlalchemys_integrity_error(store: Store) -> None:
    """The stores detect races by `IntegrityError` (the store fixture runs this on each database)."""
    now = datetime.now(timezone.utc)
    params = {"channel": "web", "external_user": "w-same", "display_name": None, "created_at": now,
              "last_seen_at": now}

    def insert_twice(conn: sa.Connection) -> None:
        _CONTACT_INSERT(conn, params)
        _CONTACT_INSERT(conn, params)

    with pytest.raises(IntegrityError):
        await store.db.run(insert_twice)
    assert await store.db.run(lambda conn: conn.execute(sa.select(sa.func.count()).select_from(contacts))
                              .scalar_one()) == 0  # the unit was rolled back as a whole


@needs_postgres
async def test_after_a_restart_one_unit_fails_not_one_per_pooled_connection(pg_database: str) -> None:
    """A lost connection takes the pool's older ones with it, as SQLAlchemy's own path does: otherwise
    each pooled connection used in the last second fails one more unit (a reply marked sent, say)."""
    db = open_database(pg_database, pool_size=4)

    def slow_pid(conn: sa.Connection) -> int:
        conn.exec_driver_sql("SELECT pg_sleep(0.05)")
        return _pid(conn)

    try:
        assert len(set(await asyncio.gather(*(db.run(slow_pid) for _ in range(4))))) == 4  # four connections
        await _terminate_backends_of(pg_database)
        await asyncio.sleep(0.2)  # well inside `ping_after_idle`: none of them is pinged
        failed = 0
        for _ in range(10):
            try:
                await db.run(_pid)
            except StoreUnavailable:
                failed += 1
        assert failed == 1
    finally:
        await db.dispose()


_WIDTH = sa.Table("width_probe", sa.MetaData(), sa.Column("id", sa.BigInteger, primary_key=True),
                  sa.Column("v", sa.String(10)))
_READ_WIDTH = Prepared(sa.select(_WIDTH.c.id, _WIDTH.c.v).where(_WIDTH.c.id == sa.bindparam("b_id")))


@needs_postgres
async def test_a_column_whose_type_a_migration_changed_is_read_again_after_one_failure(pg_database: str) -> None:
    """asyncpg's prepared statements go stale when another replica migrates a column's type: the hot path
    must not keep the stale one forever (SQLAlchemy's own path prepares again after one failure)."""
    admin = await asyncpg.connect(pg_database)
    db = open_database(pg_database, pool_size=1)
    try:
        await admin.execute("CREATE TABLE width_probe (id bigint PRIMARY KEY, v varchar(10)); "
                            "INSERT INTO width_probe VALUES (1, 'a')")
        read = lambda conn: _READ_WIDTH(conn, {"b_id": 1}).one().v  # noqa: E731
        assert await db.run(read) == "a"
        await admin.execute("ALTER TABLE width_probe ALTER COLUMN v TYPE integer USING 7")
        results = []
        for _ in range(3):
            try:
                results.append(await db.run(read))
            except StoreUnavailable:
                results.append("failed")
        assert results[-2:] == [7, 7] and results.count("failed") <= 1
    finally:
        await db.dispose()
        await admin.close()
