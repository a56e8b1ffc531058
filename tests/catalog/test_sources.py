"""Source lifecycle, validation and secrets, on a real SQLite catalog file."""

from __future__ import annotations

import os
import stat

import pytest

from nlquery import Engine
from nlquery.errors import CatalogUnavailable, DataSourceNotFound, InvalidRequest, SecretKeyMismatch

SECRET = "pw-Zq81-never-shown"


def test_add_checks_the_connection_and_extracts_the_schema(shop):
    assert shop["id"].startswith("ds_")
    assert (shop["status"], shop["schema_status"]) == ("connected", "ready")
    assert shop["connection"] == {"database": shop["connection"]["database"], "password_set": False}


def test_get_by_name_or_id_includes_tables(engine, shop):
    by_id = engine.get_source(shop["id"], tables=True)
    by_name = engine.get_source("shop", tables=True)
    assert by_id == by_name
    orders = next(t for t in by_id["tables"] if t["name"] == "orders")
    assert {"name": "id", "type": "int", "nullable": False} == orders["columns"][0]
    assert by_id["schema_version"] == 1


def test_list_update_rename_remove(engine, shop):
    assert [s["name"] for s in engine.list_sources()] == ["shop"]
    updated = engine.update_source("shop", name="store", description="Renamed")
    assert (updated["name"], updated["description"], updated["id"]) == ("store", "Renamed", shop["id"])
    engine.remove_source("store")
    assert engine.list_sources() == []
    with pytest.raises(DataSourceNotFound):
        engine.get_source(shop["id"])


def test_unreachable_source_is_registered_as_disconnected_with_a_reason(engine):
    data = engine.add_source("down", "postgresql", {"host": "127.0.0.1", "port": 1, "database": "x"})
    assert data["status"] == "disconnected" and "refused" in data["status_reason"].lower()
    assert data["schema_status"] == "error"


@pytest.mark.parametrize(
    ("name", "type_name", "connection", "message"),
    [
        ("a", "oracle", {"host": "h"}, "unknown source type 'oracle'"),
        ("a", "postgresql", {"host": "h", "port": "five"}, "connection.port"),
        ("a", "postgresql", {"host": "h", "port": 70000}, "connection.port"),
        ("a", "postgresql", {"hostname": "h"}, "connection.hostname"),
        ("a", "postgresql", {}, "give a url, or host/database"),
        ("a", "postgresql", {"host": "h", "password": "x", "password_env": "Y"}, "not both"),
        ("a", "postgresql", {"host": "h", "password_env": "not a name"}, "connection.password_env"),
        ("bad name!", "sqlite", {"database": "x.db"}, "name:"),
        ("a", "postgresql", "host=h", "connection must be an object"),
    ],
)
def test_bad_input_gets_a_message_per_field(engine, name, type_name, connection, message):
    with pytest.raises(InvalidRequest, match=message):
        engine.add_source(name, type_name, connection)


def test_names_are_unique(engine, shop, shop_path):
    with pytest.raises(InvalidRequest, match="already exists"):
        engine.add_source("shop", "sqlite", {"database": str(shop_path)})


def test_passwords_are_encrypted_at_rest_and_never_returned(engine, nlquery_home):
    data = engine.add_source("pg", "postgresql", {"host": "127.0.0.1", "port": 1, "database": "x",
                                                  "username": "u", "password": SECRET})
    url_data = engine.add_source("pg2", "postgresql", {"url": f"postgresql://u:{SECRET}@127.0.0.1:1/x"})
    assert data["connection"]["password_set"] and url_data["connection"]["password_set"]
    assert SECRET not in repr(engine.list_sources()) + repr(engine.get_source("pg2", tables=True))
    engine.close()
    stored = b"".join(p.read_bytes() for p in nlquery_home.iterdir() if p.name.startswith("catalog.db"))
    assert stored and SECRET.encode() not in stored
    with Engine() as again:  # the same key decrypts it
        assert again._catalog.connection_config(again._catalog.get_source("pg2"))["password"] == SECRET


def test_key_file_is_private(engine, shop, nlquery_home):
    mode = stat.S_IMODE(os.stat(nlquery_home / "secret.key").st_mode)
    assert mode == 0o600


def test_a_different_key_is_a_clear_error_not_garbage(engine, nlquery_home, monkeypatch):
    engine.add_source("pg", "postgresql", {"host": "127.0.0.1", "port": 1, "database": "x", "password": SECRET})
    engine.close()
    monkeypatch.setenv("NLQUERY_SECRET_KEY", "another key entirely")
    with Engine() as other, pytest.raises(SecretKeyMismatch, match="different secret key"):
        other._catalog.connection_config(other._catalog.get_source("pg"))


def test_password_env_is_read_at_connect_time(engine, monkeypatch):
    engine.add_source("pg", "postgresql", {"host": "127.0.0.1", "port": 1, "database": "x",
                                           "password_env": "NLQ_TEST_PW"})
    record = engine._catalog.get_source("pg")
    with pytest.raises(InvalidRequest, match="NLQ_TEST_PW"):
        engine._catalog.connection_config(record)
    monkeypatch.setenv("NLQ_TEST_PW", SECRET)
    assert engine._catalog.connection_config(record)["password"] == SECRET


def test_a_corrupt_catalog_names_the_file(nlquery_home):
    nlquery_home.mkdir(parents=True, exist_ok=True)
    (nlquery_home / "catalog.db").write_bytes(b"this is not a database" * 100)
    with Engine() as engine, pytest.raises(CatalogUnavailable, match=str(nlquery_home / "catalog.db")):
        engine.list_sources()


def test_catalog_from_a_newer_nlquery_is_refused(engine, shop):
    import sqlalchemy as sa

    from nlquery.catalog.store import meta

    with engine._catalog.store.transaction() as conn:
        conn.execute(sa.update(meta).where(meta.c.key == "schema_version").values(value="99"))
    engine.close()
    with Engine() as again, pytest.raises(CatalogUnavailable, match="newer than this nlquery"):
        again.list_sources()


def test_queries_by_name_use_the_pooled_connection(engine, shop):
    first = engine.query("shop", "SELECT COUNT(*) FROM orders")
    assert first.rows == [[10_000]]
    pooled = engine._pool[shop["id"]]
    engine.query(shop["id"], "SELECT 1")
    assert engine._pool[shop["id"]] is pooled


def test_processes_creating_the_key_at_once_all_get_the_whole_same_key(tmp_path):
    # A key file created but not yet written was read as an empty key by a second process
    # ("Fernet key must be 32 url-safe base64-encoded bytes") under serve --workers 4.
    import threading

    from nlquery.catalog.secrets import _key_file

    for round_ in range(20):
        path = tmp_path / f"home{round_}" / "secret.key"
        start = threading.Barrier(8)
        keys: list[bytes] = []

        def read() -> None:
            start.wait()
            keys.append(_key_file(path))

        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(keys)) == 1 and len(keys) == 8 and len(keys[0]) == 44
        assert sorted(p.name for p in path.parent.iterdir()) == ["secret.key"]  # no partial files left
