"""SQLite, the embedded default.

Opened read-only twice over: the ``mode=ro`` URI (the file cannot be written by
this connection) and ``PRAGMA query_only`` (no statement may write, not even to a
temp table). SQLite has no statement timeout, so a progress handler interrupts
statements past their deadline.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from connectors.base import Capability, DBAPIConnector, DialectFacts, take_rows
from connectors.connection import FileConnectionModel
from connectors.errors import (
    ConnectorError,
    DataSourceDisconnected,
    InvalidConnection,
    QueryExecutionFailed,
    QueryTimeout,
)
from connectors.models import Column, ForeignKey, Index, Schema, Table, UniqueConstraint
from connectors.pool import DEFAULT_POOL_SIZE

# How many SQLite VM instructions run between two deadline checks.
_PROGRESS_INTERVAL = 10_000

_USER_OBJECTS = "m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"

_TABLES_SQL = f"SELECT m.name, m.type FROM sqlite_master AS m WHERE {_USER_OBJECTS} ORDER BY m.name"
_COLUMNS_SQL = f"""
SELECT m.name, p.name, p.type, p."notnull", p.dflt_value, p.pk
FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p
WHERE {_USER_OBJECTS} ORDER BY m.name, p.cid"""
_FOREIGN_KEYS_SQL = f"""
SELECT m.name, f.id, f."table", f."from", f."to"
FROM sqlite_master AS m JOIN pragma_foreign_key_list(m.name) AS f
WHERE {_USER_OBJECTS} ORDER BY m.name, f.id, f.seq"""
_INDEXES_SQL = f"""
SELECT m.name, il.name, il."unique", il.origin, ii.name
FROM sqlite_master AS m
JOIN pragma_index_list(m.name) AS il
JOIN pragma_index_info(il.name) AS ii
WHERE {_USER_OBJECTS} ORDER BY m.name, il.name, ii.seqno"""
_ROW_ESTIMATES_SQL = """
SELECT tbl, MAX(CAST(stat AS INTEGER)) FROM sqlite_stat1 GROUP BY tbl"""


class SQLiteConnection(FileConnectionModel):
    """``sqlite`` settings: the database file (``database`` or ``sqlite:///path``)."""


class SQLiteConnector(DBAPIConnector):
    """``sqlite`` sources: ``{"database": "/path/file.db"}`` or ``sqlite:///path/file.db``."""

    type_name = "sqlite"
    connection_model = SQLiteConnection
    dialect = "sqlite"
    dialect_facts = DialectFacts(
        dialect,
        prompt_notes="SQLite. Dates are ISO text: use strftime('%Y-%m', col), date('now', '-7 days'), "
                     "col >= '2026-01-01'; there is no date_trunc or interval type.")
    paramstyle = "qmark"
    capabilities = frozenset({Capability.DATE_BUCKETS, Capability.ROW_ESTIMATES})
    default_pool_size = DEFAULT_POOL_SIZE  # read-only connections to one file: readers run side by side
    introspection_steps = ("tables", "columns", "foreign keys", "indexes", "row estimates")
    # SQL grouping a timestamp column by period (ISO text in, text out).
    date_buckets = {
        "day": "strftime('%Y-%m-%d', {column})", "week": "strftime('%Y-W%W', {column})",
        "month": "strftime('%Y-%m', {column})", "year": "strftime('%Y', {column})",
    }

    def _connect(self) -> sqlite3.Connection:
        database = self.config.database
        if not database:
            raise InvalidConnection("a sqlite source needs a database file path")
        path = Path(database).expanduser()
        if not path.is_file():
            raise DataSourceDisconnected(f"SQLite database file not found: {path}")
        conn = sqlite3.connect(
            f"file:{quote(str(path.resolve()))}?mode=ro",
            uri=True,
            check_same_thread=False,  # pooled: one call at a time uses it, from any thread
            isolation_level=None,  # we issue BEGIN/ROLLBACK ourselves
        )
        conn.execute("PRAGMA query_only = ON")
        return conn

    def _classify_error(self, exc: BaseException) -> type[ConnectorError] | None:
        if isinstance(exc, sqlite3.OperationalError) and "interrupted" in str(exc):
            return QueryTimeout
        if isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc):
            return DataSourceDisconnected
        if isinstance(exc, sqlite3.DatabaseError):
            return QueryExecutionFailed
        if isinstance(exc, sqlite3.ProgrammingError):
            return QueryExecutionFailed
        return None

    def _read_only_rows(
        self, sql: str, params: tuple[Any, ...], fetch_limit: int, timeout_s: float
    ) -> tuple[list[str], list[Any]]:
        conn = self.connection
        deadline = time.monotonic() + timeout_s
        conn.execute("BEGIN")
        try:
            return read_only_rows(conn, sql, params, fetch_limit=fetch_limit, deadline=deadline,
                                  max_bytes=self.max_result_bytes)
        finally:
            conn.execute("ROLLBACK")

    def _introspect(self, schemas: Sequence[str] | None, step: Callable[[str], None]) -> Schema:
        conn = self.connection
        if schemas and "main" not in schemas:
            return Schema(tables=[], default_schema="main")

        tables: dict[str, Table] = {}
        for name, kind in conn.execute(_TABLES_SQL):
            tables[name] = Table(name=name, schema="main", kind=kind)
        step("tables")

        for table_name, name, declared, notnull, default, pk_position in conn.execute(_COLUMNS_SQL):
            table = tables[table_name]
            short, full = _type_names(declared)
            table.columns.append(
                Column(name=name, type=short, nullable=not notnull and not pk_position,
                       default=default, full_type=full)
            )
            if pk_position:
                table.primary_key.append((pk_position, name))  # type: ignore[arg-type]
        for table in tables.values():
            table.primary_key = [name for _, name in sorted(table.primary_key)]  # type: ignore[misc]
        step("columns")

        grouped: dict[tuple[str, int], list[tuple[str, str, str | None]]] = defaultdict(list)
        for table_name, fk_id, ref_table, column, ref_column in conn.execute(_FOREIGN_KEYS_SQL):
            grouped[(table_name, fk_id)].append((ref_table, column, ref_column))
        for (table_name, _), parts in grouped.items():
            ref_table = parts[0][0]
            referenced = tables.get(ref_table)
            ref_columns = [p[2] for p in parts]
            if None in ref_columns and referenced is not None:
                ref_columns = list(referenced.primary_key)  # REFERENCES t without columns
            tables[table_name].foreign_keys.append(
                ForeignKey(columns=[p[1] for p in parts], ref_table=ref_table,
                           ref_columns=ref_columns, ref_schema="main")
            )
        step("foreign keys")

        index_columns: dict[tuple[str, str], list[str]] = defaultdict(list)
        index_info: dict[tuple[str, str], tuple[bool, str]] = {}
        for table_name, index_name, unique, origin, column in conn.execute(_INDEXES_SQL):
            index_columns[(table_name, index_name)].append(column or "<expression>")
            index_info[(table_name, index_name)] = (bool(unique), origin)
        for (table_name, index_name), columns in index_columns.items():
            unique, origin = index_info[(table_name, index_name)]
            table = tables[table_name]
            if origin == "u":
                table.unique_constraints.append(UniqueConstraint(columns=columns, name=index_name))
            if origin != "pk":
                table.indexes.append(Index(name=index_name, columns=columns, unique=unique))
        step("indexes")

        has_stats = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
        ).fetchone()
        if has_stats:
            for table_name, estimate in conn.execute(_ROW_ESTIMATES_SQL):
                if table_name in tables:
                    tables[table_name].row_estimate = estimate
        step("row estimates")
        return Schema(tables=list(tables.values()), default_schema="main")


_READ_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}


def authorize_read_only(action: int, *_: object) -> int:
    """An SQLite authorizer allowing reads only (the rest_api connector uses it too)."""
    return sqlite3.SQLITE_OK if action in _READ_ACTIONS else sqlite3.SQLITE_DENY


def read_only_rows(conn: sqlite3.Connection, sql: str, params: Sequence[Any], *, fetch_limit: int,
                   deadline: float, max_bytes: int) -> tuple[list[str], list[Any]]:
    """The SQLite session of every connector that answers in SQLite (``sqlite``,
    ``rest_api``, SQLite-backed third-party connectors): run ``sql`` with

    - a deadline: SQLite has no statement timeout, so a progress handler interrupts the
      statement once ``time.monotonic()`` passes ``deadline`` (``sqlite3.OperationalError:
      interrupted``, which the caller reports as ``query_timeout``);
    - the read-only authorizer, for the caller's statement only: every action but reading
      is refused (no ATTACH of a writable file, no PRAGMA changing the session), a lock on
      top of whatever the connection itself does (``mode=ro``, ``PRAGMA query_only``);

    and return the column names and at most ``fetch_limit`` rows, read under the result
    byte cap (:func:`~connectors.base.take_rows`). Transactions are the caller's."""
    conn.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_INTERVAL)
    conn.set_authorizer(authorize_read_only)
    try:
        cursor = conn.execute(sql, tuple(params))
        columns = [d[0] for d in cursor.description or ()]
        rows = take_rows(cursor, fetch_limit, max_bytes) if cursor.description else []
        cursor.close()
        return columns, rows
    finally:
        conn.set_authorizer(None)
        conn.set_progress_handler(None, 0)


def _type_names(declared: str | None) -> tuple[str, str | None]:
    """``VARCHAR(255)`` -> (``varchar``, ``VARCHAR(255)``); untyped -> ``any``."""
    if not declared:
        return "any", None
    short = re.sub(r"\s*\(.*\)\s*$", "", declared).strip().lower()
    return short, (declared if declared.lower() != short else None)
