"""Client-side deadlines for network connectors: a server-side statement timeout
cannot end a wait on a link that no longer carries packets (a blackholed route, a
stalled proxy, a host that vanished without a FIN). These helpers make every call end
by ``timeout_s + GRACE_S`` whatever the network does:

- :class:`DeadlineExecution` (a mixin before :class:`~connectors.base.DBAPIConnector`)
  runs a :class:`Watchdog` around every call, on the call's own pooled connection;
- :class:`Watchdog` shuts the connection's socket down (``shutdown(SHUT_RDWR)`` on a
  duplicate of its descriptor, :func:`shutdown_fd`, which wakes any thread blocked on it)
  once the deadline passes, so the driver raises a disconnection instead of waiting for
  TCP to give up;
- :func:`socket_readable` tells a pooled idle connection the server already closed
  (a restart, ``kill -9``): it is dropped before use, so no stale-connection error
  reaches a caller.

The wait for a pooled connection is bounded by the call's deadline too, and the driver
gets only the time that is left (:meth:`~connectors.base.DBAPIConnector._call`).
"""

from __future__ import annotations

import contextlib
import math
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from connectors.errors import ConnectorError, DataSourceDisconnected

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
    """Mixin (before ``DBAPIConnector``) of connectors reached over a network: a watchdog
    ends every call (query, introspection, ping) by its deadline + :data:`GRACE_S`
    whatever the link does. Past it, :meth:`_shutdown` wakes the thread blocked on the
    call's connection, the connection is dropped (never returned to the pool) and the
    call raises :class:`DataSourceDisconnected`. The connector implements
    ``_shutdown(conn)``; the wait for a pooled connection and the connect are bounded by
    the same deadline (:meth:`~connectors.base.DBAPIConnector._call`)."""

    @contextlib.contextmanager
    def _call(self, timeout_s: float, what: str) -> Iterator[float]:
        with super()._call(timeout_s, what) as left:  # type: ignore[misc]
            lease = self._current_call().lease  # type: ignore[attr-defined]

            def cut() -> None:
                if lease.conn is not None:
                    self._shutdown(lease.conn)

            with Watchdog(time.monotonic() + left + GRACE_S, cut) as watchdog:
                try:
                    yield left
                except ConnectorError:
                    if not watchdog.fired:
                        raise
                    raise DataSourceDisconnected(
                        f"no answer from the source within the {timeout_s:g} s timeout of the {what}: "
                        "connection dropped") from None
                finally:
                    if watchdog.fired:  # its socket is shut down, whatever the call returned
                        self._discard_connection()  # type: ignore[attr-defined]

    def _shutdown(self, conn: Any) -> None:
        """Wake any thread blocked on ``conn`` (shut its socket down); called from the
        watchdog's thread."""
        raise NotImplementedError
