"""Regressions for what an attack run against `nlquery serve` found after the first fixes."""

from __future__ import annotations

import json
import sqlite3

import pytest

from nlquery import Engine
from nlquery.errors import UnsafeQueryError
from tests.service.conftest import make_client


@pytest.fixture
def api(nlquery_home):
    with make_client() as client:
        yield client


def test_rest_base_url_userinfo_and_key_parameters_are_secrets(api, nlquery_home):
    created = api.post("/api/v1/data-sources", json={"name": "rs", "type": "rest_api", "connection": {
        "base_url": "http://alice:B4SEURLPASS@127.0.0.1:1/v1?api_key=BASEURLKEY&x=1",
        "endpoints": {"items": {"path": "/items"}}}})
    assert created.status_code == 201, created.text
    shown = created.text + api.get("/api/v1/data-sources/rs").text + api.get("/api/v1/data-sources").text
    assert "B4SEURLPASS" not in shown and "BASEURLKEY" not in shown
    assert "alice@127.0.0.1:1/v1?x=1" in shown  # the place stays visible
    db = sqlite3.connect(nlquery_home / "catalog.db")
    stored = " ".join(str(v) for row in db.execute("SELECT connection, secret FROM nlq_sources") for v in row)
    db.close()
    assert "B4SEURLPASS" not in stored and "BASEURLKEY" not in stored
    with Engine() as engine:  # the connector still gets them back
        config = engine._catalog.connection_config(engine._catalog.get_source("rs"))
    assert "alice:B4SEURLPASS@" in config["options"]["base_url"] and "api_key=BASEURLKEY" in config["options"]["base_url"]


def test_moving_a_rest_base_url_drops_its_secrets(api):
    created = api.post("/api/v1/data-sources", json={"name": "rs", "type": "rest_api", "connection": {
        "base_url": "http://alice:PW@127.0.0.1:1/v1", "headers": {"X-Api-Key": "K"},
        "endpoints": {"items": {"path": "/items"}}}})
    source_id = created.json()["data"]["id"]
    moved = api.put(f"/api/v1/data-sources/{source_id}", json={"connection": {"base_url": "http://alice@127.0.0.1:2/v1"}})
    assert moved.status_code == 200, moved.text
    with Engine() as engine:
        config = engine._catalog.connection_config(engine._catalog.get_source("rs"))
    assert "headers" not in config["options"] and "PW" not in config["options"]["base_url"]


@pytest.mark.parametrize("sql", ["SELECT * FROM (SUMMARIZE t)", "WITH s AS (SUMMARIZE t) SELECT * FROM s",
                                 "SELECT * FROM (DESCRIBE t)"])
def test_duckdb_summarize_and_describe_are_refused_anywhere(sql):
    from nlquery import validate_sql

    with pytest.raises(UnsafeQueryError):
        validate_sql(sql, dialect="duckdb")


def test_a_remote_postgresql_source_gets_nothing_from_the_servers_environment(api, monkeypatch, tmp_path):
    from tests.security.test_connections import FakePostgres

    monkeypatch.setenv("PGPASSWORD", "PG_ENV_PASSWORD_LEAK")
    service_file = tmp_path / "pg_service.conf"
    service_file.write_text("[evil]\npassword=SERVICE_FILE_PASSWORD\n")
    monkeypatch.setenv("PGSERVICEFILE", str(service_file))
    monkeypatch.setenv("PGSERVICE", "evil")
    server = FakePostgres()
    try:
        response = api.post("/api/v1/data-sources", json={"name": "pg", "type": "postgresql", "connection": {
            "host": "127.0.0.1", "port": server.port, "database": "x", "username": "x"}})
        assert response.status_code == 201, response.text
        assert response.json()["data"]["status"] != "connected"
        assert not [p for p in server.passwords if p]  # nothing from the environment or a service file
        with Engine() as engine:  # the operator's own source still reads libpq's environment, as libpq users expect
            engine.add_source("ops", "postgresql", {"host": "127.0.0.1", "port": server.port, "database": "x",
                                                    "username": "x"}, extract=False)
        assert set(server.passwords) & {"PG_ENV_PASSWORD_LEAK", "SERVICE_FILE_PASSWORD"}
    finally:
        server.close()


@pytest.mark.parametrize("url", ["mongodb+srv://x@cluster.example.com/db", "mongodb://127.0.0.1:1,127.0.0.1:2/db",
                                 "mongodb://127.0.0.1:1/db?replicaSet=rs0"])
def test_remote_mongodb_sources_are_one_host_connected_directly(api, url):
    response = api.post("/api/v1/data-sources", json={"name": "mg", "type": "mongodb", "connection": {"url": url}})
    assert response.status_code == 422, response.text


def test_an_untrusted_mongodb_client_is_direct_and_pinned(monkeypatch):
    pytest.importorskip("pymongo")
    import connectors
    from connectors.egress import EgressPolicy

    seen = {}

    class Recorder:
        def __init__(self, url, **kwargs):
            seen.update(url=url, **kwargs)

        def __getitem__(self, name):
            return self

    import pymongo

    monkeypatch.setattr(pymongo, "MongoClient", Recorder)
    connector = connectors.connect("mongodb", url="mongodb://localhost:27100/db",
                                   egress=EgressPolicy(allow=("127.0.0.1",)), untrusted=True)
    connector.database  # noqa: B018 - builds the client
    assert seen["directConnection"] is True
    assert "127.0.0.1:27100" in seen["url"] and "localhost" not in seen["url"]


@pytest.mark.parametrize("url", ["postgresql+psycopg://postgres@/postgres", "mysql+pymysql://root@/mysql",
                                 "postgresql+psycopg://postgres@:5432/postgres"])
def test_a_url_without_a_host_is_this_machine_to_the_egress_policy(api, monkeypatch, url):
    monkeypatch.delenv("NLQUERY_EGRESS_ALLOW")
    response = api.post("/api/v1/data-sources", json={"name": "sa", "type": "sqlalchemy", "connection": {"url": url}})
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "access_denied"


def test_duckdb_runs_with_bounded_memory_and_threads():
    pytest.importorskip("duckdb_engine")
    import connectors

    connector = connectors.connect(type="sqlalchemy", url="duckdb:///:memory:")
    result = connector.execute("SELECT current_setting('memory_limit') AS m, current_setting('threads') AS t")
    connector.close()
    memory, threads = result.rows[0]
    assert memory.replace(" ", "").upper().startswith(("256", "244")) and int(threads) <= 2


def test_x_forwarded_for_cannot_reset_the_failed_auth_limit(tmp_path):
    import httpx

    from tests.faults.serving import Served

    with Served(env={"NLQUERY_HOME": str(tmp_path / "home"), "NLQUERY_AUTH_FAILURE_LIMIT": "3"}) as served:
        codes = [httpx.get(f"{served.base}/api/v1/data-sources", timeout=10,
                           headers={"Authorization": f"Bearer wrong{i}", "X-Forwarded-For": f"10.9.8.{i}"}).status_code
                 for i in range(6)]
    assert 429 in codes, codes


def test_a_did_you_mean_never_names_a_hidden_column(shop_path):
    from nlquery.errors import InvalidQuery

    with Engine() as engine:
        engine.add_source("shop", "sqlite", {"database": str(shop_path)}, policy={"denied_columns": ["customers.email"]})
        with pytest.raises(InvalidQuery) as raised:
            engine.query("shop", "SELECT emal FROM customers")
    assert "email" not in raised.value.message


@pytest.mark.parametrize("sql, params", [("SELECT $1 AS big", [2**70]), ("SELECT 'a\ud800b' AS lone", [])])
def test_values_a_driver_cannot_send_are_errors_not_500(api, shop_path, sql, params):
    api.post("/api/v1/data-sources", json={"name": "shop", "type": "sqlite", "connection": {"database": str(shop_path)}})
    body = json.dumps({"query": sql, "parameters": params})  # ASCII escapes: \ud800 travels as JSON allows
    response = api.post("/api/v1/data-sources/shop/query", content=body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text


def test_a_source_name_cannot_look_like_an_id(api, shop_path):
    response = api.post("/api/v1/data-sources", json={"name": "ds_0123456789abcdef", "type": "sqlite",
                                                      "connection": {"database": str(shop_path)}})
    assert response.status_code == 422


def test_no_cdn_docs_pages(api):
    assert api.get("/docs").status_code == 404 and api.get("/redoc").status_code == 404
    assert api.get("/openapi.json").status_code == 200
