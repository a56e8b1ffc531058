"""ConnectionConfig, the registry and connect(): the contract third parties rely on."""

import pytest

import connectors
from connectors import registry
from connectors.base import ConnectionConfig, Connector


def test_url_is_parsed_into_fields():
    config = ConnectionConfig.from_url("postgresql://read%40er:p%2Fss@db.example:6432/sales?sslmode=require")
    assert (config.host, config.port, config.database) == ("db.example", 6432, "sales")
    assert (config.username, config.password) == ("read@er", "p/ss")
    assert config.options == {"sslmode": "require"}


@pytest.mark.parametrize(
    ("url", "database"),
    [("sqlite:////abs/shop.db", "/abs/shop.db"), ("sqlite:///rel/shop.db", "rel/shop.db")],
)
def test_sqlite_urls_name_the_file(url, database):
    assert ConnectionConfig.from_url(url).database == database


def test_fields_override_the_url_and_unknown_keys_become_options():
    config = ConnectionConfig.build("mysql://u@h:3306/a", database="b", charset="latin1")
    assert config.database == "b" and config.options == {"charset": "latin1"}


def test_password_never_in_repr():
    config = ConnectionConfig.build(host="h", password="hunter2-secret")
    assert "hunter2-secret" not in repr(config)


@pytest.mark.parametrize("url", ["nothing-here", "postgresql://h:notaport/db"])
def test_malformed_urls_are_invalid_connections(url):
    with pytest.raises(connectors.InvalidConnection):
        ConnectionConfig.build(url)


def test_builtin_types_are_available():
    assert {"sqlite", "postgresql", "mysql"} <= set(connectors.available())


def test_scheme_aliases_resolve():
    assert registry.type_from_url("postgres://h/db") == "postgresql"
    assert registry.type_from_url("mariadb://h/db") == "mysql"


def test_unknown_type_lists_the_available_ones():
    with pytest.raises(connectors.InvalidConnection, match="available: .*sqlite"):
        connectors.connect("cobol", host="h")


def test_third_party_connector_registers_and_connects():
    class EchoConnector:
        type_name, dialect, paramstyle = "echo", "postgres", "format"

        def __init__(self, config):
            self.config = config

        def introspect(self, *, schemas=None, progress=None):
            return connectors.Schema()

        def execute(self, sql, params=(), *, max_rows=1000, timeout_s=30.0):
            return connectors.QueryResult(["sql"], [[sql]], 1, 0.0)

        def ping(self):
            pass

        def close(self):
            pass

    registry.register("echo", EchoConnector)
    try:
        conn = connectors.connect("echo", host="anywhere")
        assert isinstance(conn, Connector)
        assert "echo" in connectors.available()
        from nlquery import Engine

        assert Engine().query(conn, "SELECT $1", ["x"]).rows == [["SELECT %s LIMIT 1001"]]
    finally:
        registry._extra.pop("echo")


def test_missing_sqlite_file_is_disconnected_not_created(tmp_path):
    missing = tmp_path / "absent.db"
    with pytest.raises(connectors.DataSourceDisconnected, match="not found"):
        connectors.connect("sqlite", database=str(missing)).execute("SELECT 1")
    assert not missing.exists()
