"""Results that stream from the source's cursor to their reader.

:meth:`nlquery.Engine.stream` runs one guarded query (the same guard, session, caps,
breaker and audit as :meth:`~nlquery.Engine.query`) in a worker thread. The connector
fetches in chunks (:func:`connectors.base.take_rows`); inside
:func:`connectors.base.rows_to` each chunk goes through a small bounded queue to the
reader instead of into a list, so memory holds a few chunks whatever the row count.

The reader sets the pace: a full queue holds the fetch back, for half the query's timeout
(the source's connection is in use meanwhile; the read keeps the other half). A reader
still behind then does not lose the rest: the worker reads it into memory (within the row
and byte caps, as a whole read would) and frees the source. What all the streams of the
process hold that way for readers behind is bounded too (:data:`BUFFER_BYTES`, counted as
the byte cap counts rows): past it, a lagging read ends with ``result_too_large`` (its
response is cut) rather than the server's memory growing with every reader that stopped
reading. A reader that stops early closes the stream: the worker stops fetching and the
connector rolls back.

Connectors that do not fetch through ``take_rows`` (MongoDB, REST) hand their whole
capped result at the end: it arrives as one chunk.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from connectors.base import _chunk_size, rows_to
from connectors.errors import ConnectorError, ResultTooLarge
from connectors.models import QueryResult
from nlquery.errors import QueryTimeout, connector_errors  # the reader's own: API errors, never a 500

HANDOVER_ROWS = 2000
"""Rows the worker gathers before handing them to the reader (fewer at the end)."""

QUEUED_CHUNKS = 4
"""Hand-overs waiting for the reader: at most ``QUEUED_CHUNKS * HANDOVER_ROWS`` rows
(plus a fetch chunk) are in memory whatever the row count."""

MAX_WORKERS = 64
"""Streamed reads running at once (each holds a source connection while its reader reads)."""

BUFFER_BYTES = int(os.environ.get("NLQUERY_STREAM_BUFFER_BYTES") or 256 * 1024 * 1024)
"""Rows all streams of the process together may hold in memory for readers that fell
behind past their patience (``NLQUERY_STREAM_BUFFER_BYTES``; estimated as the byte cap
estimates them). Past it a lagging read ends with ``result_too_large``."""

_POLL_S = 0.1


class _Budget:
    """What the streams of the process hold for readers behind (see :data:`BUFFER_BYTES`)."""

    def __init__(self) -> None:
        self.used = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            if size and self.used + size > BUFFER_BYTES:
                return False
            self.used += size
            return True

    def give_back(self, size: int) -> None:
        if size:
            with self._lock:
                self.used -= size


_budget = _Budget()
_END_GRACE_S = 5.0  # past the deadline, for the worker's last word (the connector's grace, its rollback)
_START_GRACE_S = 0.5  # past the deadline, for a read still waiting for a worker


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _workers() -> ThreadPoolExecutor:
    """The threads that run streamed reads: reused (a new thread per read cost more than a
    small read), created as needed up to :data:`MAX_WORKERS`; past that a read waits for
    one, within its own timeout."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="nlquery-stream")
        return _pool


class _Abandoned(ConnectorError):
    """The reader closed the stream: the worker stops fetching (never seen by a caller)."""


class ResultStream:
    """One query's rows as they arrive: iterate for chunks (lists of driver rows).

    ``columns`` is known once :meth:`open` returned; ``row_count``, ``truncated`` and
    ``execution_time_ms`` once the iteration ended. Use it as a context manager (or call
    :meth:`close`) so that a reader that stops early releases the source at once."""

    def __init__(self, run: Callable[[float], QueryResult], *, max_rows: int, timeout_s: float) -> None:
        self.columns: list[str] = []
        self.row_count = 0
        self.truncated = False
        self.execution_time_ms: float | None = None
        self._max_rows = max_rows
        self._timeout_s = timeout_s
        self._deadline = time.monotonic() + timeout_s
        # Back-pressure lasts half the timeout: the read keeps the other half for the rest.
        self._patience = time.monotonic() + timeout_s / 2
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=QUEUED_CHUNKS)
        self._closed = threading.Event()
        self._ahead: list[tuple[Any, ...]] = []  # events open() read before the iteration
        self._sent = 0  # the worker's count of rows taken (the cap applies to it)
        self._cut = False
        self._columns: list[str] = []
        self._batch: list[Any] = []  # rows taken, not yet handed over
        self._notify: Callable[[], Any] | None = None
        self._finished = False
        self._started = threading.Event()  # a worker took the read (the pool may be busy)
        self._behind = False  # the reader fell behind past its patience: the rest is buffered
        self._held = 0  # bytes of the budget this stream's queued events hold
        self._held_lock = threading.Lock()
        context = contextvars.copy_context()  # the caller's audit and request context
        _workers().submit(context.run, self._produce, run)

    # -- the worker --------------------------------------------------------------------
    def _produce(self, run: Callable[[float], QueryResult]) -> None:
        """The read, in a worker: ``run(timeout_s)`` with the time the call has left, so a
        read that waited for a worker (every one busy) still ends by the call's deadline;
        one whose reader already gave up does not run at all."""
        self._started.set()
        try:
            left = self._deadline - time.monotonic()
            if self._closed.is_set():
                return
            if left <= 0.05:
                raise QueryTimeout("the query waited for a worker for its whole timeout "
                                   f"({MAX_WORKERS} streamed reads were running)")
            with rows_to(self._take):
                result = run(self._timeout_s if left >= self._timeout_s - 0.05 else left)
            if result.rows:  # a connector that does not stream: its capped rows at once
                with connector_errors():  # the reader gets API errors only (never a 500)
                    self._take(result.columns, result.rows)
            # The last rows travel with the end: a small result is one hand-over.
            self._put(("done", result, self._cut, self._columns, self._batch), self._batch)
        except BaseException as exc:  # handed to the reader, raised there
            if self._closed.is_set():  # nobody is reading (whatever the connector made of _Abandoned)
                return
            try:
                self._put(("error", exc))
            except _Abandoned:
                pass

    def _take(self, columns: Sequence[str], chunk: list[Any]) -> None:
        room = self._max_rows - self._sent
        if len(chunk) > room:  # the row past the cap only tells that the result was truncated
            self._cut = True
            chunk = chunk[:room]
        self._sent += len(chunk)
        self._columns = list(columns)
        self._batch.extend(chunk)
        if len(self._batch) >= HANDOVER_ROWS:
            batch, self._batch = self._batch, []
            self._put(("rows", self._columns, batch), batch)

    def _put(self, event: tuple[Any, ...], rows: list[Any] | None = None) -> None:
        size = 0
        while True:
            if self._closed.is_set():
                raise _Abandoned("the reader closed the stream")
            if not self._behind and time.monotonic() >= self._patience and self._queue.full():
                self._behind = True
                with self._queue.mutex:
                    self._queue.maxsize = 0
            if self._behind and not size and rows:
                # The reader lags: the rest of the result is kept in memory (within the row
                # and byte caps, as a whole read would, and within what all streams may
                # hold for readers behind) so that the read ends within its timeout, the
                # source is freed, and a slow reader still gets every row.
                size = _chunk_size(rows)
                if not _budget.take(size):
                    raise ResultTooLarge(
                        f"the reader fell behind and the rows held for readers behind already reach "
                        f"{BUFFER_BYTES:,} bytes (NLQUERY_STREAM_BUFFER_BYTES): response cut")
                with self._held_lock:
                    if self._closed.is_set():  # closed meanwhile: close() gave back what it saw
                        _budget.give_back(size)
                        raise _Abandoned("the reader closed the stream")
                    self._held += size
                event = (*event, size)
            try:
                self._queue.put(event, timeout=_POLL_S)
            except queue.Full:
                continue
            notify = self._notify  # an event loop waiting for it
            if notify is not None:
                try:
                    notify()
                except RuntimeError:  # its loop is closed: nobody is reading any more
                    pass
            return

    # -- the reader --------------------------------------------------------------------
    def open(self) -> ResultStream:
        """Wait for the first rows (or the end): a failure before any row (the guard, the
        connection, the statement) raises here, before the caller commits to a response."""
        return self._opened(self._next())

    async def aopen(self) -> ResultStream:
        """:meth:`open` for an event loop: waits without blocking it."""
        return self._opened(await self._anext())

    def _opened(self, event: tuple[Any, ...]) -> ResultStream:
        if event[0] == "error":
            self._finished = True
            raise event[1]
        self._ahead.append(event)
        self.columns = event[1] if event[0] == "rows" else event[3] or event[1].columns
        return self

    def __iter__(self) -> Iterator[list[Any]]:
        while not self._finished:
            chunk = self._consume(self._ahead.pop(0) if self._ahead else self._next())
            if chunk:
                yield chunk

    async def achunks(self) -> AsyncIterator[list[Any]]:
        """The chunks, for an event loop (``async for``)."""
        while not self._finished:
            chunk = self._consume(self._ahead.pop(0) if self._ahead else await self._anext())
            if chunk:
                yield chunk

    def _consume(self, event: tuple[Any, ...]) -> list[Any] | None:
        """The rows an event brings (None: none); the end's counts; a failure raised."""
        kind = event[0]
        if kind == "rows":
            _, columns, chunk = event[:3]
            self._release(event[3] if len(event) > 3 else 0)
            self.columns = self.columns or columns
            self.row_count += len(chunk)
            return chunk
        self._finished = True
        if kind == "error":
            raise event[1]
        _, result, cut, columns, last = event[:5]
        self._release(event[5] if len(event) > 5 else 0)
        self.columns = self.columns or columns or result.columns
        self.row_count += len(last)
        self.truncated = cut or result.truncated
        self.execution_time_ms = result.execution_time_ms
        return last

    def rows(self) -> Iterator[Any]:
        """The rows one by one (the chunks flattened)."""
        for chunk in self:
            yield from chunk

    def _next(self) -> tuple[Any, ...]:
        # The worker ends by the query's deadline (the connector's own timeout and watchdog).
        try:
            return self._queue.get(timeout=self._wait_left())
        except queue.Empty:
            self.close()
            raise QueryTimeout("the source sent nothing within the query's timeout") from None

    async def _anext(self) -> tuple[Any, ...]:
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()
        self._notify = lambda: loop.call_soon_threadsafe(woken.set)
        try:
            while True:
                try:
                    event = self._queue.get_nowait()
                except queue.Empty:  # checked again after _notify was set: no hand-over is missed
                    pass
                else:
                    # Even with hand-overs waiting (a reader behind, a result buffered), each
                    # one is a turn of the event loop: other requests go on, and a cancel (the
                    # client went away) lands here instead of after the whole rest was encoded.
                    await asyncio.sleep(0)
                    return event
                try:
                    await asyncio.wait_for(woken.wait(), self._wait_left())
                except asyncio.TimeoutError:
                    self.close()
                    raise QueryTimeout("the source sent nothing within the query's timeout") from None
                woken.clear()
        finally:
            self._notify = None

    def _wait_left(self) -> float:
        # A read no worker took yet gets no grace past its deadline: it never ran, and
        # when a worker takes it, it finds the deadline passed and does not run.
        grace = 2 * _END_GRACE_S if self._started.is_set() else _START_GRACE_S
        return max(0.0, self._deadline - time.monotonic()) + grace

    def _release(self, size: int) -> None:
        if size:
            with self._held_lock:
                self._held -= size
            _budget.give_back(size)

    def close(self) -> None:
        """Stop reading: the worker stops fetching and the connector rolls back."""
        self._closed.set()
        self._finished = True
        while True:  # unblock a worker waiting on a full queue; forget what it held
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        with self._held_lock:
            held, self._held = self._held, 0
        _budget.give_back(held)

    def __enter__(self) -> ResultStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
