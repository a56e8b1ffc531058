"""The fault harness: scratch database servers the tests own and a TCP fault proxy.

- :class:`ScratchPostgres`: ``initdb`` + ``pg_ctl`` from the installed PostgreSQL 15, on a
  free port with its own data directory (trust auth, tiny buffers, no fsync); ``crash()``
  is ``kill -9`` of the postmaster and its backends, ``start()`` brings it back on the same
  port and data.
- :class:`ScratchMariaDB`: ``mariadb-install-db`` + ``mariadbd`` the same way.
- :class:`FaultProxy`: a TCP proxy on 127.0.0.1 in front of any of them (or of an HTTP
  server) whose mode can change at any moment: ``pass``, ``latency`` (each chunk delayed),
  ``stall`` (bytes held until the mode changes back), ``drop`` (connections closed),
  ``reset`` (connections reset) and ``blackhole`` (connections accepted, nothing forwarded
  nor answered, ever).

Every loop is bounded in count and time; everything started here is stopped by
``close()`` / ``stop()``, which the fixtures call.

These servers are never the shared ones on 5432/3306.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PG_BIN = Path(os.environ.get("NLQUERY_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
MARIADB_INSTALL = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:g} s")


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # the command may hold spaces and parentheses: fields resume after the last ')'
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _kill9(pid: int) -> None:
    """``kill -9`` of ``pid`` and its children (a crash, not a shutdown)."""
    victims = [pid, *_children(pid)]
    for victim in victims:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    for victim in victims:
        while Path(f"/proc/{victim}").exists() and time.monotonic() < deadline:
            try:
                if Path(f"/proc/{victim}/stat").read_text().split(") ")[1].startswith("Z"):
                    break  # a zombie: dead, waiting for its parent
            except (OSError, IndexError):
                break
            time.sleep(0.02)


def _as_postgres(*args: str) -> list[str]:
    """Run as the postgres OS user when we are root (PostgreSQL refuses to run as root)."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


class ScratchPostgres:
    """A throwaway PostgreSQL cluster: ``url(database)`` connects to it."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"no PostgreSQL server binaries in {PG_BIN}")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="nlq_fault_pg_"))
        self.data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(_as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                                    "--no-sync", "-E", "UTF8", "--locale=C"),
                       check=True, capture_output=True, timeout=120)
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                       "shared_buffers = 16MB\nmax_connections = 60\nfsync = off\n"
                       "full_page_writes = off\nmax_wal_size = 64MB\nlogging_collector = off\n")
        if os.geteuid() == 0:
            shutil.chown(self.data / "postgresql.conf", "postgres", "postgres")
        self.start()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        done = subprocess.run(_as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"),
                                           "-w", "-t", "60", "start"), capture_output=True, text=True, timeout=90)
        if done.returncode:
            log = (self.dir / "log").read_text(errors="replace")[-1500:] if (self.dir / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}{log}")
        wait_for_port(self.port)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def crash(self) -> None:
        """``kill -9`` of the postmaster and every backend: the machine died."""
        pid = self.postmaster_pid()
        if pid is not None:
            _kill9(pid)
            # The dead postmaster may stay a zombie here (nobody reaps it), which the next
            # postmaster would take for a live one: the lock file goes, as after a reboot.
            (self.data / "postmaster.pid").unlink(missing_ok=True)
            for lock in self.dir.glob(".s.PGSQL.*"):
                lock.unlink(missing_ok=True)

    def restart(self) -> None:
        self.crash()
        self.start()

    def execute(self, sql: str, database: str = "postgres") -> list[tuple]:
        """Run ``sql`` as the superuser (autocommit); its rows, if it returns any."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def create_database(self, name: str, statements: list[str] = ()) -> str:
        self.execute(f'CREATE DATABASE "{name}"')
        for sql in statements:
            self.execute(sql, name)
        return self.url(name)

    def stop(self) -> None:
        if self.postmaster_pid() is not None:
            subprocess.run(_as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                                        "-t", "30", "stop"), capture_output=True, timeout=60)
            self.crash()  # whatever pg_ctl left behind
        shutil.rmtree(self.dir, ignore_errors=True)


class ScratchMariaDB:
    """A throwaway MariaDB server (root without a password over TCP)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="nlq_fault_maria_"))
        self.data = self.dir / "data"
        subprocess.run([MARIADB_INSTALL, "--no-defaults", f"--datadir={self.data}", "--user=root", "--skip-test-db",
                        "--auth-root-authentication-method=normal", "--skip-name-resolve"],
                       check=True, capture_output=True, timeout=180)
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [MARIADBD, "--no-defaults", f"--datadir={self.data}", f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--socket={self.dir / 'sock'}", f"--pid-file={self.dir / 'pid'}", "--user=root", "--skip-name-resolve",
             "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=16M", "--skip-log-bin", "--max-connections=60",
             "--performance-schema=off", f"--log-error={self.dir / 'log'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, 60)

    def crash(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def url(self, database: str = "") -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str | None = None) -> list[tuple]:
        """Run ``sql`` as root (autocommit); its rows, if it returns any."""
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root", database=database,
                               autocommit=True, connect_timeout=5)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            conn.close()

    def create_database(self, name: str, statements: list[str] = ()) -> str:
        self.execute(f"CREATE DATABASE `{name}`")
        for sql in statements:
            self.execute(sql, name)
        return self.url(name)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)


MODES = ("pass", "latency", "stall", "drop", "reset", "blackhole")


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of ``upstream_port``; ``mode`` may change any
    time and applies to open connections as well as new ones."""

    MAX_CONNECTIONS = 256
    TICK_S = 0.05

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode = "pass"
        self.latency_s = 0.0
        self.accepted = 0
        self._stop = threading.Event()
        self._pairs: list[tuple[socket.socket, socket.socket | None]] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._spawn(self._accept_loop)

    def set(self, mode: str, latency_s: float = 0.0) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
        self.mode, self.latency_s = mode, latency_s
        if mode in ("drop", "reset"):
            with self._lock:
                pairs, self._pairs = self._pairs, []
            for client, server in pairs:
                self._close(client, reset=mode == "reset")
                if server is not None:
                    self._close(server, reset=mode == "reset")

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    @staticmethod
    def _close(sock: socket.socket, *, reset: bool = False) -> None:
        try:
            if reset:  # RST instead of FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        except OSError:
            pass

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([self._listener], [], [], self.TICK_S * 4)
            if not readable:
                continue
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.mode in ("drop", "reset"):
                self._close(client, reset=self.mode == "reset")
                continue
            with self._lock:
                if len(self._pairs) >= self.MAX_CONNECTIONS:
                    self._close(client)
                    continue
            server = None
            if self.mode != "blackhole":
                try:
                    server = socket.create_connection(self.upstream, timeout=5)
                except OSError:
                    self._close(client)
                    continue
            with self._lock:
                self._pairs.append((client, server))
            self._spawn(self._pipe, client, server)

    def _pipe(self, client: socket.socket, server: socket.socket | None) -> None:
        """Both directions of one connection, until either side closes or the proxy stops."""
        held: dict[socket.socket, list[bytes]] = {client: [], server: []} if server else {client: []}
        peer = {client: server, server: client} if server else {client: None}
        try:
            while not self._stop.is_set():
                sockets = [s for s in peer if s.fileno() >= 0]
                if len(sockets) < len(peer):
                    return
                readable, _, _ = select.select(sockets, [], [], self.TICK_S)
                mode = self.mode
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if mode == "blackhole" or peer[sock] is None:
                        continue  # swallowed: never forwarded, never answered
                    held[sock].append(data)
                if mode in ("stall", "blackhole"):
                    if mode == "blackhole":
                        for queue in held.values():
                            queue.clear()
                    continue
                for sock, queue in held.items():
                    while queue and peer[sock] is not None:
                        if mode == "latency" and self.latency_s:
                            time.sleep(self.latency_s)
                        peer[sock].sendall(queue.pop(0))
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                if (client, server) in self._pairs:
                    self._pairs.remove((client, server))
            self._close(client)
            if server is not None:
                self._close(server)

    def close(self) -> None:
        self._stop.set()
        self._close(self._listener)
        self.set("drop")
        for thread in self._threads:
            thread.join(timeout=2)


class LiveServer:
    """A FastAPI app served by a real uvicorn on 127.0.0.1 in a thread of this process
    (``with LiveServer(app) as base_url:``)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline and self.thread.is_alive():
            time.sleep(0.02)
        if not self.server.started:
            raise RuntimeError("uvicorn did not start")
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


class JsonServer:
    """A tiny HTTP server on 127.0.0.1 answering GET ``path`` with fixed bytes
    (``routes``: path -> body), one thread per connection; ``with JsonServer(...) as port:``."""

    def __init__(self, routes: dict[str, bytes]) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = routes.get(self.path.split("?", 1)[0])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (a capped or timed-out read)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)

    def __enter__(self) -> int:
        self.thread.start()
        return self.port

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
