"""The routes the console reads through (tenant-scoped, with scopes, in OpenAPI):
GET semantic-mappings, schema search, value hints, the last refresh's diff and
POST test-connection, over the real service (FastAPI's TestClient)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from nlquery import Engine
from nlquery.service import Settings, create_app

ADMIN = "routes-admin-token"


class World:
    def __init__(self, client, tokens, source):
        self.client, self.tokens, self.source = client, tokens, source

    def get(self, who, path, **params):
        return self.client.get(f"/api/v1/data-sources/{self.source['id']}{path}", params=params,
                               headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def post(self, who, path, **kwargs):
        return self.client.post(f"/api/v1/data-sources/{self.source['id']}{path}",
                                headers={"Authorization": f"Bearer {self.tokens[who]}"}, **kwargs)


def wait_ready(client, source_id, token, *, after_version=None):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        data = client.get(f"/api/v1/data-sources/{source_id}",
                          headers={"Authorization": f"Bearer {token}"}).json()["data"]
        if data["schema_status"] != "extracting":
            return data
        time.sleep(0.05)
    raise AssertionError("extraction did not finish")


@pytest.fixture
def world(nlquery_home, shop_path):
    setup = Engine()
    tokens = {name: setup.create_token(name, tenant=tenant, scopes=scopes, policy=policy)["token"]
              for name, tenant, scopes, policy in [
                  ("a", "acme", None, None),
                  ("b", "beta", None, None),
                  ("a_read", "acme", ["sources:read"], None),
                  ("a_query", "acme", ["query", "ask"], None),
                  ("a_narrow", "acme", ["sources:read"],
                   {"denied_columns": ["orders.status", "products.colour", "customers.email"]}),
              ]}
    setup.close()
    tokens["admin"] = ADMIN
    engine = Engine()
    app = create_app(engine, Settings(tokens=ADMIN, redis_url=None))
    with TestClient(app) as client:
        response = client.post("/api/v1/data-sources", headers={"Authorization": f"Bearer {tokens['a']}"},
                               json={"name": "shop", "type": "sqlite", "connection": {"database": str(shop_path)}})
        assert response.status_code == 201, response.text
        source = wait_ready(client, response.json()["data"]["id"], tokens["a"])
        assert source["schema_status"] == "ready"
        yield World(client, tokens, source)


def test_mappings_are_read_with_the_read_scope_and_hidden_ones_left_out(world):
    patch = world.client.patch(f"/api/v1/data-sources/{world.source['id']}/semantic-mappings",
                               headers={"Authorization": f"Bearer {world.tokens['a']}"},
                               json={"mappings": {"customers": {"synonyms": ["clients"]},
                                                  "customers.email": {"description": "where we write"}}})
    assert patch.status_code == 200, patch.text
    read = world.get("a_read", "/semantic-mappings")
    assert read.status_code == 200, read.text
    assert read.json()["data"]["mappings"]["customers"]["synonyms"] == ["clients"]
    assert "customers.email" in read.json()["data"]["mappings"] and read.json()["data"]["stale"] == []
    # the read-only token may read but not change them
    denied = world.client.patch(f"/api/v1/data-sources/{world.source['id']}/semantic-mappings",
                                headers={"Authorization": f"Bearer {world.tokens['a_read']}"},
                                json={"mappings": {}})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "access_denied"
    # a token whose overlay hides customers.email sees neither the column nor its mapping
    narrow = world.get("a_narrow", "/semantic-mappings").json()["data"]["mappings"]
    assert "customers" in narrow and "customers.email" not in narrow
    assert world.get("a_query", "/semantic-mappings").status_code == 403


@pytest.mark.parametrize("method,path,params", [
    ("GET", "/semantic-mappings", {}), ("GET", "/schema/search", {"q": "customers"}),
    ("GET", "/value-hints", {}), ("GET", "/schema/diff", {}), ("POST", "/test-connection", {}),
])
def test_another_tenant_gets_404_and_a_token_without_the_scope_403(world, method, path, params):
    call = world.get if method == "GET" else world.post
    other = call("b", path, **({"params": params} if method == "POST" else params))
    assert other.status_code == 404 and other.json()["error"]["code"] == "data_source_not_found"
    scoped = call("a_query", path, **({"params": params} if method == "POST" else params))
    assert scoped.status_code == 403 and scoped.json()["error"]["code"] == "access_denied"
    mine = call("a", path, **({"params": params} if method == "POST" else params))
    assert mine.status_code == 200, mine.text
    by_name = world.client.request(method, f"/api/v1/data-sources/shop{path}", params=params,
                                   headers={"Authorization": f"Bearer {world.tokens['a']}"})
    assert by_name.status_code == 200, by_name.text
    assert call("admin", path, **({"params": params} if method == "POST" else params)).status_code == 200


def test_schema_search_is_the_linker_behind_mcp_search_schema(world):
    found = world.get("a_read", "/schema/search", q="customers who signed up", limit=3)
    assert found.status_code == 200, found.text
    data = found.json()["data"]
    assert data["query"] == "customers who signed up"
    assert data["tables"][0]["table"] == "customers"
    assert len(data["tables"]) <= 3
    assert {"name", "type"} <= set(data["tables"][0]["columns"][0])
    # the same answer as the Engine's search_schema (what MCP's tool returns)
    with Engine() as engine:
        assert [t["table"] for t in engine.search_schema("shop", "customers who signed up", limit=3)] == \
            [t["table"] for t in data["tables"]]
    # hidden columns are left out for a token whose overlay hides them
    narrow = world.get("a_narrow", "/schema/search", q="customers email", limit=5).json()["data"]["tables"]
    customers = next(t for t in narrow if t["table"] == "customers")
    assert "email" not in [c["name"] for c in customers["columns"]]
    for bad in ({}, {"q": ""}, {"q": "x", "limit": 0}, {"q": "x", "limit": 21}):
        refused = world.get("a_read", "/schema/search", **bad)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request", bad


def test_value_hints_leave_out_hidden_columns(world):
    hints = world.get("a_read", "/value-hints")
    assert hints.status_code == 200, hints.text
    values = hints.json()["data"]["value_hints"]
    assert "orders.status" in values and "paid" in [str(v).lower() for v in values["orders.status"]]
    narrow = world.get("a_narrow", "/value-hints").json()["data"]["value_hints"]
    assert "orders.status" not in narrow
    assert set(narrow) == set(values) - {"orders.status"}


def test_schema_diff_is_the_last_refresh_s_and_hides_what_the_token_may_not_see(world, shop_path):
    first = world.get("a_read", "/schema/diff")
    assert first.status_code == 200, first.text
    data = first.json()["data"]
    assert data["schema_version"] == 1 and data["created_at"]
    assert {"customers", "orders", "products"} <= set(data["diff"]["tables_added"])

    with contextlib.closing(sqlite3.connect(shop_path)) as db:
        db.execute("CREATE TABLE returns (id INTEGER PRIMARY KEY, order_id INTEGER, reason TEXT)")
        db.execute("ALTER TABLE products ADD COLUMN colour TEXT")
        db.commit()
    assert world.post("a", "/refresh-schema").status_code == 202
    assert wait_ready(world.client, world.source["id"], world.tokens["a"])["schema_status"] == "ready"
    after = world.get("a_read", "/schema/diff").json()["data"]
    assert after["schema_version"] == 2
    assert after["diff"]["tables_added"] == ["returns"] and after["diff"]["tables_removed"] == []
    assert after["diff"]["columns_added"] == ["products.colour"]
    narrow = world.get("a_narrow", "/schema/diff").json()["data"]
    assert narrow["schema_version"] == 2 and narrow["diff"]["tables_added"] == ["returns"]
    assert narrow["diff"]["columns_added"] == []  # products.colour is hidden from it

    # a refresh that changes nothing keeps the version and its diff
    assert world.post("a", "/refresh-schema").status_code == 202
    wait_ready(world.client, world.source["id"], world.tokens["a"])
    assert world.get("a_read", "/schema/diff").json()["data"] == after


def test_schema_diff_before_any_extraction_is_null(world, shop_path, tmp_path):
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with Engine() as engine:
        engine.add_source("later", "sqlite", {"database": str(empty)}, extract=False, tenant="acme")
    response = world.client.get("/api/v1/data-sources/later/schema/diff",
                                headers={"Authorization": f"Bearer {world.tokens['a_read']}"})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"schema_version": None, "created_at": None, "diff": None}


class TinyAPI:
    """A REST API on 127.0.0.1 with one endpoint, /items."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps([{"id": 1, "name": "one"}]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_test_connection_pings_any_kind_of_source_and_records_its_status(world, shop_path):
    ok = world.post("a", "/test-connection")
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"] == {"id": world.source["id"], "name": "shop", "type": "sqlite", "status": "connected",
                                 "status_reason": None}
    assert world.post("a_read", "/test-connection").status_code == 403  # it records the status: a change

    api = TinyAPI()
    auth = {"Authorization": f"Bearer {world.tokens['a']}"}
    try:
        created = world.client.post("/api/v1/data-sources", headers=auth, json={
            "name": "items-api", "type": "rest_api",
            "connection": {"base_url": api.url, "endpoints": {"items": {"path": "/items"}}}})
        assert created.status_code == 201, created.text
        rest_id = created.json()["data"]["id"]
        wait_ready(world.client, rest_id, world.tokens["a"])
        tested = world.client.post(f"/api/v1/data-sources/{rest_id}/test-connection", headers=auth)
        assert tested.status_code == 200, tested.text
        assert tested.json()["data"]["status"] == "connected" and tested.json()["data"]["type"] == "rest_api"
    finally:
        api.close()
    down = world.client.post(f"/api/v1/data-sources/{rest_id}/test-connection", headers=auth)
    assert down.status_code == 200, down.text
    assert down.json()["data"]["status"] in ("disconnected", "error") and down.json()["data"]["status_reason"]
    listed = world.client.get(f"/api/v1/data-sources/{rest_id}", headers=auth).json()["data"]
    assert listed["status"] == down.json()["data"]["status"]


def test_the_new_routes_are_in_openapi(world):
    paths = world.client.get("/openapi.json").json()["paths"]
    assert "get" in paths["/api/v1/data-sources/{source_id}/semantic-mappings"]
    assert "patch" in paths["/api/v1/data-sources/{source_id}/semantic-mappings"]
    search = paths["/api/v1/data-sources/{source_id}/schema/search"]["get"]
    assert {p["name"] for p in search["parameters"]} >= {"source_id", "q", "limit"}
    assert "get" in paths["/api/v1/data-sources/{source_id}/value-hints"]
    assert "get" in paths["/api/v1/data-sources/{source_id}/schema/diff"]
    assert "post" in paths["/api/v1/data-sources/{source_id}/test-connection"]
