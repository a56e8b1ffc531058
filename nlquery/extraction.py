"""Background schema extractions: a bounded pool with a bounded queue, one run per source.

A refresh asked for while one is queued or running for the same source joins it (no
second introspection of the same database); past ``max_pending`` queued sources a new
one is refused with ``rate_limit_exceeded`` instead of growing a backlog without limit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from nlquery.errors import RateLimitExceeded

log = logging.getLogger("nlquery.extraction")

RETRY_AFTER_S = 5


class ExtractionsBusy(RateLimitExceeded):
    """Too many schema extractions are waiting; try again in a few seconds."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.retry_after = RETRY_AFTER_S
        self.resource = "schema_extractions"


class Extractions:
    """Runs ``run(source_id)`` in the background, at most once at a time per source."""

    def __init__(self, run: Callable[[str], None], *, workers: int = 2, max_pending: int = 32) -> None:
        self._run = run
        self._workers = workers
        self._max_pending = max_pending
        self._pool: ThreadPoolExecutor | None = None
        self._active: dict[str, Future[None]] = {}  # queued or running, by source id
        self._lock = threading.Lock()

    def submit(self, source_id: str) -> Future[None]:
        """Start (or join) the extraction of ``source_id``."""
        with self._lock:
            current = self._active.get(source_id)
            if current is not None and not current.done():
                return current
            running = sum(1 for f in self._active.values() if f.running())
            if len(self._active) - running >= self._max_pending:
                raise ExtractionsBusy(f"{self._max_pending} schema extractions are already waiting; "
                                      f"try again in {RETRY_AFTER_S} s")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="extract")
            future = self._pool.submit(self._guarded, source_id)
            self._active[source_id] = future
            future.add_done_callback(lambda done, key=source_id: self._forget(key, done))
            return future

    def pending(self) -> int:
        with self._lock:
            return sum(1 for f in self._active.values() if not f.done())

    def _guarded(self, source_id: str) -> None:
        try:
            self._run(source_id)
        except Exception:  # the run records its own failures; this is the last resort
            log.exception("schema extraction of %s crashed", source_id)

    def _forget(self, source_id: str, future: Future[None]) -> None:
        with self._lock:
            if self._active.get(source_id) is future:
                del self._active[source_id]

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop: queued extractions are dropped (their sources stay ``extracting`` and
        resume on the next start); running ones finish first when ``wait``."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)
