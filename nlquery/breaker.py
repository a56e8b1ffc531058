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

__all__ = ["CircuitBreaker", "SourceUnavailable", "breaker_for", "guarded"]


class SourceUnavailable(DataSourceDisconnected):
    """Refused without trying: the source's breaker is open. Same code as any
    disconnection; HTTP 503 with ``Retry-After: retry_after``."""

    http_status = 503

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_after": self.retry_after}


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


_breakers: weakref.WeakKeyDictionary[Any, CircuitBreaker] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


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
    :class:`NLQueryError`): fail fast while the breaker is open, record the outcome."""
    breaker = breaker_for(connector)
    probe = breaker.before()
    try:
        yield
    except BaseException as exc:
        breaker.record(exc, probe)
        raise
    breaker.record(None, probe)
