"""What a token holder registers cannot reach the server's secrets, files or network.

Each test replays one attack class through the HTTP API (a remote caller) and asserts
that nothing was delivered, read or created: a fake PostgreSQL server records every
password offered to it, the catalog file is read back raw to find secrets in clear.
"""

from __future__ import annotations

import socket
import sqlite3
import struct
import threading

import pytest

from nlquery import Engine
from tests.service.conftest import make_client


class FakePostgres:
    """A PostgreSQL wire server that asks for a cleartext password and records it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.passwords: list[str] = []
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError
            data += chunk
        return data

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            while True:  # SSL / GSS requests first: refuse them
                length, code = struct.unpack("!ii", self._read(conn, 8))
                self._read(conn, length - 8)
                if code in (80877103, 80877104):
                    conn.sendall(b"N")
                    continue
                break
            conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
            kind = self._read(conn, 1)
            (length,) = struct.unpack("!i", self._read(conn, 4))
            body = self._read(conn, length - 4)
            if kind == b"p":
                self.passwords.append(body.rstrip(b"\x00").decode())
            message = b"SFATAL\x00C28P01\x00Mpassword authentication failed\x00\x00"
            conn.sendall(b"E" + struct.pack("!i", len(message) + 4) + message)
        except (OSError, ConnectionError, struct.error):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def fake_postgres():
    server = FakePostgres()
    yield server
    server.close()


@pytest.fixture
def api(nlquery_home):
    with make_client() as client:
        yield client


def _register(api, name, type_, connection, **extra):
    return api.post("/api/v1/data-sources", json={"name": name, "type": type_, "connection": connection, **extra})


def test_password_env_is_refused_over_http_and_nothing_is_sent(api, fake_postgres, monkeypatch):
    monkeypatch.setenv("NLQUERY_SECRET_KEY", "the-server-key-that-must-not-leak")
    response = _register(api, "evil", "postgresql", {"host": "127.0.0.1", "port": fake_postgres.port,
                                                     "database": "x", "username": "x",
                                                     "password_env": "NLQUERY_SECRET_KEY"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert "password_env" in response.json()["error"]["message"]
    assert fake_postgres.connections == 0 and fake_postgres.passwords == []


def test_password_env_stays_available_to_the_operator(nlquery_home, fake_postgres, monkeypatch):
    monkeypatch.setenv("OPERATOR_DB_PASSWORD", "operator-secret")
    with Engine() as engine:
        source = engine.add_source("ops", "postgresql", {"host": "127.0.0.1", "port": fake_postgres.port,
                                                         "database": "x", "username": "x",
                                                         "password_env": "OPERATOR_DB_PASSWORD"}, extract=False)
    assert source["connection"]["password_env"] == "OPERATOR_DB_PASSWORD"
    assert fake_postgres.passwords == ["operator-secret"]  # the operator's own choice, delivered


@pytest.mark.parametrize("change", [{"port": None}, {"host": "localhost"}, {"database": "other"},
                                    {"username": "someone"}])
def test_moving_a_connection_without_its_secret_drops_the_secret(api, fake_postgres, change):
    victim = FakePostgres()  # where the password belongs
    try:
        created = _register(api, "db", "postgresql", {"host": "127.0.0.1", "port": victim.port, "database": "x",
                                                      "username": "x", "password": "s3cret-password"})
        assert created.status_code == 201, created.text
        assert victim.passwords == ["s3cret-password"]
        move = {key: (fake_postgres.port if key == "port" else value) for key, value in change.items()}
        if "port" not in move:
            move["port"] = fake_postgres.port
        updated = api.put(f"/api/v1/data-sources/{created.json()['data']['id']}", json={"connection": move})
        assert updated.status_code == 200, updated.text
        assert updated.json()["data"]["connection"]["password_set"] is False
        assert "s3cret-password" not in fake_postgres.passwords
    finally:
        victim.close()


def test_a_new_secret_in_the_same_request_moves_with_the_connection(api, fake_postgres):
    created = _register(api, "db", "postgresql", {"host": "127.0.0.1", "port": 1, "database": "x",
                                                  "username": "x", "password": "old"})
    source_id = created.json()["data"]["id"]
    api.put(f"/api/v1/data-sources/{source_id}",
            json={"connection": {"port": fake_postgres.port, "password": "new-password"}})
    assert fake_postgres.passwords == ["new-password"]


def test_changing_only_the_description_keeps_the_secret(api, fake_postgres):
    created = _register(api, "db", "postgresql", {"host": "127.0.0.1", "port": fake_postgres.port,
                                                  "database": "x", "username": "x", "password": "keep-me"})
    source_id = created.json()["data"]["id"]
    api.put(f"/api/v1/data-sources/{source_id}", json={"description": "renamed"})
    api.put(f"/api/v1/data-sources/{source_id}", json={"connection": {"options": {"sslmode": "disable"}}})
    assert fake_postgres.passwords == ["keep-me", "keep-me"]


@pytest.mark.parametrize("option", ["passfile", "service", "servicefile", "sslpassword", "sslkey", "sslcert",
                                    "sslrootcert", "hostaddr", "options"])
def test_libpq_options_that_read_files_are_refused_from_remote_callers(api, fake_postgres, option):
    response = _register(api, "db", "postgresql", {"host": "127.0.0.1", "port": fake_postgres.port,
                                                   "database": "x", "options": {option: "/etc/shadow"}})
    assert response.status_code == 422
    assert option in response.json()["error"]["message"]
    assert fake_postgres.connections == 0


@pytest.mark.parametrize("url", [
    "mysql+pymysql://x@127.0.0.1:1/x?local_infile=1",
    "mysql+pymysql://x@127.0.0.1:1/x?read_default_file=/etc/mysql/debian.cnf",
    "postgresql+psycopg://x@127.0.0.1:1/x?passfile=/etc/shadow",
    "duckdb:///:memory:?access_mode=read_write&enable_external_access=true",
])
def test_sqlalchemy_url_parameters_are_filtered_for_remote_callers(api, url):
    response = _register(api, "db", "sqlalchemy", {"url": url})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://x@db.example.com:5432/x?sslmode=require&connect_timeout=5",
    "mysql+pymysql://x@db.example.com:3306/x?charset=utf8mb4",
])
def test_sqlalchemy_url_parameters_a_remote_caller_may_set_are_accepted(url):
    from connectors.sqlalchemy import SQLAlchemyConnection

    SQLAlchemyConnection(url=url).check_remote()  # raises ValueError on a refused parameter
    with pytest.raises(ValueError, match="passfile"):
        SQLAlchemyConnection(url=url + "&passfile=/etc/shadow").check_remote()


def test_mysql_local_infile_is_off_even_for_the_operator():
    import connectors
    from connectors.sqlalchemy import SQLAlchemyConnector

    connector = connectors.connect(url="mysql+pymysql://x@127.0.0.1:1/x?local_infile=1", type="sqlalchemy")
    assert isinstance(connector, SQLAlchemyConnector)
    assert "local_infile" not in connector.url.query
    pool_args = connector._engine.dialect.create_connect_args(connector.url)[1]
    assert not pool_args.get("local_infile")


def test_duckdb_url_cannot_undo_the_hardening(tmp_path):
    pytest.importorskip("duckdb_engine")
    import connectors

    secret_file = tmp_path / "secret.csv"
    secret_file.write_text("a\n42\n")
    connector = connectors.connect(
        type="sqlalchemy", url="duckdb:///:memory:?access_mode=read_write&enable_external_access=true")
    with pytest.raises(connectors.ConnectorError):  # run around the guard: the session itself refuses
        connector.execute(f"SELECT * FROM read_csv('{secret_file}')")
    connector.close()


def test_a_source_cannot_open_the_catalog(api, nlquery_home):
    for connection in ({"database": str(nlquery_home / "catalog.db")},
                       {"url": f"sqlite:///{nlquery_home / 'catalog.db'}"}):
        response = _register(api, "cat", "sqlite", connection)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "access_denied"
    response = _register(api, "key", "sqlalchemy", {"url": f"sqlite:///{nlquery_home / 'secret.key'}"})
    assert response.status_code == 403


def test_the_operator_cannot_point_a_source_at_the_catalog_either(nlquery_home):
    from nlquery.errors import AccessDenied

    with Engine() as engine:
        engine.list_sources()  # creates the catalog
        with pytest.raises(AccessDenied):
            engine.add_source("cat", "sqlite", {"database": str(nlquery_home / "catalog.db")})


def test_file_sources_need_nlquery_data_dirs(api, shop_path, monkeypatch, tmp_path):
    monkeypatch.delenv("NLQUERY_DATA_DIRS")
    refused = _register(api, "shop", "sqlite", {"database": str(shop_path)})
    assert refused.status_code == 403 and "NLQUERY_DATA_DIRS" in refused.json()["error"]["message"]

    allowed_dir = tmp_path / "data"
    allowed_dir.mkdir()
    monkeypatch.setenv("NLQUERY_DATA_DIRS", str(allowed_dir))
    outside = _register(api, "shop", "sqlite", {"database": str(shop_path)})
    assert outside.status_code == 403
    link = allowed_dir / "link.db"
    link.symlink_to(shop_path)  # a symlink inside must not lead outside
    assert _register(api, "shop", "sqlite", {"database": str(link)}).status_code == 403
    copy = allowed_dir / "shop.db"
    copy.write_bytes(shop_path.read_bytes())
    assert _register(api, "shop", "sqlite", {"database": str(copy)}).status_code == 201


@pytest.mark.parametrize("url", ["sqlite:///{dir}/new.db", "duckdb:///{dir}/new.duckdb"])
def test_nothing_ever_creates_a_file(api, tmp_path, url):
    if url.startswith("duckdb"):
        pytest.importorskip("duckdb_engine")
    target = tmp_path / "fresh"
    target.mkdir()
    response = _register(api, "f", "sqlalchemy", {"url": url.format(dir=target)})
    assert response.status_code in (201, 422), response.text
    assert list(target.iterdir()) == []
    with Engine() as engine:  # the operator's registration opens read-only too
        engine.add_source("local", "sqlalchemy", {"url": url.format(dir=target)}, extract=False)
    assert list(target.iterdir()) == []


def test_relative_paths_become_absolute_at_registration(nlquery_home, shop_path, monkeypatch):
    monkeypatch.chdir(shop_path.parent)
    with Engine() as engine:
        source = engine.add_source("rel", "sqlite", {"database": shop_path.name}, extract=False)
        url_source = engine.add_source("relurl", "sqlite", {"url": f"sqlite:///{shop_path.name}"}, extract=False)
    assert source["connection"]["database"] == str(shop_path.resolve())
    assert url_source["connection"]["database"] == str(shop_path.resolve())
    monkeypatch.chdir("/")
    with Engine() as engine:
        assert engine.query("rel", "SELECT COUNT(*) FROM products").rows == [[144]]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "0.0.0.0", "2130706433", "169.254.169.254", "[::1]"])
def test_internal_hosts_are_refused_to_remote_callers(api, monkeypatch, fake_postgres, host):
    monkeypatch.delenv("NLQUERY_EGRESS_ALLOW")
    response = _register(api, "db", "postgresql", {"host": host.strip("[]"), "port": fake_postgres.port,
                                                   "database": "x", "password": "p"})
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "access_denied"
    assert fake_postgres.connections == 0


def test_egress_allow_lets_the_operator_open_local_servers(api, monkeypatch, fake_postgres):
    monkeypatch.setenv("NLQUERY_EGRESS_ALLOW", "127.0.0.1")
    response = _register(api, "db", "postgresql", {"host": "127.0.0.1", "port": fake_postgres.port,
                                                   "database": "x", "password": "p"})
    assert response.status_code == 201
    assert fake_postgres.passwords == ["p"]


SECRET_BEARING = [
    ("postgresql", {"url": "postgresql://x:hunter2-url@127.0.0.1:1/x"}, "hunter2-url"),
    ("postgresql", {"url": "postgresql://x@127.0.0.1:1/x?password=hunter2-query"}, "hunter2-query"),
    ("postgresql", {"host": "127.0.0.1", "port": 1, "database": "x", "options": {"password": "hunter2-opt"}},
     "hunter2-opt"),
    ("rest_api", {"base_url": "http://127.0.0.1:1/v1",
                  "endpoints": {"users": {"path": "/users", "params": {"api_key": "hunter2-param"}}}},
     "hunter2-param"),
    ("rest_api", {"base_url": "http://127.0.0.1:1/v1", "headers": {"X-Api-Key": "hunter2-header"},
                  "endpoints": {"users": {"path": "/users"}}}, "hunter2-header"),
]


@pytest.mark.parametrize(("type_", "connection", "secret"), SECRET_BEARING)
def test_secrets_outside_the_password_field_are_encrypted_and_never_shown(api, nlquery_home, type_, connection,
                                                                            secret):
    created = _register(api, "s", type_, connection)
    assert created.status_code == 201, created.text
    source_id = created.json()["data"]["id"]
    shown = [created.text, api.get(f"/api/v1/data-sources/{source_id}").text, api.get("/api/v1/data-sources").text]
    assert not any(secret in text for text in shown)
    db = sqlite3.connect(nlquery_home / "catalog.db")
    stored = db.execute("SELECT connection, secret FROM nlq_sources").fetchall()
    db.close()
    assert stored and not any(secret in (text or "") for row in stored for text in row)
    for raw in nlquery_home.iterdir():  # the WAL too
        assert secret.encode() not in raw.read_bytes() if raw.is_file() else True


def test_stored_secrets_outside_the_password_reach_the_connector(nlquery_home):
    with Engine() as engine:
        engine.add_source("s", "postgresql", {"url": "postgresql://x@127.0.0.1:1/x?password=pw&sslmode=disable",
                                              "options": {"api_token": "tok"}}, extract=False)
        config = engine._catalog.connection_config(engine._catalog.get_source("s"))
    assert config.get("password") == "pw" or "password=pw" in config["url"]
    assert config["options"]["api_token"] == "tok"


def test_catalog_wal_and_key_files_are_private(nlquery_home):
    import stat

    with Engine() as engine:
        engine.add_source("s", "postgresql", {"host": "127.0.0.1", "port": 1, "password": "p"}, extract=False)
        files = [p for p in nlquery_home.iterdir() if p.is_file()]
        assert {"catalog.db", "secret.key"} <= {p.name for p in files}
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
