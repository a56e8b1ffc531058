"""A circuit breaker per source: a source that keeps failing to answer is not asked again
by every request (each waiting for a connect timeout) but refused at once for a short
back-off, with ``Retry-After``.

States: *closed* (calls go through; ``failures`` consecutive disconnections open it),
*open* (calls fail fast with :class:`SourceUnavailable`, ``data_source_disconnected``,
HTTP 503 + ``Retry-After``, until the back-off ends), *half-open* (one call, the probe,
goes through: success closes the breaker, a disconnection opens it again for another
back-off; calls arriving meanwhile fail fast). Only disconnections count: a query the
database rejects proves the source answers.

Settings (environment): ``NLQUERY_BREAKER_FAILURES`` (3 consecutive disconnections) and
``NLQUERY_BREAKER_BACKOFF_S`` (1.0 s: recovery within about a second of the source coming
back). ``NLQUERY_BREAKER_FAILURES=0`` turns breakers off.

A bulkhead per source bounds the calls in flight on it (``NLQUERY_SOURCE_MAX_IN_FLIGHT``,
16; 0 = no bound): a stalled upstream holds at most that many worker threads, whatever
the traffic (a service's thread pool has 40). A call arriving when the source is full
waits for a slot while the source makes progress (a call on it ended within the last
``NLQUERY_SOURCE_STALL_S``, 1.0 s); once none has, it is refused at once with
:class:`SourceBusy` (``data_source_disconnected``, HTTP 503, ``Retry-After``). A busy but
healthy source therefore queues its callers; a stuck one turns them away.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

from nlquery.errors import DataSourceDisconnected, NLQueryError

__all__ = ["Bulkhead", "CircuitBreaker", "SourceBusy", "SourceUnavailable", "breaker_for", "bulkhead_for",
           "guarded"]


class SourceUnavailable(DataSourceDisconnected):
    """Refused without trying: the source's breaker is open. Same code as any
    disconnection; HTTP 503 with ``Retry-After: retry_after``."""

    http_status = 503

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_after": self.retry_after}


class SourceBusy(SourceUnavailable):
    """Refused without trying: the source already has its share of calls in flight and
    none of them is ending. Same code as any disconnection; HTTP 503 with ``Retry-After``."""


def _is_disconnection(exc: BaseException) -> bool:
    return isinstance(exc, NLQueryError) and exc.code == "data_source_disconnected"


class CircuitBreaker:
    def __init__(self, failures: int | None = None, backoff_s: float | None = None) -> None:
        self.threshold = failures if failures is not None else int(os.environ.get("NLQUERY_BREAKER_FAILURES") or 3)
        self.backoff_s = backoff_s if backoff_s is not None else float(
            os.environ.get("NLQUERY_BREAKER_BACKOFF_S") or 1.0)
        self.state = "closed"
        self.failures = 0
        self.open_until = 0.0
        self._probing = False
        self._lock = threading.Lock()

    def before(self) -> bool:
        """Let a call through (True when it is the half-open probe) or raise
        :class:`SourceUnavailable`."""
        if self.threshold <= 0:
            return False
        with self._lock:
            if self.state == "closed":
                return False
            now = time.monotonic()
            if self.state == "open" and now >= self.open_until:
                self.state, self._probing = "half_open", True
                return True
            wait = self.open_until - now if self.state == "open" else self.backoff_s
            raise SourceUnavailable(
                f"the source failed {self.failures} times in a row: not trying again for {max(wait, 0):.1f} s "
                "(circuit breaker open)", retry_after=max(1, math.ceil(wait)))

    def record(self, exc: BaseException | None, probe: bool) -> None:
        """The outcome of a call let through: ``exc`` None or any error but a disconnection
        means the source answered."""
        with self._lock:
            if probe:
                self._probing = False
            if exc is None or not _is_disconnection(exc):
                self.state, self.failures = "closed", 0
                return
            self.failures += 1
            if self.state == "half_open" or self.failures >= self.threshold:
                self.state, self.open_until = "open", time.monotonic() + self.backoff_s


class Bulkhead:
    """At most ``limit`` calls in flight on one source; see the module's docstring."""

    TICK_S = 0.05

    def __init__(self, limit: int | None = None, stall_s: float | None = None) -> None:
        self.limit = limit if limit is not None else int(os.environ.get("NLQUERY_SOURCE_MAX_IN_FLIGHT") or 16)
        self.stall_s = stall_s if stall_s is not None else float(os.environ.get("NLQUERY_SOURCE_STALL_S") or 1.0)
        self.in_flight = 0
        self.refused = 0
        self._last_end = time.monotonic()  # when a call last ended (or the bulkhead was made)
        self._full_since: float | None = None
        self._ended = threading.Condition()

    def _stalled(self, now: float) -> bool:
        """Full, and no call ended for ``stall_s``, counted from when it got full."""
        return now - max(self._last_end, self._full_since or now) >= self.stall_s

    def enter(self, deadline_s: float | None = None) -> None:
        """Take a slot, waiting while the source makes progress (at most ``deadline_s``,
        default ``stall_s`` x 30), or raise :class:`SourceBusy`."""
        if self.limit <= 0:
            return
        with self._ended:
            if self.in_flight < self.limit:
                self.in_flight += 1
                if self.in_flight == self.limit:
                    self._full_since = time.monotonic()
                return
            started = time.monotonic()
            give_up = started + (deadline_s if deadline_s is not None else self.stall_s * 30)
            for _ in range(1_000_000):  # bounded: ends by ``give_up`` long before
                now = time.monotonic()
                if self.in_flight < self.limit:
                    self.in_flight += 1
                    self._full_since = now if self.in_flight == self.limit else None
                    return
                if self._full_since is None:
                    self._full_since = now
                if self._stalled(now) or now >= give_up:
                    break
                self._ended.wait(self.TICK_S)
            self.refused += 1
            waited = time.monotonic() - max(self._last_end, self._full_since or started)
            raise SourceBusy(f"the source has {self.in_flight} calls in flight and none ended for "
                             f"{waited:.1f} s: not queuing more (NLQUERY_SOURCE_MAX_IN_FLIGHT)",
                             retry_after=max(1, math.ceil(self.stall_s)))

    def leave(self) -> None:
        if self.limit <= 0:
            return
        with self._ended:
            self.in_flight -= 1
            self._last_end = time.monotonic()
            if self.in_flight < self.limit:
                self._full_since = None
            self._ended.notify()


_breakers: weakref.WeakKeyDictionary[Any, CircuitBreaker] = weakref.WeakKeyDictionary()
_bulkheads: weakref.WeakKeyDictionary[Any, Bulkhead] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def bulkhead_for(connector: Any) -> Bulkhead:
    """The bulkhead of one open connector."""
    with _registry_lock:
        bulkhead = _bulkheads.get(connector)
        if bulkhead is None:
            bulkhead = _bulkheads[connector] = Bulkhead()
        return bulkhead


def breaker_for(connector: Any) -> CircuitBreaker:
    """The breaker of one open connector (a registered source has one in the Engine's pool)."""
    with _registry_lock:
        breaker = _breakers.get(connector)
        if breaker is None:
            breaker = _breakers[connector] = CircuitBreaker()
        return breaker


@contextlib.contextmanager
def guarded(connector: Any) -> Iterator[None]:
    """``with guarded(connector): connector.execute(...)`` (errors already mapped to
    :class:`NLQueryError`): fail fast while the breaker is open or the source is full of
    stuck calls (the bulkhead), record the outcome."""
    breaker = breaker_for(connector)
    bulkhead = bulkhead_for(connector)
    bulkhead.enter()  # a refusal here is no outcome of the source's: the breaker is not told
    try:
        probe = breaker.before()
    except BaseException:
        bulkhead.leave()
        raise
    try:
        yield
    except BaseException as exc:
        breaker.record(exc, probe)
        raise
    finally:
        bulkhead.leave()
    breaker.record(None, probe)
