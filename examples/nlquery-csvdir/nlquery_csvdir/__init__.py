"""``csvdir`` sources: a directory of CSV files served as tables.

Every ``*.csv`` file of the directory is a table named after the file (``orders.csv`` ->
``orders``), its header row the column names. The files are loaded into an in-memory
SQLite database on first use (and again when one of them changes); queries run there in
SQLite's dialect under nlquery's read-only SQLite session (deadline, read-only
authorizer, result byte cap): :func:`connectors.sqlite.read_only_rows`.

Registered through the entry point group ``nlquery.connectors`` (see pyproject.toml);
nothing in nlquery names it.
"""

from __future__ import annotations

import csv
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from connectors.base import Capability, DBAPIConnector
from connectors.connection import FileConnectionModel
from connectors.errors import (
    ConnectorError,
    DataSourceDisconnected,
    InvalidConnection,
    QueryExecutionFailed,
    QueryTimeout,
)
from connectors.models import Column, Schema, Table
from connectors.sqlite import SQLiteConnector, read_only_rows

__all__ = ["CSVDirConnection", "CSVDirConnector"]


class CSVDirConnection(FileConnectionModel):
    """``csvdir`` settings: ``{"database": "/path/to/directory"}``. A local path, so the
    usual rules of file sources apply (made absolute at registration; over HTTP or MCP
    only inside NLQUERY_DATA_DIRS)."""

    def require(self) -> None:
        if not self.database:
            raise ValueError('the directory of CSV files is required, e.g. {"database": "/data/exports"}')


class CSVDirConnector(DBAPIConnector):
    """A directory of CSV files, one table per file, queried in SQLite."""

    type_name = "csvdir"
    connection_model = CSVDirConnection
    dialect = "sqlite"  # sqlglot dialect of the SQL the guard accepts for this source
    dialect_facts = SQLiteConnector.dialect_facts  # the CSV files are read in SQLite: its functions and notes
    paramstyle = "qmark"  # the placeholder style execute() receives
    capabilities = frozenset({Capability.DATE_BUCKETS, Capability.ROW_ESTIMATES})
    date_buckets = SQLiteConnector.date_buckets  # the SQL runs in SQLite
    introspection_steps = ("tables",)

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        if not config.database:
            raise InvalidConnection("a csvdir source needs the directory: {\"database\": \"/data/exports\"}")
        self.directory = Path(config.database).expanduser()
        self._loaded: tuple[tuple[str, int, int], ...] | None = None
        self._tables: list[Table] = []

    # -- DBAPIConnector's database-specific parts --------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if not self.directory.is_dir():
            raise DataSourceDisconnected(f"CSV directory not found: {self.directory}")
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._tables = [_load(conn, path) for path in self._files()]
        self._loaded = self._signature()
        conn.execute("PRAGMA query_only = ON")  # nothing writes after the load
        return conn

    def _classify_error(self, exc: BaseException) -> type[ConnectorError] | None:
        if isinstance(exc, sqlite3.OperationalError) and "interrupted" in str(exc):
            return QueryTimeout
        if isinstance(exc, (csv.Error, UnicodeDecodeError, OSError)):
            return DataSourceDisconnected  # an unreadable file: the source, not the query
        if isinstance(exc, sqlite3.Error):
            return QueryExecutionFailed
        return None

    def _read_only_rows(self, sql: str, params: tuple[Any, ...], fetch_limit: int,
                        timeout_s: float) -> tuple[list[str], list[Any]]:
        self._reload_if_changed()
        return read_only_rows(self.connection, sql, params, fetch_limit=fetch_limit,
                              deadline=time.monotonic() + timeout_s, max_bytes=self.max_result_bytes)

    def _introspect(self, schemas: Sequence[str] | None, step: Callable[[str], None]) -> Schema:
        self._reload_if_changed()
        self.connection  # noqa: B018 - loads the files on first use
        tables = [] if schemas and "main" not in schemas else list(self._tables)
        step("tables")
        return Schema(tables=tables, default_schema="main")

    # -- the files -------------------------------------------------------------------
    def _files(self) -> list[Path]:
        return sorted(p for p in self.directory.glob("*.csv") if p.is_file())

    def _signature(self) -> tuple[tuple[str, int, int], ...]:
        if not self.directory.is_dir():
            raise DataSourceDisconnected(f"CSV directory not found: {self.directory}")
        return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in self._files())

    def _reload_if_changed(self) -> None:
        if self._loaded is not None and self._signature() != self._loaded:
            self.close()  # the next use loads the files again


_SQLITE_TYPES = {"integer": "INTEGER", "real": "REAL", "text": "TEXT"}


def _load(conn: sqlite3.Connection, path: Path) -> Table:
    """One CSV file as a table: columns typed from their values, empty cells NULL."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None) or []
        rows = [[cell if cell != "" else None for cell in row] for row in reader]
    names = [name.strip() or f"column_{i + 1}" for i, name in enumerate(header)]
    kinds = [_kind(row[i] if i < len(row) else None for row in rows) for i in range(len(names))]
    rows = [[_value(row[i] if i < len(row) else None, kinds[i]) for i in range(len(names))] for row in rows]
    table = path.stem
    columns_sql = ", ".join(f"{_quote(n)} {_SQLITE_TYPES[k]}" for n, k in zip(names, kinds))
    conn.execute(f"CREATE TABLE {_quote(table)} ({columns_sql})")
    conn.executemany(f"INSERT INTO {_quote(table)} VALUES ({', '.join('?' * len(names))})", rows)
    nullable = [any(row[i] is None for row in rows) for i in range(len(names))]
    return Table(name=table, schema="main", kind="table", row_estimate=len(rows),
                 columns=[Column(name=n, type=k, nullable=z) for n, k, z in zip(names, kinds, nullable)])


def _kind(values: Any) -> str:
    kind = "integer"
    for value in values:
        if value is None:
            continue
        try:
            int(value)
            continue
        except ValueError:
            pass
        try:
            float(value)
            kind = "real"
        except ValueError:
            return "text"
    return kind


def _value(cell: str | None, kind: str) -> Any:
    if cell is None:
        return None
    return int(cell) if kind == "integer" else float(cell) if kind == "real" else cell


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
