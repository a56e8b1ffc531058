"""A small bounded pool of driver connections per source.

:class:`~connectors.base.DBAPIConnector` checks one connection out per call
(``execute``, ``introspect``, ``ping``) and gives it back after the call's rollback and
session reset, so concurrent calls on one source run side by side on up to ``size``
connections instead of queueing behind a slow one:

- a call waits for a free connection no longer than its own deadline
  (:meth:`ConnectionPool.acquire` returns None then);
- an idle connection is checked with ``usable(conn)`` before it is handed out: one the
  server closed while it sat idle (a restart, ``kill -9``) is closed and replaced, so no
  stale-connection error reaches a caller;
- a connection a call found broken is never given back (:meth:`ConnectionPool.discard`);
- :meth:`ConnectionPool.close` closes the idle connections at once and those in use
  when their call gives them back; later calls open new ones.

Connections open lazily, inside the call that needs one (:meth:`ConnectionPool.connect`),
so the call's deadline bounds the connect as well.

The size is the source's ``pool_size`` option (:func:`pool_size`): default
:data:`DEFAULT_POOL_SIZE` for the built-in network and file connectors, never more than
:data:`MAX_POOL_SIZE`, and no more than the default for sources a remote caller
registered (they may lower it, not raise it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.errors import InvalidConnection

__all__ = ["DEFAULT_POOL_SIZE", "MAX_POOL_SIZE", "ConnectionPool", "Lease", "pool_size"]

DEFAULT_POOL_SIZE = 4
"""Connections per source of the built-in DB-API connectors unless ``pool_size`` says otherwise."""
MAX_POOL_SIZE = 16
"""The most a source's ``pool_size`` may ask for (the service lets at most 16 calls per
source in flight, ``NLQUERY_SOURCE_MAX_IN_FLIGHT``; more connections would only idle)."""


def pool_size(options: Mapping[str, Any], default: int, *, untrusted: bool = False) -> int:
    """The pool size of a source: its ``pool_size`` option, else ``default`` (the
    connector's); clamped to 1..:data:`MAX_POOL_SIZE`, and to 1..``default`` for a source a
    remote caller registered (``untrusted``): a token holder may lower it, but cannot make
    this server hold more connections to a host of their choosing."""
    raw = options.get("pool_size")
    if raw in (None, ""):
        return default
    try:
        wanted = int(str(raw))
    except ValueError:
        raise InvalidConnection(f"pool_size must be a whole number of connections, got {raw!r}") from None
    ceiling = min(default, MAX_POOL_SIZE) if untrusted else MAX_POOL_SIZE
    return max(1, min(wanted, ceiling))


@dataclass
class Lease:
    """One call's claim on the pool: a slot, and the connection in it once opened."""

    conn: Any = None
    generation: int = 0


class ConnectionPool:
    """At most ``size`` connections, opened by ``connect()``, checked by ``usable(conn)``
    before reuse and closed by ``close_conn(conn)`` (which must not raise)."""

    def __init__(self, size: int, *, connect: Callable[[], Any], usable: Callable[[Any], bool],
                 close_conn: Callable[[Any], None]) -> None:
        self.size = size
        self._connect, self._usable, self._close = connect, usable, close_conn
        self._idle: list[tuple[Any, int]] = []  # (connection, generation), the last returned on top
        self._leased = 0
        self._generation = 0  # bumped by close(): older connections are closed when returned
        self._cond = threading.Condition()

    @property
    def idle(self) -> int:
        return len(self._idle)

    @property
    def leased(self) -> int:
        return self._leased

    def acquire(self, timeout_s: float) -> Lease | None:
        """A lease on a connection slot, waiting at most ``timeout_s`` for one (None when
        every slot stayed busy). The lease holds the most recently used idle connection
        that is still usable, or none (:meth:`connect` opens one)."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            while self._leased >= self.size:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            self._leased += 1
            lease = Lease(generation=self._generation)
            stale = []
            while self._idle and lease.conn is None:
                conn, generation = self._idle.pop()
                if generation == self._generation:
                    lease.conn = conn
                else:
                    stale.append(conn)
        # Outside the lock: a usability check is a syscall, a close may wait on the network.
        for conn in stale:
            self._close(conn)
        if lease.conn is not None and not self._usable(lease.conn):
            self._close(lease.conn)  # the server closed it while idle: the call opens a new one
            lease.conn = None
        return lease

    def connect(self, lease: Lease) -> Any:
        """The lease's connection, opened now if it has none."""
        if lease.conn is None:
            generation = self._generation
            lease.conn, lease.generation = self._connect(), generation
        return lease.conn

    def release(self, lease: Lease) -> None:
        """Give the slot back; its connection goes back to the idle ones unless the
        pool was closed since it was opened (then it is closed)."""
        conn, lease.conn = lease.conn, None
        with self._cond:
            self._leased -= 1
            if conn is not None and lease.generation == self._generation:
                self._idle.append((conn, lease.generation))
                conn = None
            self._cond.notify()
        if conn is not None:
            self._close(conn)

    def discard(self, lease: Lease) -> None:
        """The lease's connection is broken: close it now; the slot stays the lease's (a
        later :meth:`connect` in the same call opens a new connection)."""
        conn, lease.conn = lease.conn, None
        if conn is not None:
            self._close(conn)

    def close(self) -> None:
        """Close every idle connection now and every leased one when it is given back;
        later calls open new connections."""
        with self._cond:
            idle, self._idle = self._idle, []
            self._generation += 1
        for conn, _ in idle:
            self._close(conn)
