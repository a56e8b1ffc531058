"""PostgreSQL results as Arrow through ADBC (``adbc-driver-postgresql``, extra ``arrow``).

ADBC reads a query with ``COPY ... TO STDOUT (FORMAT binary)`` and decodes it in C++
into Arrow columns: several times faster than building Arrow from psycopg's rows, which
pays a Python object per value first. It runs with the same settings as the psycopg
connection (:meth:`PostgreSQLConnector.libpq_settings`: read-only session, keepalives,
egress-pinned address, nothing from this server's ``~/.pgpass`` for untrusted sources),
in an explicit ``BEGIN READ ONLY`` transaction with a transaction-local
``statement_timeout``, always rolled back and followed by ``DISCARD ALL``.

Connections take ~50 ms to open (ADBC loads the type catalog), so a few idle ones are
kept per source. The columns come back in the types the psycopg path gives for the same
values: PostgreSQL ``numeric`` becomes ``decimal128`` (text when a value does not fit:
NaN, infinity, over 38 digits), ``json``/``jsonb`` their JSON text, ``uuid`` its text,
``interval`` a ``duration`` (a month is 30 days, a year 365, as psycopg counts them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from connectors.deadline import GRACE_S, Watchdog
from connectors.errors import (
    ConnectorError,
    DataSourceDisconnected,
    DriverNotInstalled,
    QueryExecutionFailed,
    QueryTimeout,
    ResultTooLarge,
    one_line,
    scrub,
)

IDLE_CONNECTIONS = 2
"""Idle ADBC connections kept per source (more concurrent calls open and close their own)."""

_QUERY_CANCELED = "57014"
# Errors met while reading record batches come from pyarrow with libpq's text only.
_CANCELED_TEXT = "canceling statement due to"
_BROKEN_TEXT = "server closed the connection"


def available() -> bool:
    """Whether the ADBC PostgreSQL driver and pyarrow are installed."""
    try:
        import adbc_driver_postgresql.dbapi  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _dbapi() -> Any:
    try:
        import adbc_driver_postgresql.dbapi
    except ImportError:
        raise DriverNotInstalled("Arrow reads of PostgreSQL need ADBC: pip install 'nlquery[arrow]'") from None
    return adbc_driver_postgresql.dbapi


class ArrowReader:
    """Arrow reads of one PostgreSQL source (owned by its connector)."""

    def __init__(self, connector: Any) -> None:
        self._connector = connector
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    def read(self, sql: str, params: Sequence[Any], *, max_rows: int, timeout_s: float,
             max_bytes: int) -> Any:
        """Run ``sql`` (``$n`` placeholders) read-only; a ``pyarrow.Table`` of at most
        ``max_rows`` rows with ``nlquery.truncated`` in its schema metadata. Record
        batches are counted as they arrive: past ``max_bytes``, :class:`ResultTooLarge`."""
        import pyarrow as pa

        dbapi = _dbapi()
        deadline = time.monotonic() + timeout_s + GRACE_S
        running: list[Any] = []  # the cursor the watchdog cancels at the deadline
        with Watchdog(deadline, lambda: running and running[-1].adbc_cancel()) as watchdog:
            conn, cursor = self._begin(timeout_s, running)
            healthy = False
            try:
                cursor.execute(sql, parameters=tuple(params) if params else None)
                reader = cursor.fetch_record_batch()
                batches = _take_batches(reader, max_bytes)
                healthy = True
            except (dbapi.Error, pa.ArrowException, OSError) as exc:
                # An error the server reported (a bad cast, a timeout) leaves the connection
                # usable; one raised while reading batches (pyarrow's) is not trusted to.
                healthy = bool(_sqlstate(exc)) and not isinstance(exc, dbapi.OperationalError)
                raise self._mapped(exc, timeout_s, watchdog.fired) from None
            finally:
                self._checkin(conn, self._end(cursor) and healthy)
        table = _normalized(pa.Table.from_batches(batches, schema=reader.schema))
        truncated = table.num_rows > max_rows
        if truncated:
            table = table.slice(0, max_rows)
        return table.replace_schema_metadata({"nlquery.truncated": "true" if truncated else "false"})

    def _begin(self, timeout_s: float, running: list[Any]) -> tuple[Any, Any]:
        """A connection in a fresh read-only transaction with the statement timeout set.
        An idle connection the server closed meanwhile (a restart) fails here, before any
        query ran: it is replaced by a new one instead of failing the call."""
        dbapi = _dbapi()
        while True:
            conn, reused = self._checkout(timeout_s)
            try:
                cursor = conn.cursor()
                running.append(cursor)
                cursor.execute("BEGIN READ ONLY")
                cursor.execute("SELECT pg_catalog.set_config('statement_timeout', $1, true)",
                               parameters=(str(max(1, int(timeout_s * 1000))),))
                cursor.fetchall()
                return conn, cursor
            except dbapi.Error as exc:
                _close_quietly(conn)
                if not reused:
                    raise self._mapped(exc, timeout_s, False) from None

    @staticmethod
    def _end(cursor: Any) -> bool:
        """Roll back and reset the session; False when the connection cannot be reused."""
        try:
            cursor.execute("ROLLBACK")
            cursor.execute("DISCARD ALL")
            cursor.close()
            return True
        except Exception:  # a broken connection: it is dropped, the call's own error stands
            return False

    def _mapped(self, exc: BaseException, timeout_s: float, cut: bool) -> ConnectorError:
        """The connector error for an ADBC exception, its message scrubbed of secrets."""
        message = scrub(one_line(self._connector._describe_error(exc)), self._connector.config.secrets())
        if cut or _sqlstate(exc) == _QUERY_CANCELED or _CANCELED_TEXT in message:
            return QueryTimeout(f"query cancelled: it ran past its {timeout_s:g} s timeout")
        dbapi = _dbapi()
        if isinstance(exc, dbapi.OperationalError) or not isinstance(exc, dbapi.Error) and _BROKEN_TEXT in message:
            return DataSourceDisconnected(message)
        return QueryExecutionFailed(message)

    # -- idle connections ----------------------------------------------------------
    def _checkout(self, timeout_s: float) -> tuple[Any, bool]:
        """An idle connection (True: reused) or a new one."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        from psycopg.conninfo import make_conninfo

        settings = self._connector.libpq_settings(timeout_s)
        try:
            return _dbapi().connect(make_conninfo(**settings), autocommit=True), False
        except _dbapi().Error as exc:
            raise DataSourceDisconnected(self._mapped(exc, timeout_s, False).message) from None

    def _checkin(self, conn: Any, healthy: bool) -> None:
        with self._lock:
            if healthy and len(self._idle) < IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        _close_quietly(conn)

    def close(self) -> None:
        """Close the idle connections (one in use closes when its call returns it)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close_quietly(conn)


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # closing a broken connection must not mask anything
        pass


def _take_batches(reader: Any, max_bytes: int) -> list[Any]:
    """Every record batch of ``reader``, counted as they arrive against ``max_bytes``."""
    batches, size, rows = [], 0, 0
    for batch in reader:
        size += batch.nbytes
        rows += batch.num_rows
        if size > max_bytes:
            raise ResultTooLarge(f"the result passed {max_bytes:,} bytes after {rows:,} rows "
                                 "(max_result_bytes): select fewer rows or columns")
        batches.append(batch)
    return batches


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc, "sqlstate", None)


# -- types -----------------------------------------------------------------------------------
def _normalized(table: Any) -> Any:
    """The table with ADBC's PostgreSQL-specific column types as the psycopg path has them."""
    import pyarrow as pa

    columns = []
    for field, column in zip(table.schema, table.columns):
        columns.append(_normalized_column(pa, field.type, column))
    return pa.Table.from_arrays(columns, names=table.column_names) if columns else table


def _normalized_column(pa: Any, kind: Any, column: Any) -> Any:
    if pa.types.is_interval(kind):
        return pa.array([None if v is None else _timedelta(v) for v in column.to_pylist()], pa.duration("us"))
    if not isinstance(kind, pa.BaseExtensionType):
        return column
    name = kind.extension_name
    if name == "arrow.uuid":
        return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())
    storage = pa.chunked_array([chunk.storage for chunk in column.chunks], kind.storage_type)
    if name == "arrow.opaque" and getattr(kind, "type_name", "") == "numeric":
        return _decimal(pa, storage)
    return storage  # json, jsonb and other opaque types: their text


def _decimal(pa: Any, text: Any) -> Any:
    """Numeric text as ``decimal128`` at the largest scale present (text when it cannot be)."""
    import pyarrow.compute as pc

    point = pc.find_substring(text, ".")
    digits_after = pc.subtract(pc.subtract(pc.utf8_length(text), point), 1)
    scale = pc.max(pc.if_else(pc.less(point, 0), 0, digits_after)).as_py() or 0
    try:
        return pc.cast(text, pa.decimal128(38, scale)) if scale <= 38 else text
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return text


def _timedelta(value: Any) -> timedelta:
    years, months = divmod(value.months, 12)
    return timedelta(days=value.days + years * 365 + months * 30, microseconds=value.nanoseconds // 1000)
