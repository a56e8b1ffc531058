"""PostgreSQL results as Arrow through ADBC (``adbc-driver-postgresql``, extra ``arrow``).

ADBC reads a query with ``COPY ... TO STDOUT (FORMAT binary)`` and decodes it in C++
into Arrow columns: several times faster than building Arrow from psycopg's rows, which
pays a Python object per value first. It runs with the same settings as the psycopg
connection (:meth:`PostgreSQLConnector.libpq_settings`: read-only session, keepalives,
egress-pinned address, nothing from this server's ``~/.pgpass`` for untrusted sources),
in an explicit ``BEGIN READ ONLY`` transaction with a transaction-local
``statement_timeout``, always rolled back and followed by ``DISCARD ALL``. Every read
ends by its timeout + ``GRACE_S`` whatever the link does: ADBC hides its libpq socket,
so the socket each connection opened is found among the process's descriptors and the
watchdog shuts it down at the deadline (a cancel request alone travels to the same
unresponsive host and a stalled read would hold its thread for good).

Connections take ~50 ms to open (ADBC loads the type catalog), so a few idle ones are
kept per source. The columns come back in the types the psycopg path gives for the same
values: PostgreSQL ``numeric`` becomes ``decimal128`` (text when a value does not fit:
NaN, infinity, over 38 digits), ``json``/``jsonb`` their JSON text, ``uuid`` its text,
``interval`` a ``duration`` (a month is 30 days, a year 365, as psycopg counts them, the
sign applying to the whole months), all converted column by column at C speed; the byte
cap counts the converted table too, and a source's lowered cap sets ADBC's batch size.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
import threading
import time
from collections.abc import Sequence
from typing import Any

from connectors.deadline import GRACE_S, Watchdog, shutdown_fd
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
        cut = _Cut()  # what the watchdog ends at the deadline: the socket, then the statement
        with Watchdog(deadline, cut) as watchdog:
            conn, cursor = self._begin(timeout_s, cut)
            healthy = False
            try:
                _batch_hint(cursor, max_bytes)
                cursor.execute(sql, parameters=tuple(params) if params else None)
                reader = cursor.fetch_record_batch()
                batches = _take_batches(reader, max_bytes)
                healthy = True
            except (dbapi.Error, pa.ArrowException, OSError) as exc:
                # An error the server reported (a bad cast, a timeout) leaves the connection
                # usable; one raised while reading batches (pyarrow's) is not trusted to.
                healthy = bool(_sqlstate(exc)) and not isinstance(exc, dbapi.OperationalError)
                raise self._mapped(exc, timeout_s, watchdog.fired, dropped=cut.dropped) from None
            finally:
                self._checkin(conn, self._end(cursor) and healthy and not watchdog.fired)
        table = _normalized(pa.Table.from_batches(batches, schema=reader.schema))
        if table.nbytes > max_bytes:  # text UUIDs take more room than their 16 bytes
            raise ResultTooLarge(f"the result passed {max_bytes:,} bytes after {table.num_rows:,} rows "
                                 "(max_result_bytes): select fewer rows or columns")
        truncated = table.num_rows > max_rows
        if truncated:
            table = table.slice(0, max_rows)
        return table.replace_schema_metadata({"nlquery.truncated": "true" if truncated else "false"})

    def _begin(self, timeout_s: float, cut: _Cut) -> tuple[Any, Any]:
        """A connection in a fresh read-only transaction with the statement timeout set.
        An idle connection the server closed meanwhile (a restart) fails here, before any
        query ran: it is replaced by a new one instead of failing the call."""
        dbapi = _dbapi()
        while True:
            conn, reused = self._checkout(timeout_s, cut)
            try:
                cursor = conn.cursor()
                cut.running(conn, cursor)
                cursor.execute("BEGIN READ ONLY")
                cursor.execute("SELECT pg_catalog.set_config('statement_timeout', $1, true)",
                               parameters=(str(max(1, int(timeout_s * 1000))),))
                cursor.fetchall()
                return conn, cursor
            except dbapi.Error as exc:
                _close_quietly(conn)
                if not reused or cut.fired:
                    raise self._mapped(exc, timeout_s, cut.fired, dropped=cut.dropped) from None

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

    def _mapped(self, exc: BaseException, timeout_s: float, cut: bool, *, dropped: bool = False) -> ConnectorError:
        """The connector error for an ADBC exception, its message scrubbed of secrets."""
        if dropped:  # the watchdog shut the socket: the source sent nothing in time
            return DataSourceDisconnected(
                f"no answer from the source within the {timeout_s:g} s timeout: connection dropped")
        message = scrub(one_line(self._connector._describe_error(exc)), self._connector.config.secrets())
        if cut or _sqlstate(exc) == _QUERY_CANCELED or _CANCELED_TEXT in message:
            return QueryTimeout(f"query cancelled: it ran past its {timeout_s:g} s timeout")
        dbapi = _dbapi()
        if isinstance(exc, dbapi.OperationalError) or not isinstance(exc, dbapi.Error) and _BROKEN_TEXT in message:
            return DataSourceDisconnected(message)
        return QueryExecutionFailed(message)

    # -- idle connections ----------------------------------------------------------
    def _checkout(self, timeout_s: float, cut: _Cut) -> tuple[Any, bool]:
        """An idle connection (True: reused) or a new one. ADBC hides its libpq socket,
        so the socket a new connection opened is found among this process's descriptors
        (the one to its server that was not there before): the watchdog shuts it down
        at the deadline, as the psycopg path does with its own. Connecting runs queries
        too (ADBC reads the type catalog), so the sockets opened meanwhile are cut if
        the deadline passes before the connection exists."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        from psycopg.conninfo import make_conninfo

        settings = self._connector.libpq_settings(timeout_s)
        # The egress-checked address when there is one (untrusted sources): sockets to
        # any other address are never taken for this connection's.
        server = (settings.get("hostaddr"), int(settings.get("port") or 5432))
        # One ADBC connect at a time per server in this process, so that the socket that
        # appeared is this connection's (a psycopg connect meanwhile is told apart below).
        serial = _connect_lock((settings.get("host"), *server))
        if not serial.acquire(timeout=max(0.0, timeout_s)):
            raise DataSourceDisconnected(f"could not connect within the {timeout_s:g} s timeout: "
                                         "other connections to this server are still being opened")
        try:
            before = _sockets()
            cut.connecting(before, server)
            try:
                conn = _dbapi().connect(make_conninfo(**settings), autocommit=True)
                _SOCKETS[id(conn)] = _own_socket(conn, before, server)  # may ask the server: still cut as a connect
            except _dbapi().Error as exc:
                raise DataSourceDisconnected(
                    self._mapped(exc, timeout_s, cut.fired, dropped=cut.dropped).message) from None
            finally:
                cut.connected()
        finally:
            serial.release()
        return conn, False

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
    _SOCKETS.pop(id(conn), None)
    try:
        conn.close()
    except Exception:  # closing a broken connection must not mask anything
        pass


# -- the deadline ----------------------------------------------------------------------------
_SOCKETS: dict[int, tuple[int, int] | None] = {}
"""``id(connection)`` -> (descriptor, inode) of the socket of each open ADBC connection
(None: not found, e.g. a platform without ``/proc/self/fd`` or ``/dev/fd``)."""


_CONNECT_LOCKS: dict[tuple[Any, ...], threading.Lock] = {}
_CONNECT_LOCKS_LOCK = threading.Lock()


def _connect_lock(server: tuple[Any, ...]) -> threading.Lock:
    with _CONNECT_LOCKS_LOCK:
        return _CONNECT_LOCKS.setdefault(server, threading.Lock())


def _sockets() -> dict[int, int]:
    """This process's socket descriptors and their inodes."""
    for base in ("/proc/self/fd", "/dev/fd"):
        try:
            names = os.listdir(base)
        except OSError:
            continue
        found = {}
        for name in names:
            try:
                fd = int(name)
                info = os.fstat(fd)
            except (ValueError, OSError):
                continue
            if stat.S_ISSOCK(info.st_mode):
                found[fd] = info.st_ino
        return found
    return {}


def _peer(fd: int) -> tuple[str | None, int] | None:
    """(address, port) a socket is connected to; a Unix socket's port from libpq's
    ``/dir/.s.PGSQL.<port>`` (its address None)."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return None
    try:
        peer = sock.getpeername()
        if sock.family == getattr(socket, "AF_UNIX", None):
            text = peer.decode(errors="replace") if isinstance(peer, bytes) else str(peer)
            tail = text.rsplit(".s.PGSQL.", 1)
            return (None, int(tail[1])) if len(tail) == 2 and tail[1].isdigit() else None
        return (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) and len(peer) >= 2 else None
    except (OSError, ValueError):
        return None
    finally:
        sock.close()


def _local_port(fd: int) -> int | None:
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return None
    try:
        name = sock.getsockname()
        return int(name[1]) if isinstance(name, tuple) and len(name) >= 2 else None
    except (OSError, ValueError):
        return None
    finally:
        sock.close()


def _opened_since(before: dict[int, int], server: tuple[str | None, int]) -> list[tuple[int, int]]:
    """Sockets to ``server`` (address or None: any, port) opened since ``before``:
    (descriptor, inode)."""
    address, port = server
    found = []
    for fd, ino in _sockets().items():
        if before.get(fd) == ino:
            continue
        peer = _peer(fd)
        if peer is not None and peer[1] == port and (address is None or _same_address(peer[0], address)):
            found.append((fd, ino))
    return found


def _same_address(seen: str | None, expected: str) -> bool:
    if seen is None:  # a Unix socket: no address to compare
        return True
    try:
        a, b = ipaddress.ip_address(seen.split("%", 1)[0]), ipaddress.ip_address(expected.split("%", 1)[0])
    except ValueError:
        return seen == expected
    mapped = getattr(a, "ipv4_mapped", None)
    return a == b or (mapped is not None and mapped == b)


def _own_socket(conn: Any, before: dict[int, int], server: tuple[str | None, int]) -> tuple[int, int] | None:
    """The socket a connection just opened: the only new one to its server, or, when
    other threads opened some to the same server meanwhile, the one whose local port
    the server saw this connection come from (None when that does not tell: then only
    the server-side cancel applies to this connection)."""
    new = _opened_since(before, server)
    if len(new) <= 1:
        return new[0] if new else None
    try:
        cursor = conn.cursor()
        try:
            cursor.execute("SELECT pg_catalog.inet_client_port()")
            seen = cursor.fetchone()[0]
        finally:
            cursor.close()
    except Exception:  # no answer: the socket stays unknown
        return None
    mine = [(fd, ino) for fd, ino in new if seen is not None and _local_port(fd) == int(seen)]
    return mine[0] if len(mine) == 1 else None


def _still_open(fd: int, ino: int) -> bool:
    """Whether ``fd`` is still the socket of inode ``ino`` (not closed, not reused)."""
    try:
        return os.fstat(fd).st_ino == ino
    except OSError:
        return False


class _Cut:
    """What the watchdog of one Arrow read ends at its deadline: the socket of the
    connection in use (so that a stalled link or a server that stopped answering ends
    the read, as ``shutdown_fd`` does on the psycopg path; a cancel request when the
    socket is not known); while a new connection is being opened, the sockets to its
    server opened since it started (another thread's connection to that same server
    opened meanwhile may be cut with them: it was waiting on a server past a deadline)."""

    def __init__(self) -> None:
        self.fired = False
        self.dropped = False
        self._lock = threading.Lock()
        self._conn: Any = None
        self._cursor: Any = None
        self._connecting: tuple[dict[int, int], tuple[str | None, int]] | None = None

    def running(self, conn: Any, cursor: Any) -> None:
        with self._lock:
            self._conn, self._cursor = conn, cursor

    def connecting(self, before: dict[int, int], server: tuple[str | None, int]) -> None:
        with self._lock:
            self._connecting = (before, server)

    def connected(self) -> None:
        with self._lock:
            self._connecting = None

    def __call__(self) -> None:
        with self._lock:
            self.fired = True
            conn, cursor, connecting = self._conn, self._cursor, self._connecting
        if connecting is not None:
            self._drop(_opened_since(*connecting))
            return
        own = _SOCKETS.get(id(conn)) if conn is not None else None
        # The server's own statement_timeout (the call's timeout, set in the transaction)
        # already ended a statement it could end: past it, the link or the server is
        # stuck, and only the socket's end wakes the reading thread.
        self._drop([own] if own is not None else [])
        if not self.dropped and cursor is not None:
            try:
                cursor.adbc_cancel()
            except Exception:  # best effort: the driver's own error follows
                pass

    def _drop(self, sockets: list[tuple[int, int]]) -> None:
        sockets = [(fd, ino) for fd, ino in sockets if _still_open(fd, ino)]
        if sockets:
            self.dropped = True  # before the shutdown wakes the reading thread, which reads it
        for fd, _ in sockets:
            shutdown_fd(fd)


BATCH_HINT_BYTES = 16 * 1024 * 1024
"""ADBC's own default record batch size: the byte cap is checked once per batch, so a
source with a lower cap gets batches of at most a quarter of it."""


def _batch_hint(cursor: Any, max_bytes: int) -> None:
    hint = max(64 * 1024, min(BATCH_HINT_BYTES, max_bytes // 4))
    try:
        cursor.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(hint)})
    except Exception:  # a driver without the option: its default batches
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
    # Column by column at C speed: a value at a time in Python cost seconds per million
    # values, outside the read's deadline (a tenant's wide uuid result held a CPU for 27 s).
    if pa.types.is_interval(kind):
        return pa.chunked_array([_durations(pa, chunk) for chunk in column.chunks], pa.duration("us"))
    if not isinstance(kind, pa.BaseExtensionType):
        return column
    name = kind.extension_name
    if name == "arrow.uuid":
        return pa.chunked_array([_uuid_text(pa, chunk.storage) for chunk in column.chunks], pa.string())
    storage = pa.chunked_array([chunk.storage for chunk in column.chunks], kind.storage_type)
    if name == "arrow.opaque" and getattr(kind, "type_name", "") == "numeric":
        return _decimal(pa, storage)
    return storage  # json, jsonb and other opaque types: their text


def _packed(pa: Any, chunk: Any, width: int) -> tuple[bytes, Any]:
    """The values of a fixed-width ``chunk`` as one bytes object (``width`` bytes each)
    and its validity bitmap, both starting at its first value."""
    if chunk.offset:
        chunk = pa.concat_arrays([chunk])  # a copy that starts at offset 0
    data = chunk.buffers()[1]
    return bytes(memoryview(data)[:len(chunk) * width]), chunk.buffers()[0]


def _columns_of(packed: bytes, width: int, start: int, size: int) -> bytes:
    """Bytes ``start:start + size`` of every ``width``-byte record, concatenated."""
    count = len(packed) // width
    out = bytearray(size * count)
    for k in range(size):
        out[k::size] = packed[start + k::width]
    return bytes(out)


def _uuid_text(pa: Any, chunk: Any) -> Any:
    """``fixed_size_binary(16)`` UUIDs as their canonical text (psycopg's ``str(uuid)``)."""
    packed, validity = _packed(pa, chunk, 16)
    hexed = packed.hex().encode("ascii")  # 32 characters a value
    count = len(chunk)
    text = bytearray(36 * count)
    source = 0
    for position in range(36):
        if position in (8, 13, 18, 23):
            text[position::36] = b"-" * count
        else:
            text[position::36] = hexed[source::32]
            source += 1
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(36), count, [validity, pa.py_buffer(bytes(text))],
                                                 null_count=chunk.null_count)
    return fixed.cast(pa.binary()).cast(pa.string())


def _durations(pa: Any, chunk: Any) -> Any:
    """``month_day_nano_interval`` values as ``duration("us")`` the way psycopg reads an
    interval: a year is 365 days and a month 30, the sign applying to the whole months
    (``-13 months`` is -395 days)."""
    import pyarrow.compute as pc

    packed, validity = _packed(pa, chunk, 16)  # int32 months, int32 days, int64 nanoseconds
    count = len(chunk)

    def part(type_: Any, start: int, size: int) -> Any:
        return pa.Array.from_buffers(type_, count, [validity, pa.py_buffer(_columns_of(packed, 16, start, size))],
                                     null_count=chunk.null_count)

    months = part(pa.int32(), 0, 4).cast(pa.int64())
    days = part(pa.int32(), 4, 4).cast(pa.int64())
    nanos = part(pa.int64(), 8, 8)
    whole = pc.abs(months)
    years = pc.divide(whole, 12)  # integer division of non-negative numbers
    extra = pc.add(pc.multiply(years, 365), pc.multiply(pc.subtract(whole, pc.multiply(years, 12)), 30))
    days = pc.add(days, pc.multiply(pc.sign(months).cast(pa.int64()), extra))
    try:
        micros = pc.add_checked(pc.multiply_checked(days, 86_400_000_000), pc.divide(nanos, 1000))
    except pa.ArrowInvalid:
        raise QueryExecutionFailed("an interval is too large for a duration in microseconds") from None
    return micros.cast(pa.duration("us"))


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
