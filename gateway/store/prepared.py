"""Hot-path statements run through the database driver's own cursor.

A message's units of work execute about eight prebuilt Core statements.
SQLAlchemy's per-execution work (cache key, execution context, bind and
result processing, result objects) cost 45-75 µs per statement on the 2-core
machine against 9-35 µs for the statement itself through `sqlite3`
(docs/benchmarks.md, issue 16), and the thread doing it holds the GIL the
event loop needs. `Prepared` compiles the Core statement once per dialect and
set of parameter names with SQLAlchemy (the SQL and its type handling stay
SQLAlchemy's: the same bind processors, so stored values are identical) and
then executes it on the DBAPI connection of the unit's transaction: the
`sqlite3` connection, or on PostgreSQL SQLAlchemy's asyncpg adapter cursor
(which starts the transaction, keeps asyncpg's prepared statements and
translates asyncpg's errors). Statements whose compiled form needs per-call
work (Python-side column defaults, expanding IN lists) use plain
`Connection.execute`.

The driver's errors are raised as SQLAlchemy's (`IntegrityError` for a
conflict), as the stores expect; a lost PostgreSQL connection is invalidated
as SQLAlchemy's own path would, so the pool does not hand it out again.
Bypassed: `echo` logging and engine events for these statements.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound

from gateway.store.common import PerDialect


_GIVEN = object()  # the parameter comes from the caller's dict


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    binds: tuple[tuple[str, Callable[[Any], Any] | None, Any], ...]  # name, processor, constant or _GIVEN
    row: Any  # a namedtuple class, or None for statements that return nothing
    sqlite: bool  # the sqlite3 connection executes directly; other drivers through a DBAPI cursor
    results: tuple[Callable[[Any], Any] | None, ...] | None  # None: no column needs conversion


class Rows:
    """The rows of one execution, with the subset of `CursorResult`'s interface the stores use."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise MultipleResultsFound("multiple rows were found when one or none was required")
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        row = self.one_or_none()
        if row is None:
            raise NoResultFound("no row was found when one was required")
        return row

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]


def _row_class(names: Sequence[str]) -> Any:
    base = namedtuple("Row", names)  # type: ignore[misc]
    # `_mapping` as on SQLAlchemy's rows, for code that reads columns by name.
    return type("Row", (base,), {"__slots__": (), "_mapping": property(lambda self: self._asdict())})


class Prepared:
    """A prebuilt statement (or a `PerDialect` one) executed without SQLAlchemy's per-call work on SQLite."""

    __slots__ = ("_stmt", "_plans")

    def __init__(self, stmt: Any) -> None:
        self._stmt = stmt
        self._plans: dict[tuple[str, ...], _Plan | None] = {}

    def _statement(self, conn: Connection) -> Any:
        return self._stmt(conn) if isinstance(self._stmt, PerDialect) else self._stmt

    def __call__(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        dialect = conn.dialect
        keys = (dialect.name, *params)
        try:
            plan = self._plans[keys]
        except KeyError:
            plan = self._plans[keys] = _plan(self._statement(conn), conn, tuple(params))
        if plan is None:
            return conn.execute(self._statement(conn), params)
        args = [const if const is not _GIVEN else params[k] if proc is None else proc(params[k])
                for k, proc, const in plan.binds]
        dbapi_conn = conn.connection.dbapi_connection
        try:
            if plan.sqlite:
                raw = dbapi_conn.execute(plan.sql, args).fetchall()  # type: ignore[union-attr]
            else:
                cursor = dbapi_conn.cursor()  # type: ignore[union-attr]
                # As SQLAlchemy's execution context does: statements prepared before the last schema change
                # this process saw are prepared again.
                cursor._invalidate_schema_cache_asof = getattr(dialect, "_invalidate_schema_cache_asof", 0)
                cursor.execute(plan.sql, args)
                raw = cursor.fetchall() if cursor.description else []
        except dialect.loaded_dbapi.Error as exc:
            lost = _after_error(conn, exc)
            raise DBAPIError.instance(plan.sql, args, exc, dialect.loaded_dbapi.Error, hide_parameters=True,
                                      connection_invalidated=lost) from exc
        if plan.row is None:
            return Rows(raw)
        if plan.results is None:
            return Rows([plan.row._make(r) for r in raw])
        return Rows([plan.row._make([v if p is None else p(v) for p, v in zip(plan.results, r)]) for r in raw])


def _after_error(conn: Connection, exc: Exception) -> bool:
    """What SQLAlchemy's own error handling does for a statement it ran (`Connection._handle_dbapi_exception`
    and the asyncpg execution context), which this path bypasses; whether the connection was lost.

    A lost connection invalidates the pool's older connections too (a server restart took them all: each
    would otherwise fail one more unit), then this one. A prepared statement made stale by a schema change
    (a migration altering a column's type) marks every connection's prepared statements stale."""
    dialect = conn.dialect
    dbapi = dialect.loaded_dbapi
    stale = tuple(getattr(dbapi, name) for name in ("InvalidCachedStatementError", "InternalServerError")
                  if hasattr(dbapi, name))
    if stale and isinstance(exc, stale) and hasattr(dialect, "_invalidate_schema_cache"):
        dialect._invalidate_schema_cache()
    dbapi_conn = conn.connection.dbapi_connection
    if not dialect.is_disconnect(exc, dbapi_conn, None):
        return False
    conn.engine.pool._invalidate(conn.connection, exc)
    conn.invalidate(exc)
    return True


def _plan(stmt: Any, conn: Connection, keys: tuple[str, ...]) -> _Plan | None:
    """The SQL and the conversions for one set of parameter names; None when it needs SQLAlchemy per call.
    Parameters the statement fixes itself (a LIMIT) are kept as constants."""
    compiled: Any = stmt.compile(dialect=conn.dialect, column_keys=list(keys))
    if (not compiled.positional or compiled.insert_prefetch or compiled.update_prefetch
            or compiled.post_compile_params or compiled.literal_execute_params):
        return None
    processors = compiled._bind_processors
    sqlite = conn.dialect.name == "sqlite"
    binds: list[tuple[str, Callable[[Any], Any] | None, Any]] = []
    for name in compiled.positiontup or ():
        if name in keys:
            binds.append((name, processors.get(name), _GIVEN))
            continue
        bind = compiled.binds.get(name)
        if bind is None or bind.required or bind.callable is not None:
            return None
        proc = processors.get(name)
        binds.append((name, None, bind.value if proc is None else proc(bind.value)))
    columns = compiled._result_columns
    if not columns:
        return _Plan(compiled.string, tuple(binds), None, sqlite, None)
    results = tuple(c.type._cached_result_processor(conn.dialect, None) for c in columns)
    return _Plan(compiled.string, tuple(binds), _row_class([c.keyname for c in columns]), sqlite,
                 None if all(r is None for r in results) else results)
