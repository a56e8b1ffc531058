"""The connector contract: :class:`ConnectionConfig`, the :class:`Connector` protocol,
the optional features a connector declares (:class:`Capability`, :func:`supports`), the
facts about its SQL (:class:`DialectFacts`, :func:`dialect_facts`),
:func:`finish_result` (row cap, JSON conversion and timing of every connector's results)
and :class:`DBAPIConnector`, the shared skeleton of connectors built on a DB-API driver.
How to write a connector: ``connectors/README.md``.

Models live in :mod:`connectors.models` and are re-exported here.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
import gc
import itertools
import operator
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, ClassVar, Protocol, runtime_checkable
from urllib.parse import parse_qsl, unquote, urlsplit

from connectors.errors import (
    ConnectorError,
    DataSourceDisconnected,
    InvalidConnection,
    QueryExecutionFailed,
    QueryTimeout,
    ResultTooLarge,
    map_driver_errors,
)
from connectors.models import (  # re-exported: the public models of the contract
    Column,
    ForeignKey,
    Index,
    QueryResult,
    Schema,
    Table,
    UniqueConstraint,
)
from connectors.pool import ConnectionPool, Lease, pool_size
from connectors.values import json_safe_rows

__all__ = [
    "Capability",
    "Column",
    "ConnectionConfig",
    "Connector",
    "DBAPIConnector",
    "DialectFacts",
    "ForeignKey",
    "Index",
    "ProgressCallback",
    "QueryResult",
    "Schema",
    "Table",
    "UniqueConstraint",
    "dialect_facts",
    "finish_result",
    "supports",
]

DEFAULT_MAX_ROWS = 1000
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_INTROSPECTION_TIMEOUT_S = 300.0
DEFAULT_MAX_RESULT_BYTES = 64 * 2**20
FETCH_CHUNK_ROWS = 2000  # the largest chunk; the first is one row, then eight times more

ProgressCallback = Callable[[str, int, int], None]
"""``progress(step, done, total)``: called by ``introspect`` as catalog queries finish."""


@dataclass
class ConnectionConfig:
    """Where a source lives. Either the fields or a URL
    (``postgresql://user@host:5432/db``, ``sqlite:///path/file.db``) fill it.

    ``password`` never appears in ``repr``; ``options`` holds driver-specific extras
    (``sslmode``, ``schemas``, ``connect_timeout``...).
    """

    host: str | None = None
    port: int | None = None
    database: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    options: dict[str, Any] = field(default_factory=dict)
    url: str | None = field(default=None, repr=False)  # as given: connectors taking any URL need it whole
    # connectors.egress.EgressPolicy for sources a remote caller registered: network
    # connectors resolve their host through it and connect to the address it checked.
    egress: Any = field(default=None, repr=False, compare=False)
    # True for sources a remote caller registered: the connector takes nothing from this
    # server's environment or home (libpq's PGPASSWORD, service and password files...).
    untrusted: bool = field(default=False, repr=False, compare=False)

    @classmethod
    def from_url(cls, url: str) -> ConnectionConfig:
        """Parse ``scheme://user:password@host:port/database?option=value``."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise InvalidConnection(f"malformed connection URL: {exc}") from None
        if not parts.scheme:
            raise InvalidConnection("connection URL needs a scheme, e.g. postgresql://host/db")
        path = unquote(parts.path)
        if parts.scheme.startswith("sqlite"):
            # sqlite:///relative.db -> "relative.db"; sqlite:////abs/file.db -> "/abs/file.db"
            database = path[1:] if path.startswith("/") else path
        else:
            database = path.lstrip("/") or None
        return cls(
            host=parts.hostname,
            port=port,
            database=database or None,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            options=dict(parse_qsl(parts.query)),
            url=url,
        )

    @classmethod
    def build(cls, url: str | None = None, **fields: Any) -> ConnectionConfig:
        """From a URL, from fields, or a URL with fields overriding its parts."""
        known = {"host", "port", "database", "username", "password", "options", "egress", "untrusted"}
        unknown = set(fields) - known
        options = dict(fields.pop("options", None) or {})
        # unknown keys are driver options (sslmode=..., schemas=...)
        options.update({key: fields.pop(key) for key in unknown})
        config = cls.from_url(url) if url else cls()
        config = replace(config, **{k: v for k, v in fields.items() if v is not None})
        if config.port is not None:
            try:
                config.port = int(config.port)
            except (TypeError, ValueError):
                raise InvalidConnection(f"port must be a number, got {config.port!r}") from None
        config.options = {**config.options, **options}
        return config

    def secrets(self) -> list[str]:
        """Values that must never reach a message."""
        return [self.password] if self.password else []


@contextlib.contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """Building a snapshot allocates 100k+ objects and no garbage; the cyclic collector
    would otherwise rescan them all again and again (measured: ~30% of introspection)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@runtime_checkable
class Connector(Protocol):
    """What nlquery needs of a source. Third-party connectors implement this."""

    type_name: ClassVar[str]
    dialect: ClassVar[str]
    paramstyle: ClassVar[str]

    def introspect(
        self, *, schemas: Sequence[str] | None = None, progress: ProgressCallback | None = None
    ) -> Schema: ...
    # Optional: ``introspect(..., timeout_s=)`` bounds the extraction (the Engine passes
    # NLQUERY_EXTRACTION_TIMEOUT_S); connectors without the keyword are called as before.

    def execute(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> QueryResult: ...
    # Optional: ``execute(..., convert=False)`` returns the driver's own values (the
    # Engine's ``result="native"``); connectors without the keyword still work.

    def ping(self) -> None: ...

    def close(self) -> None: ...


class Capability(str, Enum):
    """Optional features a connector declares in its ``capabilities`` class attribute
    (``capabilities = frozenset({Capability.EXPLAIN, ...})``); nlquery asks
    :func:`supports` instead of probing for attributes.

    Features that come with a member the connector must provide:

    ``EXPLAIN``
        ``explain(sql, params) -> dict``: what the source runs for ``sql`` (MongoDB's
        aggregation pipeline); ``nlquery query --explain`` shows it.
    ``DATE_BUCKETS``
        ``date_buckets: dict[str, str]``: SQL grouping a timestamp column by ``day``,
        ``week``, ``month``, ``year`` (``"strftime('%Y-%m', {column})"``); without it the
        rules planner declines "per month" questions.
    ``DISTINCT_VALUES``
        ``distinct_values(table, fields, *, limit, sample, timeout_s) -> {field: [values]}``:
        value hints read natively, for sources without SQL subqueries.
    ``ARROW``
        ``execute_arrow(sql, params, *, max_rows, timeout_s) -> pyarrow.Table`` (SQL with
        ``arrow_paramstyle`` placeholders, default ``paramstyle``; ``nlquery.truncated`` in
        the schema metadata): the driver's own columnar read, used by ``Engine.query_arrow``
        unless ``arrow_available()`` says its driver is missing; without the capability the
        table is built from ``execute``'s rows.

    Facts about what ``introspect()`` reports (where the database has them):

    ``COMMENTS``
        table and column comments; ``MATERIALIZED_VIEWS``: tables of kind
        ``materialized_view``; ``ROW_ESTIMATES``: ``Table.row_estimate`` from statistics.
    """

    EXPLAIN = "explain"
    DATE_BUCKETS = "date_buckets"
    DISTINCT_VALUES = "distinct_values"
    ARROW = "arrow"
    COMMENTS = "comments"
    MATERIALIZED_VIEWS = "materialized_views"
    ROW_ESTIMATES = "row_estimates"


# The member each capability needs, for connectors that declare no ``capabilities``
# (third-party connectors written before the declaration): having it is the declaration.
_IMPLIED_BY_MEMBER: dict[Capability, str] = {
    Capability.EXPLAIN: "explain",
    Capability.DATE_BUCKETS: "date_buckets",
    Capability.DISTINCT_VALUES: "distinct_values",
    Capability.ARROW: "execute_arrow",
}


def supports(connector: Any, capability: Capability | str) -> bool:
    """Whether ``connector`` (an instance or a class) declares ``capability``.

    A connector without a ``capabilities`` attribute supports the features whose member
    it has (``explain``, ``date_buckets``, ``distinct_values``) and none of the others."""
    capability = Capability(capability)
    declared = getattr(connector, "capabilities", None)
    if declared is not None:
        return capability in declared
    member = _IMPLIED_BY_MEMBER.get(capability)
    return member is not None and getattr(connector, member, None) is not None


@dataclass(frozen=True)
class DialectFacts:
    """What nlquery needs to know about the SQL a source speaks, declared once per
    connector in its ``dialect_facts`` class attribute (an instance attribute where the
    dialect depends on the connection, as for ``sqlalchemy``):

    ``dialect``
        the sqlglot dialect the guard parses and renders with (the connector's ``dialect``).
    ``allowed_functions``
        read-only functions of this database that sqlglot does not model, beyond the
        guard's base list for the dialect (``nlquery/guard/functions.py``).
    ``denied_functions``
        functions with side effects beyond the guard's base deny list; a denied name
        is refused even when a source's ``allowed_functions`` lists it.
    ``prompt_notes``
        one or two sentences telling the model the dialect's quirks (dates, quoting,
        LIMIT or TOP); the planner's prompt starts with them.

    Names are case-insensitive (stored lowercased). The guard's per-dialect lists stay
    the base: the facts add to them, never remove from them.
    """

    dialect: str
    allowed_functions: frozenset[str] = frozenset()
    denied_functions: frozenset[str] = frozenset()
    prompt_notes: str = ""

    def __post_init__(self) -> None:
        for name in ("allowed_functions", "denied_functions"):
            value = getattr(self, name)
            names = value.split() if isinstance(value, str) else value
            object.__setattr__(self, name, frozenset(str(n).lower() for n in names))


def dialect_facts(connector: Any) -> DialectFacts:
    """The facts ``connector`` (an instance or a class) declares, for its ``dialect``.
    A connector that declares none (written before they existed) gets its ``dialect``
    with no additions and no prompt notes."""
    facts = getattr(connector, "dialect_facts", None)
    if not isinstance(facts, DialectFacts):
        return DialectFacts(connector.dialect)
    if facts.dialect != connector.dialect:  # the connector's own attribute wins
        return replace(facts, dialect=connector.dialect)
    return facts


RowSink = Callable[[Sequence[str], list[Any]], None]
"""Takes ``(columns, chunk)`` as rows arrive: a stream's consumer (see :func:`rows_to`)."""

_row_sink: contextvars.ContextVar[RowSink | None] = contextvars.ContextVar("nlquery_row_sink", default=None)


@contextlib.contextmanager
def rows_to(sink: RowSink) -> Iterator[None]:
    """Within the block, the next :func:`take_rows` of this thread hands its chunks to
    ``sink`` as they are fetched instead of collecting them (and returns no rows): a
    result streams from the driver's cursor to its reader with only a chunk in memory.
    The sink may raise to end the read (the connector rolls back as for any error)."""
    token = _row_sink.set(sink)
    try:
        yield
    finally:
        _row_sink.reset(token)


class StreamedRows(list):  # type: ignore[type-arg]
    """What :func:`take_rows` returns inside :func:`rows_to`: no rows (the sink has them),
    and how many it ``taken``."""

    taken = 0


def rows_taken(rows: list[Any]) -> int:
    """How many rows a read took: ``len(rows)``, or a streamed read's count."""
    return rows.taken if isinstance(rows, StreamedRows) else len(rows)


def take_rows(source: Any, limit: int, max_bytes: int, *, as_row: Callable[[Any], Any] | None = None
              ) -> list[Any]:
    """Up to ``limit`` rows from a DB-API cursor (or any iterator of rows), fetched in
    chunks and counted as they arrive: once they pass ``max_bytes`` (text and binary
    lengths plus a little per value, roughly their JSON size), :class:`ResultTooLarge`
    ends the read before more of the result is loaded. ``as_row`` converts each row
    (a driver's row objects to tuples).

    Chunks start at one row and grow eight times a step, never beyond what the byte
    budget left can hold at the rows' average size: a result of five 100 MB values
    stops after the first row (one row in memory), not after a chunk of all five.
    Inside :func:`rows_to`, each chunk goes to the sink and the rows are not kept."""
    sink = _row_sink.get()
    if sink is not None:
        _row_sink.set(None)  # one read streams: statements the connector runs after it do not
    if hasattr(source, "fetchmany"):
        fetch = source.fetchmany
    else:
        rows_iter = iter(source)

        def fetch(n: int) -> list[Any]:
            return list(itertools.islice(rows_iter, n))
    rows: list[Any] = StreamedRows() if sink is not None else []
    size = taken = 0
    step = 1
    while taken < limit:
        chunk = fetch(min(step, limit - taken))
        if not chunk:
            break
        size += _chunk_size(chunk)
        if size > max_bytes:
            raise ResultTooLarge(f"the result passed {max_bytes:,} bytes after {taken + len(chunk):,} rows "
                                 "(max_result_bytes): select fewer rows or columns")
        if as_row is not None:
            chunk = list(map(as_row, chunk))
        taken += len(chunk)
        if sink is not None:  # the description is complete once rows arrive (server-side cursors)
            sink([d[0] for d in getattr(source, "description", None) or ()], chunk)
        else:
            rows.extend(chunk)
        fits = (max_bytes - size) // max(1, size // taken) // 2  # rows the budget still holds, halved
        step = max(1, min(step * 8, FETCH_CHUNK_ROWS, fits))
    if isinstance(rows, StreamedRows):
        rows.taken = taken
    return rows


_SIZED = frozenset({str, bytes, bytearray, memoryview})


def _chunk_size(chunk: Sequence[Any]) -> int:
    """Roughly the JSON size of ``chunk``: 16 bytes a value plus the length of text and
    binary values. Column by column with C-level helpers (a Python loop over every value
    cost a third of a native read): a column of one sized type (and NULLs) is summed in
    one call, a column of mixed types (SQLite) value by value."""
    size = 0
    first = chunk[0]
    width = len(first)
    if any(len(row) != width for row in chunk):  # rows of uneven length (not DB-API)
        for row in chunk:
            size += 16 * len(row) + sum(len(v) for v in row if v.__class__ in _SIZED)
        return size
    size += 16 * width * len(chunk)
    for index in range(width):
        column = list(map(operator.itemgetter(index), chunk))
        types = set(map(type, column))
        if not types & _SIZED:
            continue
        types.discard(type(None))
        if len(types) == 1:  # one sized type, maybe NULLs
            size += sum(map(len, filter(None, column)))  # None and "" add nothing anyway
        else:
            size += sum(len(v) for v in column if v.__class__ in _SIZED)
    return size


def result_byte_cap(config: ConnectionConfig) -> int:
    """``max_result_bytes`` of a source: its own option may lower the default, never raise it."""
    try:
        own = int(config.options.get("max_result_bytes", DEFAULT_MAX_RESULT_BYTES))
    except (TypeError, ValueError):
        raise InvalidConnection("max_result_bytes must be a number of bytes") from None
    return max(1, min(own, DEFAULT_MAX_RESULT_BYTES))


def finish_result(columns: list[str], rows: list[Any], max_rows: int, started: float, *,
                  convert: bool = True) -> QueryResult:
    """The one end of every execute path (DB-API, MongoDB, REST, third-party connectors).

    ``rows`` holds at most ``max_rows + 1`` rows (fetch one more than the cap: the extra
    row only tells that the result was ``truncated``; it is dropped, in place; a streamed
    read's :class:`StreamedRows` only counts them). Values
    become JSON-safe (:func:`connectors.values.json_safe_rows`) unless ``convert=False``;
    ``execution_time_ms`` counts from ``started``, a :func:`time.perf_counter` reading."""
    taken = rows_taken(rows)
    truncated = taken > max_rows
    del rows[max_rows:]
    return QueryResult(
        columns=columns,
        rows=json_safe_rows(rows) if convert else rows,
        row_count=min(taken, max_rows),
        execution_time_ms=round((time.perf_counter() - started) * 1000, 3),
        truncated=truncated,
    )


class ClosesOnExit:
    """``with connector: ...`` closes the connector at the end of the block."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: Any) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Call:
    """The call a thread is running on a connector: its lease on a pooled connection and
    its deadline (monotonic)."""

    lease: Lease
    deadline: float


class DBAPIConnector(ClosesOnExit, abc.ABC):
    """Shared skeleton of the DB-API connectors.

    A subclass declares its behaviour as class attributes (``type_name``, ``dialect``
    for sqlglot and its ``dialect_facts``, ``paramstyle`` the driver expects: ``qmark``
    or ``format``, ``default_pool_size``) and implements the database-specific parts:
    ``_connect``, ``_classify_error``, ``_read_only_rows`` and ``_introspect`` (and
    ``_usable`` where the driver can tell a connection the server closed).

    Every call (``execute``, ``introspect``, ``ping``) checks a connection out of the
    source's pool (:mod:`connectors.pool`) for its duration, waiting for a free one no
    longer than its own timeout; inside the call, :attr:`connection` is that connection
    (opened on first use) and :meth:`_time_left` the time to the call's deadline.
    """

    type_name: ClassVar[str]
    dialect: ClassVar[str]
    paramstyle: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    default_port: ClassVar[int | None] = None
    default_pool_size: ClassVar[int] = 1
    """Connections per source unless its ``pool_size`` option says otherwise. One for
    connectors whose connections share state in the connector (the csvdir example loads
    its files on connect); the built-in connectors take :data:`~connectors.pool.DEFAULT_POOL_SIZE`."""

    def __init__(self, config: ConnectionConfig) -> None:
        self.config = config
        self.max_result_bytes = result_byte_cap(config)
        size = pool_size(config.options, self.default_pool_size, untrusted=config.untrusted)
        # Late-bound: a test (or a subclass after __init__) may replace _connect / _usable.
        self._pool = ConnectionPool(size, connect=lambda: self._connect(), usable=lambda conn: self._usable(conn),
                                    close_conn=_close_quietly)
        self._calls = threading.local()  # .current: the _Call this thread runs, if any

    # -- lifecycle ---------------------------------------------------------------
    @property
    def connection(self) -> Any:
        """The driver connection of the call this thread is running (opened on first
        use); only inside ``execute``, ``introspect`` and ``ping``."""
        call = self._current_call()
        if call is None:
            raise RuntimeError(f"{type(self).__name__}.connection is only available inside a call "
                               "(execute, introspect, ping)")
        if call.lease.conn is None:
            with self._errors():
                self._pool.connect(call.lease)
        return call.lease.conn

    def ping(self) -> None:
        """Raise :class:`DataSourceDisconnected` unless the source answers."""
        self.execute("SELECT 1", max_rows=1, timeout_s=10)

    def close(self) -> None:
        """Close every connection: idle ones now, those in use when their call ends (the
        calling thread's own at once). A later call opens new ones."""
        self._discard_connection()
        self._pool.close()

    def _discard_connection(self) -> None:
        """The current call's connection is broken (or must not be reused): close it; it
        never goes back to the pool, and a later use in the same call reconnects."""
        call = self._current_call()
        if call is not None:
            self._pool.discard(call.lease)

    def _current_call(self) -> _Call | None:
        return getattr(self._calls, "current", None)

    def _time_left(self, timeout_s: float) -> float:
        """Seconds to the current call's deadline (``timeout_s`` outside a call)."""
        call = self._current_call()
        if call is None:
            return timeout_s
        return max(0.0, call.deadline - time.monotonic())

    @contextlib.contextmanager
    def _call(self, timeout_s: float, what: str) -> Iterator[float]:
        """Check a connection out for one call of at most ``timeout_s`` seconds (the wait
        for a free connection included) and yield the seconds left for the work; the
        connection goes back to the pool after it. ``what`` names the call in errors."""
        started = time.monotonic()
        lease = self._pool.acquire(timeout_s)
        if lease is None:
            raise DataSourceDisconnected(
                f"all {self._pool.size} connections of the source stayed busy for the whole {timeout_s:g} s "
                f"timeout of the {what} (earlier calls are still waiting on them)")
        outer = self._current_call()
        self._calls.current = _Call(lease, started + timeout_s)
        try:
            left = timeout_s - (time.monotonic() - started)
            if left <= 0.05:
                raise QueryTimeout(f"{what} cancelled: it ran past its {timeout_s:g} s timeout")
            yield left
        finally:
            self._calls.current = outer
            self._pool.release(lease)

    # -- execution -----------------------------------------------------------------
    def execute(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        convert: bool = True,
    ) -> QueryResult:
        """Run ``sql`` (already in the driver's ``paramstyle``) in a read-only
        transaction that is always rolled back. At most ``max_rows + 1`` rows are
        fetched; the extra one only tells that the result was ``truncated``.

        ``convert=False`` returns the driver's values untouched (rows as the driver's
        tuples: Decimal, datetime, UUID, bytes ...) instead of JSON-safe lists."""
        if max_rows < 0:
            raise InvalidConnection("max_rows must be >= 0")
        started = time.perf_counter()
        try:
            with self._call(timeout_s, "query") as left, self._errors():
                columns, rows = self._read_only_rows(sql, tuple(params), max_rows + 1, left)
        except QueryTimeout:
            raise QueryTimeout(f"query cancelled: it ran past its {timeout_s:g} s timeout") from None
        return finish_result(columns, rows, max_rows, started, convert=convert)

    def _errors(self) -> Any:
        return map_driver_errors(self._classify_value_errors, self.config.secrets(), self._describe_error)

    def _classify_value_errors(self, exc: BaseException) -> type[ConnectorError] | None:
        # A value the driver cannot send (an integer past 64 bits, a lone surrogate in
        # the text) is the caller's input, not a crash.
        if isinstance(exc, (OverflowError, UnicodeError)):
            return QueryExecutionFailed
        return self._classify_error(exc)

    def _describe_error(self, exc: BaseException) -> str:
        """The human message of a driver exception (override to drop driver noise)."""
        return str(exc)

    # -- database-specific -----------------------------------------------------------
    @abc.abstractmethod
    def _connect(self) -> Any:
        """Open a driver connection (read-only where the database allows it)."""

    def _usable(self, conn: Any) -> bool:
        """Whether an idle pooled connection may serve another call (override where the
        driver can tell one the server closed: it is replaced before use)."""
        return True

    @abc.abstractmethod
    def _classify_error(self, exc: BaseException) -> type[ConnectorError] | None:
        """Map a driver exception to a ConnectorError class (None: not ours)."""

    @abc.abstractmethod
    def _read_only_rows(
        self, sql: str, params: tuple[Any, ...], fetch_limit: int, timeout_s: float
    ) -> tuple[list[str], list[Any]]:
        """Run ``sql`` read-only with a statement timeout; return the column names and
        at most ``fetch_limit`` rows, then roll back."""

    @abc.abstractmethod
    def _introspect(self, schemas: Sequence[str] | None, step: Callable[[str], None]) -> Schema:
        """Read the catalog in a constant number of queries (never one per table),
        calling ``step(name)`` after each of the ``introspection_steps``; within
        :meth:`_time_left` where the database takes a statement timeout."""

    introspection_steps: ClassVar[tuple[str, ...]] = ()

    def introspect(
        self, *, schemas: Sequence[str] | None = None, progress: ProgressCallback | None = None,
        timeout_s: float = DEFAULT_INTROSPECTION_TIMEOUT_S,
    ) -> Schema:
        """Every table, view and materialized view of ``schemas`` (default: all
        non-system schemas, or ``options["schemas"]``, comma-separated), within
        ``timeout_s`` (a slow catalog: ``query_timeout``; a link that stopped answering:
        ``data_source_disconnected``, for connectors with a deadline watchdog)."""
        if schemas is None and self.config.options.get("schemas"):
            schemas = [s.strip() for s in str(self.config.options["schemas"]).split(",") if s.strip()]
        done = 0

        def step(name: str) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(name, done, len(self.introspection_steps))

        try:
            with self._call(timeout_s, "schema extraction"), self._errors(), _no_gc_pauses():
                return self._introspect(schemas, step)
        except QueryTimeout:
            raise QueryTimeout(f"schema extraction cancelled: it ran past its {timeout_s:g} s timeout") from None


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # closing a broken connection must not mask the real error
        pass
