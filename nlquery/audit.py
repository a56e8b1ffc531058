"""The audit trail: who ran what against which source, with what outcome.

A record holds the time, tenant, token id (never the token), channel (http, mcp,
callback, operator), action (``query``, ``ask``, ``tool_callback``, ``source.create``,
``source.update``, ``source.delete``, ``source.refresh``, ``mappings.update``,
``request`` for a request refused before it reached one), the source, the SQL run (the
guarded SQL, with the row cap the guard added) and the question, the parameters
(redacted, below), row count, duration, outcome (``ok`` or the error code), HTTP status,
request and trace ids.

Off the hot path: a request only puts a dict on a bounded queue; a background thread
(:class:`AuditWriter`) redacts, inserts in batches and prunes records older than
``NLQUERY_AUDIT_RETENTION_DAYS`` (default 90; 0 keeps everything). ``Engine.close()``
and the service's shutdown flush the queue, so a clean shutdown loses nothing. If the
writer falls behind by more than the queue holds (10,000 records), a request waits up
to half a second for room, then the record is counted as dropped and logged.

Parameter redaction (the sensitive-value rule of value hints,
:data:`nlquery.catalog.hints.SENSITIVE`): a ``$n`` value compared with a column whose name
looks sensitive (pass, secret, token, hash, salt, email, ssn, phone, iban, card, cvv,
api key, address) is replaced by ``"[redacted]"``; so is every value whose column cannot
be told (a ``$n`` inside a function call, an expression, or SQL that does not parse).
Values compared directly with other columns, and ``LIMIT``/``OFFSET`` values, are kept;
strings longer than 200 characters are cut.

``NLQUERY_AUDIT=off`` turns the trail off (benchmarks compare both).
"""

from __future__ import annotations

import atexit
import contextvars
import datetime as dt
import functools
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from nlquery.errors import NLQueryError
from nlquery.principal import Principal

log = logging.getLogger("nlquery.audit")

REDACTED = "[redacted]"
MAX_VALUE_CHARS = 200
QUEUE_SIZE = 10_000
BATCH = 500
# The writer waits this long after a record for others to join its transaction: under load
# one commit per ~20 ms instead of one per request (a commit costs about as much CPU as
# the request it records); flush() and close() still store everything.
LINGER_S = 0.02
PRUNE_EVERY_S = 3600.0
DEFAULT_RETENTION_DAYS = 90

FIELDS = ("at", "tenant", "token_id", "channel", "action", "method", "path", "source", "source_name", "question",
          "sql", "parameters", "row_count", "duration_ms", "outcome", "status", "request_id", "trace_id")

# The record of the request being served: the HTTP guard, the MCP middleware and the tool
# callback open one; the Engine's audited methods fill it in (or open their own).
current_entry: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("nlquery_audit",
                                                                                        default=None)


def enabled() -> bool:
    return os.environ.get("NLQUERY_AUDIT", "on").strip().lower() not in {"off", "0", "false", "no"}


def retention_days() -> int:
    value = os.environ.get("NLQUERY_AUDIT_RETENTION_DAYS", "").strip()
    try:
        return max(0, int(value)) if value else DEFAULT_RETENTION_DAYS
    except ValueError:
        log.warning("NLQUERY_AUDIT_RETENTION_DAYS=%r is not a number of days: keeping %d", value,
                    DEFAULT_RETENTION_DAYS)
        return DEFAULT_RETENTION_DAYS


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_entry(principal: Principal | None = None, *, channel: str | None = None, **fields: Any) -> dict[str, Any]:
    """A record, stamped now, for ``principal`` (None: the operator)."""
    entry: dict[str, Any] = {"at": utcnow(), "action": "request", "outcome": "ok",
                             "channel": channel or (principal.channel if principal else "operator")}
    if principal is not None:
        entry["tenant"], entry["token_id"] = principal.tenant, principal.token_id
    entry.update(fields)
    return entry


@contextmanager
def opened(entry: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Make ``entry`` the current record for the block."""
    token = current_entry.set(entry)
    try:
        yield entry
    finally:
        current_entry.reset(token)


def note(**fields: Any) -> None:
    """Add to the current record, if there is one (cheap: a dict update)."""
    entry = current_entry.get()
    if entry is not None:
        entry.update(fields)


def _describe(action: str, entry: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if args:
        entry.setdefault("source", str(args[0]) if isinstance(args[0], str) else None)
    if action == "query":
        entry["sql"] = args[1] if len(args) > 1 else kwargs.get("sql")
        params = args[2] if len(args) > 2 else kwargs.get("params")
        entry["raw_parameters"] = list(params) if isinstance(params, (list, tuple)) else []
    elif action == "ask":
        entry["question"] = args[1] if len(args) > 1 else kwargs.get("question")


def _result(action: str, entry: dict[str, Any], result: Any) -> None:
    if action == "ask":
        entry["sql"], entry["raw_parameters"] = result.sql, list(result.parameters or [])
        entry["row_count"] = result.result.row_count
    elif action == "query":
        count = getattr(result, "row_count", None)
        entry["row_count"] = count if count is not None else getattr(result, "num_rows", None)
    elif isinstance(result, Mapping) and result.get("id"):
        entry["source"], entry["source_name"] = result["id"], result.get("name")


def audited(action: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Record calls of an Engine method. Inside a request the request's record is
    filled in (the first audited call of a request names its action); outside one (the
    CLI, the Python API) the call makes and submits its own record, as the operator."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def inner(self: Any, *args: Any, **kwargs: Any) -> Any:
            writer = self._audit_writer()
            outer = current_entry.get()
            if writer is None or (outer is not None and outer.get("_described")):
                return method(self, *args, **kwargs)
            tenant = kwargs.get("tenant")
            if outer is None:
                entry = new_entry(tenant if isinstance(tenant, Principal) else None)
                if isinstance(tenant, str):
                    entry["tenant"] = tenant
                token = current_entry.set(entry)
            else:
                entry, token = outer, None
            if entry.get("action") in (None, "request"):  # a front-end may have named it (tool_callback)
                entry["action"] = action
            entry["_described"] = True
            _describe(action, entry, args, kwargs)
            started = time.perf_counter()
            try:
                result = method(self, *args, **kwargs)
                _result(action, entry, result)
                entry["outcome"] = "ok"
                return result
            except NLQueryError as exc:
                entry["outcome"] = exc.code
                raise
            except Exception:
                entry["outcome"] = "internal_error"
                raise
            finally:
                entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
                if token is not None:
                    current_entry.reset(token)
                    writer.submit(entry)

        return inner

    return wrap


# -- redaction ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=2048)
def _redacted_positions(sql: str, dialect: str) -> frozenset[int] | None:
    """1-based ``$n`` indexes whose values are redacted; None: all of them."""
    import sqlglot
    from sqlglot import exp

    from nlquery.catalog.hints import SENSITIVE
    from nlquery.guard.parameters import parameter_index

    try:
        tree = sqlglot.parse_one(sql, read=dialect or "postgres")
    except Exception:
        return None
    redact: set[int] = set()
    for node in tree.walk():
        index = parameter_index(node)
        if index is None:
            continue
        column = _compared_column(node, exp)
        if column is None or (column and SENSITIVE.search(column)):
            redact.add(index)
    return frozenset(redact)


def _compared_column(node: Any, exp: Any) -> str | None:
    """The column a placeholder is compared with; '' for a LIMIT/OFFSET; None: unknown."""
    child, parent = node, node.parent
    while isinstance(parent, (exp.Paren, exp.Cast, exp.Tuple)):
        child, parent = parent, parent.parent
    if isinstance(parent, (exp.Limit, exp.Offset, exp.Fetch)):
        return ""
    if isinstance(parent, (exp.In, exp.Between)):
        other = parent.this
    elif isinstance(parent, exp.Binary) and isinstance(parent, (exp.Predicate, exp.Like, exp.ILike)):
        other = parent.right if parent.left is child else parent.left
    else:
        return None
    return other.name if isinstance(other, exp.Column) and other.name else None


def redact(sql: str | None, parameters: list[Any] | None, dialect: str | None = None) -> list[Any]:
    """``parameters`` as the audit trail keeps them (see the module's rule)."""
    if not parameters:
        return []
    hidden = _redacted_positions(sql, dialect or "postgres") if sql else None
    kept = []
    for position, value in enumerate(parameters, start=1):
        if hidden is None or position in hidden:
            kept.append(REDACTED)
        elif isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            kept.append(value[:MAX_VALUE_CHARS] + "...")
        elif value is None or isinstance(value, (bool, int, float, str)):
            kept.append(value)
        else:
            kept.append(str(value)[:MAX_VALUE_CHARS])
    return kept


def to_row(entry: dict[str, Any]) -> dict[str, Any]:
    """The stored row of a record (parameters redacted and as JSON)."""
    row = {name: entry.get(name) for name in FIELDS}
    if "raw_parameters" in entry:
        row["parameters"] = json.dumps(redact(entry.get("sql"), entry["raw_parameters"], entry.get("dialect")),
                                       ensure_ascii=False, default=str)
    for name, limit in (("sql", 100_000), ("question", 10_000), ("path", 400), ("source", 200),
                        ("source_name", 200)):
        if isinstance(row[name], str) and len(row[name]) > limit:
            row[name] = row[name][:limit]
    return row


# -- the writer ----------------------------------------------------------------------------
class AuditWriter:
    """A background thread that stores records in batches. ``write(rows)`` inserts,
    ``prune(before)`` deletes older records (both blocking; called on the thread)."""

    def __init__(self, write: Callable[[list[dict[str, Any]]], None],
                 prune: Callable[[dt.datetime], int] | None = None, *, retention_days: int = DEFAULT_RETENTION_DAYS,
                 max_queue: int = QUEUE_SIZE, batch: int = BATCH, linger_s: float = LINGER_S) -> None:
        self._write, self._prune, self.retention_days, self.batch = write, prune, retention_days, batch
        self.linger_s = linger_s
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._next_prune = 0.0
        self.written = 0
        self.dropped = 0
        self.failed = 0

    def submit(self, entry: dict[str, Any]) -> None:
        """Queue a record (a dict put on a queue: the cost a request pays)."""
        if self._closed:
            log.warning("audit record after the writer closed: %s", entry.get("action"))
            return
        self._start()
        try:
            self._queue.put(entry, timeout=0.5)
        except queue.Full:
            self.dropped += 1
            log.warning("audit queue full: a %s record was dropped (%d so far)", entry.get("action"), self.dropped)

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="nlquery-audit", daemon=True)
                    self._thread.start()
                    atexit.register(self.close)

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every queued record is stored (True) or ``timeout_s`` passes."""
        if self._thread is None:
            return True
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)
        return not self._queue.unfinished_tasks

    def close(self, timeout_s: float = 30.0) -> None:
        """Store what is queued, then stop the thread (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout_s)
            atexit.unregister(self.close)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            deadline = time.monotonic() + self.linger_s
            while len(batch) < self.batch and batch[-1] is not None:  # None: close() asked to stop
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        batch.append(self._queue.get(timeout=remaining))
                    except queue.Empty:
                        break
            stop = None in batch
            records = [entry for entry in batch if entry is not None]
            try:
                if records:
                    self._store(records)
                self._maybe_prune()
            finally:
                for _ in batch:
                    self._queue.task_done()
            if stop:
                return

    def _store(self, records: list[dict[str, Any]]) -> None:
        try:
            rows = [to_row(entry) for entry in records]
            self._write(rows)
            self.written += len(rows)
        except Exception as exc:  # the trail must never take the service down
            self.failed += len(records)
            log.warning("could not store %d audit records: %s", len(records), exc)

    def _maybe_prune(self) -> None:
        if self._prune is None or not self.retention_days or time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + PRUNE_EVERY_S
        try:
            self._prune(utcnow() - dt.timedelta(days=self.retention_days))
        except Exception as exc:
            log.warning("could not prune the audit trail: %s", exc)


def parse_time(value: str | None, what: str) -> dt.datetime | None:
    """An ISO 8601 time (``Z`` or an offset; naive is UTC), or a relative ``15m``, ``2h``,
    ``7d`` before now."""
    from nlquery.errors import InvalidRequest

    if value is None or value == "":
        return None
    text = str(value).strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[:-1].isdigit() and text[-1:] in units:
        return utcnow() - dt.timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{what} must be an ISO 8601 time (2026-01-20T12:00:00Z) or like 15m, 2h, 7d") \
            from None
    return stamp.replace(tzinfo=dt.timezone.utc) if stamp.tzinfo is None else stamp.astimezone(dt.timezone.utc)


__all__ = ["AuditWriter", "REDACTED", "audited", "current_entry", "enabled", "new_entry", "note", "opened",
           "parse_time", "redact", "retention_days", "to_row"]
