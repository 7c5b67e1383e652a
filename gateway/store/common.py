"""Helpers shared by the store modules: dialect-aware upserts and error wrapping."""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from typing import AsyncIterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.errors import StoreUnavailable


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def upsert(engine_or_conn: AsyncEngine | AsyncConnection, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT that supports ON CONFLICT on both backends."""
    dialect = engine_or_conn.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


@contextlib.asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """`engine.begin()` with transient database failures turned into StoreUnavailable.

    IntegrityError passes through: callers use it to detect races.
    """
    try:
        async with engine.begin() as conn:
            yield conn
    except IntegrityError:
        raise
    except (OperationalError, DBAPIError, OSError, TimeoutError) as exc:
        raise StoreUnavailable(f"database error: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"database error: {type(exc).__name__}") from exc


@contextlib.asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    try:
        async with engine.connect() as conn:
            yield conn
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise StoreUnavailable(f"database error: {type(exc).__name__}") from exc
