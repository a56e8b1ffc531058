"""Client-side deadlines for network connectors: a server-side statement timeout
cannot end a wait on a link that no longer carries packets (a blackholed route, a
stalled proxy, a host that vanished without a FIN). These helpers make every call end
by ``timeout_s + GRACE_S`` whatever the network does:

- :class:`DeadlineExecution` (a mixin before :class:`~connectors.base.DBAPIConnector`)
  bounds the wait for the connector's connection lock by the same deadline and hands the
  driver only the time that is left;
- :class:`Watchdog` shuts the connection's socket down (``shutdown(SHUT_RDWR)`` on a
  duplicate of its descriptor, which wakes any thread blocked on it) once the deadline
  passes, so the driver raises a disconnection instead of waiting for TCP to give up;
- :func:`socket_readable` tells a pooled idle connection the server already closed
  (a restart, ``kill -9``): it is dropped before use, so no stale-connection error
  reaches a caller.
"""

from __future__ import annotations

import math
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from connectors.errors import DataSourceDisconnected, QueryTimeout

GRACE_S = 0.5
"""How long past its timeout a call may wait for the server's own cancellation before
the client cuts the connection."""


def connect_timeout_s(timeout_s: float | None, configured: Any, default: float = 10) -> int:
    """Seconds a new connection may take: the source's ``connect_timeout`` (or
    ``default``), never more than the call's timeout, never under libpq's 2 s floor."""
    try:
        own = float(configured) if configured not in (None, "") else default
    except (TypeError, ValueError):
        own = default
    if timeout_s is not None:
        own = min(own, timeout_s)
    return max(2, int(math.ceil(own)))


def socket_readable(fd: int) -> bool:
    """True when an idle connection's socket has something to read: the server closed it
    (EOF) or sent its termination notice. An idle SQL connection that did not LISTEN has
    nothing else to receive."""
    if fd is None or fd < 0:
        return True
    try:
        readable, _, errored = select.select([fd], [], [fd], 0)
    except (OSError, ValueError):
        return True
    return bool(readable or errored)


def shutdown_fd(fd: int) -> None:
    """``shutdown(SHUT_RDWR)`` of the socket behind ``fd`` without taking ownership of it
    (the driver still closes its own descriptor)."""
    try:
        dup = socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return
    try:
        dup.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        dup.close()


class Watchdog:
    """``with Watchdog(deadline, cut):`` calls ``cut()`` from a timer thread if the block
    is still running at the monotonic ``deadline``; ``fired`` says whether it did."""

    def __init__(self, deadline: float, cut: Callable[[], None]) -> None:
        self.deadline, self._cut = deadline, cut
        self.fired = False
        self._done = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
        try:
            self._cut()
        except Exception:  # the cut is best effort: the driver's own error follows
            pass

    def __enter__(self) -> Watchdog:
        self._timer = threading.Timer(max(0.0, self.deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True
        if self._timer is not None:
            self._timer.cancel()


class DeadlineExecution:
    """Mixin (before ``DBAPIConnector``): ``execute`` waits for the connection lock only
    until the call's deadline and runs the statement with the time that is left, so a
    call queued behind a stuck one ends on time too. ``self._deadline`` (monotonic) is
    what ``_connect`` and ``_read_only_rows`` measure against."""

    _deadline: float | None = None

    def execute(self, sql: str, params: Sequence[Any] = (), *, max_rows: int = 1000,
                timeout_s: float = 30.0, **options: Any) -> Any:
        started = time.monotonic()
        lock: Any = self._lock  # type: ignore[attr-defined]
        if not lock.acquire(timeout=max(0.0, timeout_s)):
            raise DataSourceDisconnected(
                f"the source's connection stayed busy for the whole {timeout_s:g} s timeout "
                "(an earlier call is still waiting on it)")
        try:
            left = timeout_s - (time.monotonic() - started)
            if left <= 0.05:
                raise QueryTimeout(f"query cancelled: it ran past its {timeout_s:g} s timeout")
            previous, self._deadline = self._deadline, started + timeout_s
            try:
                return super().execute(sql, params, max_rows=max_rows, timeout_s=left,  # type: ignore[misc]
                                       **options)  # convert=False: the driver's own values
            except QueryTimeout:
                raise QueryTimeout(f"query cancelled: it ran past its {timeout_s:g} s timeout") from None
            finally:
                self._deadline = previous
        finally:
            lock.release()

    def _time_left(self, timeout_s: float) -> float:
        """Seconds to the current call's deadline (``timeout_s`` outside a call)."""
        if self._deadline is None:
            return timeout_s
        return max(0.0, self._deadline - time.monotonic())
