"""Arrow reads of PostgreSQL (ADBC) end by their deadline whatever the link does.

A source's host is whatever a token holder registered: a server (or a proxy) that
accepts a connection and then stops sending must not hold the reading thread past the
call's timeout. ADBC hides its libpq socket, and a cancel request travels a second
connection to that same unresponsive host, so the watchdog must shut the socket itself,
as the psycopg path does; otherwise each such call holds a worker thread for good, and a
few dozen of them starve every other tenant's requests."""

from __future__ import annotations

import socket
import threading
import time

import pytest

import connectors
from connectors.errors import DataSourceDisconnected
from tests.conftest import scratch_postgres

pytest.importorskip("pyarrow")
pytest.importorskip("adbc_driver_postgresql")

TIMEOUT_S = 1.5
BOUND_S = TIMEOUT_S + 1.0  # no call waits past its timeout + 1 s


class StallingProxy:
    """A TCP proxy to ``upstream`` that, once a client sends bytes containing
    ``marker``, stops forwarding the server's answers on that connection (the kernel
    still acknowledges: keepalives and TCP timeouts never fire)."""

    def __init__(self, upstream: tuple[str, int], marker: bytes) -> None:
        self.upstream, self.marker = upstream, marker
        self.stalled = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self._sockets += [client, server]
            stalled = threading.Event()
            threading.Thread(target=self._pump, args=(client, server, stalled, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, stalled, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, stalled: threading.Event, upstream: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    return
                if upstream and self.marker in data:
                    stalled.set()
                    self.stalled.set()
                if not upstream and stalled.is_set():
                    continue  # read and dropped: the client never hears back
                dst.sendall(data)
        except OSError:
            return

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass


@pytest.fixture(scope="module")
def backend():
    backend = scratch_postgres(with_data=False)
    yield backend
    backend.drop_database()


def _through(backend, proxy: StallingProxy):
    head, _, tail = backend.url.rpartition(":")
    return connectors.connect(type="postgresql", url=f"{head}:{proxy.port}/{tail.split('/', 1)[1]}")


def _bounded(fn):
    """(returned within BOUND_S, the exception raised or None)."""
    box: dict = {}

    def run():
        try:
            fn()
        except Exception as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BOUND_S)
    return not thread.is_alive(), box.get("error")


def test_a_server_that_stops_answering_mid_query_ends_the_arrow_read_on_time(backend):
    proxy = StallingProxy(_upstream(backend), b"stall-here")
    connector = _through(backend, proxy)
    try:
        assert connector.execute_arrow("SELECT 1 AS one", timeout_s=TIMEOUT_S).column("one").to_pylist() == [1]
        returned, error = _bounded(lambda: connector.execute_arrow("SELECT 'stall-here' AS x", timeout_s=TIMEOUT_S))
        assert proxy.stalled.is_set()
        assert returned, "the Arrow read was still waiting past its timeout + 1 s"
        assert isinstance(error, DataSourceDisconnected), error
        # The dropped connection is not reused: the next call (a fresh connection) works.
        assert connector.execute_arrow("SELECT 2 AS two", timeout_s=TIMEOUT_S).column("two").to_pylist() == [2]
    finally:
        connector.close()
        proxy.close()


def test_a_server_that_stalls_while_adbc_connects_ends_the_read_on_time(backend):
    # ADBC reads the server's type catalog after libpq connected (connect_timeout no
    # longer applies): a server stalling there must not hang the call either.
    proxy = StallingProxy(_upstream(backend), b"typreceive")
    connector = _through(backend, proxy)
    try:
        started = time.monotonic()
        returned, error = _bounded(lambda: connector.execute_arrow("SELECT 1 AS one", timeout_s=TIMEOUT_S))
        assert proxy.stalled.is_set()
        assert returned, f"the connect was still waiting after {time.monotonic() - started:.1f} s"
        assert isinstance(error, DataSourceDisconnected), error
    finally:
        connector.close()
        proxy.close()


def test_concurrent_first_connections_each_know_their_socket(backend):
    # Connections opened at once to one server: each read still ends on time.
    proxy = StallingProxy(_upstream(backend), b"stall-here")
    connector = _through(backend, proxy)
    try:
        outcomes: list = []

        def one():
            outcomes.append(_bounded(lambda: connector.execute_arrow("SELECT 'stall-here' AS x",
                                                                     timeout_s=TIMEOUT_S)))

        threads = [threading.Thread(target=one) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(outcomes) == 6
        for returned, error in outcomes:
            assert returned, "an Arrow read was still waiting past its timeout + 1 s"
            assert isinstance(error, DataSourceDisconnected), error
    finally:
        connector.close()
        proxy.close()


def _upstream(backend) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(backend.url)
    return parts.hostname or "127.0.0.1", parts.port or 5432
