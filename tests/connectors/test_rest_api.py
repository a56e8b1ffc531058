"""The rest_api connector against a real HTTP server on 127.0.0.1 serving paginated JSON,
with the failures real APIs have: 500s, 429 with Retry-After, slow answers, malformed
JSON and a huge body."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import connectors
from nlquery import Engine
from nlquery.errors import NLQueryError

USERS = [{"id": i, "name": f"user {i}",
          "address": {"city": ["Oslo", "Lima", "Pune"][i % 3], "zip": None if i % 4 else "0150"},
          "tags": ["a"] * (i % 2), "score": i * 1.5 if i % 5 else i, "active": i % 2 == 0}
         for i in range(1, 24)]
ORDERS = [{"id": i, "user_id": (i % 23) + 1, "total": round(10 + i * 2.5, 2)} for i in range(1, 41)]


class FakeAPI:
    """Routes: /users (page numbers, 10 per page, data in data.items), /orders (cursor),
    /events (Link header), /flaky (500 then OK), /limited (429 Retry-After then OK),
    /slow (sleeps), /broken (malformed JSON), /huge (a 3 MB body)."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.fail_next: dict[str, int] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                owner.hits.append(self.path)
                route = parts.path
                if self.headers.get("X-Api-Key") != "k-123":
                    return self._send(401, {"error": "no key"})
                if owner.fail_next.get(route):
                    owner.fail_next[route] -= 1
                    status = 429 if route == "/limited" else 500
                    return self._send(status, {"error": "try later"}, {"Retry-After": "1"} if status == 429 else {})
                if route == "/users":
                    page, size = int(query.get("page", 1)), int(query.get("per_page", 10))
                    items = USERS[(page - 1) * size: page * size]
                    return self._send(200, {"data": {"items": items}, "page": page})
                if route == "/orders":
                    start = int(query.get("cursor", 0))
                    chunk = ORDERS[start:start + 15]
                    nxt = start + 15 if start + 15 < len(ORDERS) else None
                    return self._send(200, {"results": chunk, "next": nxt})
                if route == "/events":
                    page = int(query.get("p", 1))
                    nxt = f'<http://127.0.0.1:{owner.port}/events?p={page + 1}>; rel="next"'
                    links = {"Link": nxt} if page < 3 else {}
                    return self._send(200, [{"n": page * 10 + i} for i in range(2)], links)
                if route in ("/flaky", "/limited"):
                    return self._send(200, [{"ok": 1}])
                if route == "/slow":
                    time.sleep(2)
                    return self._send(200, [{"ok": 1}])
                if route == "/broken":
                    return self._raw(200, b'[{"ok": 1},')
                if route == "/huge":
                    return self._send(200, [{"blob": "x" * 1000}] * 3000)
                return self._send(404, {"error": "no route"})

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                self._raw(status, json.dumps(body).encode(), headers)

            def _raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def api():
    server = FakeAPI()
    yield server
    server.close()


ENDPOINTS = {
    "users": {"path": "/users", "records_path": "data.items",
              "pagination": {"type": "page", "param": "page", "size_param": "per_page", "size": 10}},
    "orders": {"path": "/orders", "pagination": {"type": "cursor", "param": "cursor", "next_path": "next"}},
    "events": {"path": "/events", "pagination": {"type": "link"}},
    "flaky": {"path": "/flaky"}, "limited": {"path": "/limited"}, "slow": {"path": "/slow"},
    "broken": {"path": "/broken"}, "huge": {"path": "/huge"},
}


def source(api, **extra):
    return {"base_url": api.url, "headers": {"X-Api-Key": "k-123"}, "endpoints": ENDPOINTS, **extra}


@pytest.fixture
def rest(api):
    connector = connectors.connect("rest_api", **source(api, options={"timeout_s": 1}))
    yield connector
    connector.close()


def test_every_pagination_style_is_followed(rest):
    assert len(rest.records("users")) == 23  # pages of 10, 10, 3
    assert [r["id"] for r in rest.records("orders")] == list(range(1, 41))  # cursor
    assert [r["n"] for r in rest.records("events")] == [10, 11, 20, 21, 30, 31]  # Link header


def test_schema_is_inferred_from_flattened_records(api):
    with connectors.connect("rest_api", **{**source(api), "endpoints": {"users": ENDPOINTS["users"]}}) as rest:
        schema = rest.introspect(schemas=["api"])
    users = schema.table("users")
    assert users.kind == "endpoint"
    columns = {c.name: c for c in users.columns}
    assert columns["id"].type == "integer" and not columns["id"].nullable
    assert columns["address.city"].type == "string"
    assert columns["address.zip"].nullable  # null in most records
    assert columns["score"].type == "number"  # ints and floats together
    assert columns["active"].type == "boolean"
    assert columns["tags"].type == "string"  # lists are kept as JSON text


def test_sql_runs_over_the_fetched_records(rest):
    result = rest.execute('SELECT "address.city", COUNT(*) FROM users GROUP BY 1 ORDER BY 1')
    assert result.rows == [["Lima", 8], ["Oslo", 7], ["Pune", 8]]
    joined = rest.execute("SELECT u.name, SUM(o.total) FROM orders o JOIN users u ON u.id = o.user_id "
                          "WHERE u.id = ? GROUP BY u.name", [2])
    assert joined.rows == [["user 2", sum(o["total"] for o in ORDERS if o["user_id"] == 2)]]


def test_a_repeated_query_is_answered_from_the_cache(api, rest):
    rest.execute("SELECT COUNT(*) FROM orders")
    before = len(api.hits)
    assert rest.execute("SELECT COUNT(*) FROM orders").rows == [[40]]
    assert len(api.hits) == before  # no HTTP request at all


def test_an_expired_cache_fetches_again(api):
    endpoints = {"orders": {**ENDPOINTS["orders"], "cache_ttl_s": 0}}
    with connectors.connect("rest_api", **{**source(api), "endpoints": endpoints}) as rest:
        rest.execute("SELECT COUNT(*) FROM orders")
        before = len(api.hits)
        rest.execute("SELECT COUNT(*) FROM orders")
        assert len(api.hits) == before + 3


def test_only_the_named_endpoints_are_fetched(api, rest):
    before = len(api.hits)
    rest.execute("SELECT COUNT(*) FROM events")
    assert {h.split("?")[0] for h in api.hits[before:]} == {"/events"}


def test_server_errors_are_retried(api, rest):
    api.fail_next["/flaky"] = 2
    assert rest.execute("SELECT ok FROM flaky").rows == [[1]]


def test_429_waits_for_retry_after(api, rest):
    api.fail_next["/limited"] = 1
    started = time.monotonic()
    assert rest.execute("SELECT ok FROM limited", timeout_s=10).rows == [[1]]
    assert time.monotonic() - started >= 0.9  # honoured the one-second Retry-After


def test_persistent_failures_end_in_a_clear_error(api, rest):
    api.fail_next["/flaky"] = 10
    with pytest.raises(connectors.QueryExecutionFailed, match="HTTP 500 after 4 attempt"):
        rest.execute("SELECT ok FROM flaky", timeout_s=20)
    api.fail_next["/flaky"] = 0


def test_slow_answers_time_out(rest):
    with pytest.raises(connectors.QueryTimeout):
        rest.execute("SELECT ok FROM slow")


def test_malformed_json_is_named(rest):
    with pytest.raises(connectors.QueryExecutionFailed, match="malformed JSON"):
        rest.execute("SELECT * FROM broken")


def test_a_huge_body_is_cut_at_the_cap(api):
    with connectors.connect("rest_api", **source(api, max_response_bytes=100_000)) as rest:
        with pytest.raises(connectors.QueryExecutionFailed, match="100,000-byte cap"):
            rest.execute("SELECT COUNT(*) FROM huge")


def test_bad_auth_is_disconnected_and_never_echoes_the_key(api):
    config = {**source(api), "headers": {"X-Api-Key": "wrong-secret"}}
    with connectors.connect("rest_api", **config) as rest:
        with pytest.raises(connectors.DataSourceDisconnected) as caught:
            rest.execute("SELECT * FROM users")
    assert "wrong-secret" not in str(caught.value)


def test_unknown_tables_and_bad_configs_are_refused(api, rest):
    with pytest.raises(connectors.QueryExecutionFailed, match="no such endpoint: nope"):
        rest.execute("SELECT * FROM nope")
    with pytest.raises(connectors.InvalidConnection, match="base_url"):
        connectors.connect("rest_api", endpoints=ENDPOINTS)
    with pytest.raises(connectors.InvalidConnection, match="next_path"):
        connectors.connect("rest_api", base_url=api.url,
                           endpoints={"x": {"path": "/x", "pagination": {"type": "cursor"}}})


def test_registered_source_keeps_headers_secret_and_goes_through_the_guard(api, nlquery_home):
    with Engine() as engine:
        endpoints = {name: ENDPOINTS[name] for name in ("users", "orders")}
        engine.add_source("api", "rest_api", {**source(api), "endpoints": endpoints, "options": {"timeout_s": 5}})
        stored = (nlquery_home / "catalog.db").read_bytes()
        assert b"k-123" not in stored  # encrypted at rest like a password
        assert "headers" not in engine.get_source("api")["connection"]
        assert engine.schema("api").table("orders") is not None
        result = engine.query("api", "SELECT id FROM orders WHERE total > $1 ORDER BY id LIMIT 2", [100])
        assert result.rows == [[37], [38]]
        with pytest.raises(NLQueryError) as refused:
            engine.query("api", "DELETE FROM orders")
        assert refused.value.code == "query_not_read_only"


def test_cli_registers_a_rest_source_from_a_config_file(api, tmp_path):
    from click.testing import CliRunner

    from nlquery.cli import cli

    config = tmp_path / "api.yaml"
    config.write_text(json.dumps({**source(api), "endpoints": {"orders": ENDPOINTS["orders"]}}))
    runner = CliRunner()
    added = runner.invoke(cli, ["sources", "add", "crm", "--type", "rest_api", "--config", str(config), "--json"])
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["schema_status"] == "ready"
    result = runner.invoke(cli, ["query", "crm", "SELECT COUNT(*) AS n FROM orders", "--json"])
    assert json.loads(result.stdout)["rows"] == [[40]]
    broken = tmp_path / "broken.yaml"
    broken.write_text("- just\n- a list\n")
    refused = runner.invoke(cli, ["sources", "add", "x", "--type", "rest_api", "--config", str(broken)])
    # a file that is not a connection object is the request's error (exit 1), since baf376a
    assert refused.exit_code == 1 and "error[invalid_request]" in refused.output
    assert "must hold an object" in refused.output
