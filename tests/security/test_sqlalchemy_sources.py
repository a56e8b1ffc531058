"""``sqlalchemy`` sources on PostgreSQL URLs, registered by a token holder.

- libpq fills what a connection leaves unset from this server's environment and home:
  a URL without a password sent the server's ``PGPASSWORD`` (or ``~/.pgpass`` entry) to
  whatever host the tenant named. The ``postgresql`` connector already sent nothing.
- The statement timeout called psycopg's blocking ``cancel()``, which holds the GIL while
  it waits: a host that accepts the cancel request and never answers froze the whole
  server (every tenant, ``/healthz`` included). And nothing ended a read on a stalled
  link: it held its worker thread for good."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

import connectors
from connectors.errors import DataSourceDisconnected
from tests.conftest import scratch_postgres
from tests.security.test_arrow_deadline import StallingProxy, _upstream
from tests.service.conftest import make_client

pytest.importorskip("psycopg")

SERVER_PASSWORD = "the-servers-own-PGPASSWORD"


class PasswordTrap:
    """A PostgreSQL server that asks for a cleartext password, records it and refuses."""

    def __init__(self) -> None:
        self.passwords: list[bytes] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    @staticmethod
    def _read(conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            try:
                while True:
                    length = struct.unpack("!I", self._read(conn, 4))[0]
                    code = struct.unpack("!I", self._read(conn, length - 4)[:4])[0]
                    if code in (80877103, 80877104):  # SSL or GSS request: not here
                        conn.sendall(b"N")
                        continue
                    break
                conn.sendall(b"R" + struct.pack("!II", 8, 3))  # AuthenticationCleartextPassword
                if self._read(conn, 1) == b"p":
                    length = struct.unpack("!I", self._read(conn, 4))[0]
                    self.passwords.append(self._read(conn, length - 4).rstrip(b"\0"))
                error = b"SFATAL\0C28P01\0Mno\0\0"
                conn.sendall(b"E" + struct.pack("!I", len(error) + 4) + error)
            except (EOFError, OSError):
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self._listener.close()


@pytest.mark.parametrize("kind", ["sqlalchemy", "postgresql"])
def test_a_source_registered_over_http_never_gets_this_servers_postgres_password(kind, nlquery_home,
                                                                                 tmp_path, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", SERVER_PASSWORD)
    monkeypatch.setenv("HOME", str(tmp_path))
    pgpass = tmp_path / ".pgpass"
    pgpass.write_text(f"*:*:*:*:{SERVER_PASSWORD}-pgpass\n")
    pgpass.chmod(0o600)
    trap = PasswordTrap()
    try:
        connection = ({"url": f"postgresql+psycopg://alice@127.0.0.1:{trap.port}/shop"} if kind == "sqlalchemy"
                      else {"host": "127.0.0.1", "port": trap.port, "database": "shop", "username": "alice"})
        with make_client() as api:
            created = api.post("/api/v1/data-sources", json={"name": "trap", "type": kind, "connection": connection})
            assert created.status_code == 201, created.text
            answer = api.post("/api/v1/data-sources/trap/query", json={"query": "SELECT 1 AS one"})
            assert answer.status_code in (400, 503), answer.text
    finally:
        trap.close()
    assert not any(SERVER_PASSWORD.encode() in sent for sent in trap.passwords), trap.passwords


@pytest.fixture(scope="module")
def backend():
    pytest.importorskip("psycopg")
    backend = scratch_postgres(with_data=False)
    yield backend
    backend.drop_database()


def test_a_stalled_link_ends_a_sqlalchemy_read_on_time_and_the_server_keeps_running(backend):
    host, port = _upstream(backend)
    proxy = StallingProxy((host, port), b"stall-here")
    database = backend.url.rsplit("/", 1)[1]
    connector = connectors.connect(type="sqlalchemy",
                                   url=f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{database}")
    ticks = [0]
    stop = threading.Event()

    def tick() -> None:  # another thread of the process: it must keep running meanwhile
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.01)

    ticker = threading.Thread(target=tick, daemon=True)
    try:
        assert connector.execute("SELECT 1 AS one", timeout_s=1.0).rows == [[1]]
        ticker.start()
        outcome: dict = {}

        def read() -> None:
            try:
                connector.execute("SELECT 'stall-here' AS x", timeout_s=1.0)
            except Exception as exc:
                outcome["error"] = exc

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(1.0 + 1.0)  # the call's timeout + 1 s
        assert not reader.is_alive(), "the read was still waiting past its timeout + 1 s"
        assert isinstance(outcome.get("error"), DataSourceDisconnected), outcome
        before = ticks[0]
        time.sleep(0.3)
        assert ticks[0] > before, "the rest of the process stopped"
        assert connector.execute("SELECT 2 AS two", timeout_s=5.0).rows == [[2]]  # a new connection
    finally:
        stop.set()
        connector.close()
        proxy.close()
