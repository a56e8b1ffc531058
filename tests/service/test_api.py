"""Every route and error code of the Data Sources API through FastAPI's TestClient."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.service.conftest import TOKEN, make_client

API = "/api/v1"


def test_register_returns_extracting_then_ready(client, shop):
    assert shop["id"].startswith("ds_") and shop["status"] == "connected"
    assert shop["schema_status"] == "extracting"
    data = client.get(f"{API}/data-sources/{shop['id']}").json()["data"]
    assert data["schema_status"] == "ready"
    customers = next(t for t in data["tables"] if t["name"] == "customers")
    assert {"name": "id", "type": "int", "nullable": False} in customers["columns"]
    assert "password" not in str(data).replace("password_set", "")


def test_list_update_delete(client, shop):
    listed = client.get(f"{API}/data-sources").json()["data"]["data_sources"]
    assert [s["id"] for s in listed] == [shop["id"]]
    updated = client.put(f"{API}/data-sources/{shop['id']}", json={"description": "Updated"}).json()["data"]
    assert updated["description"] == "Updated"
    assert client.delete(f"{API}/data-sources/{shop['id']}").json() == {"data": {"id": shop["id"], "deleted": True}}
    missing = client.get(f"{API}/data-sources/{shop['id']}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "data_source_not_found"


def test_query_with_dollar_parameters(client, shop):
    body = {"query": "SELECT name FROM customers WHERE id = $1", "parameters": [1]}
    data = client.post(f"{API}/data-sources/{shop['id']}/query", json=body).json()["data"]
    assert data["columns"] == ["name"] and data["row_count"] == 1 and "execution_time_ms" in data


def test_semantic_mappings_and_ask(client, shop):
    patch = {"mappings": {"customers": {"description": "Accounts", "synonyms": ["users"]}}}
    data = client.patch(f"{API}/data-sources/{shop['id']}/semantic-mappings", json=patch).json()["data"]
    assert data["mappings"]["customers"]["synonyms"] == ["users"]
    answer = client.post(f"{API}/data-sources/{shop['id']}/ask", json={"question": "How many users?"}).json()["data"]
    assert answer["rows"] == [[2000]] and answer["sql"].startswith("SELECT COUNT(*)")


def test_refresh_schema_runs_in_the_background(client, shop):
    response = client.post(f"{API}/data-sources/{shop['id']}/refresh-schema")
    assert response.status_code == 202 and response.json()["data"]["schema_status"] == "extracting"


def test_routes_encode_their_answers_in_their_own_worker_thread(client, shop, monkeypatch):
    """No second trip through the thread pool to validate a dict answer, no encoding on the
    event loop: FastAPI's serializer is never reached (every request of a busy service
    would otherwise wait for a worker thread twice, cheap reads included)."""
    import fastapi.routing

    async def refused(**_):
        raise AssertionError("FastAPI serialized an answer")

    monkeypatch.setattr(fastapi.routing, "serialize_response", refused)
    source = f"{API}/data-sources/{shop['id']}"
    assert client.get(f"{API}/data-sources").json()["data"]["data_sources"][0]["id"] == shop["id"]
    assert client.get(source).json()["data"]["tables"]
    assert client.post(f"{source}/refresh-schema").status_code == 202  # the route's own status code
    created = client.post(f"{API}/data-sources", json={"name": "again", "type": "sqlite",
                                                       "connection": {"database": shop["connection"]["database"]}})
    assert created.status_code == 201 and created.headers["content-type"] == "application/json"
    assert client.post(f"{source}/ask", json={"question": "How many customers?"}).json()["data"]["rows"] == [[2000]]
    import gc

    assert gc.get_freeze_count() > 0  # the heap the service started with is out of the collector's way
    # The answers are still documented by the routes' return annotations.
    spec = client.get("/openapi.json").json()
    assert spec["paths"]["/api/v1/data-sources"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("post", "/data-sources/{id}/query", {"query": "DELETE FROM orders"}, 400, "query_not_read_only"),
        ("post", "/data-sources/{id}/query", {"query": "SELEC 1"}, 400, "invalid_query"),
        ("post", "/data-sources/{id}/query", {"query": "SELECT nme FROM customers"}, 400, "invalid_query"),
        ("post", "/data-sources/{id}/query", {"query": "SELECT $1", "parameters": []}, 422, "invalid_request"),
        ("post", "/data-sources/{id}/query", {"sql": "SELECT 1"}, 422, "invalid_request"),
        ("post", "/data-sources/{id}/query", {"query": 5}, 422, "invalid_request"),
        ("post", "/data-sources/ds_nope/query", {"query": "SELECT 1"}, 404, "data_source_not_found"),
        ("post", "/data-sources", {"name": "x", "type": "oracle", "connection": {"host": "h"}}, 422,
         "invalid_request"),
        ("post", "/data-sources", {"name": "x", "type": "postgresql", "connection": {"port": "a", "host": "h"}},
         422, "invalid_request"),
        ("patch", "/data-sources/{id}/semantic-mappings", {"mappings": {"custmers": {"synonyms": []}}}, 422,
         "invalid_request"),
        ("post", "/data-sources/{id}/ask", {"question": "Why is the sky blue?"}, 422, "question_not_answerable"),
    ],
)
def test_errors_use_the_envelope_and_stable_codes(client, shop, method, path, body, status, code):
    response = getattr(client, method)(API + path.format(id=shop["id"]), json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and set(error) == {"code", "message"}


def test_missing_or_wrong_token_is_401(client):
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        response = client.get(f"{API}/data-sources", headers=headers)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_health_is_open(client):
    assert client.get("/healthz", headers={"Authorization": ""}).status_code == 200
    assert client.get("/readyz", headers={"Authorization": ""}).json() == {"status": "ready"}


def test_every_response_has_ids_and_rate_limit_headers(client):
    response = client.get(f"{API}/data-sources", headers={"X-Client-Request-Id": "mine-123"})
    assert response.headers["X-Request-Id"] == "mine-123" and response.headers["X-Trace-Id"].startswith("trace_")
    assert response.headers["X-RateLimit-Resource"] == "api:global"
    assert int(response.headers["X-RateLimit-Limit"]) == 1000
    assert int(response.headers["X-RateLimit-Remaining"]) == 999


def test_query_rate_limit_answers_429_with_retry_after(nlquery_home, shop_path):
    with make_client(query_limit=2) as client:
        source = client.post(f"{API}/data-sources", json={"name": "s", "type": "sqlite",
                                                          "connection": {"database": str(shop_path)}}).json()["data"]
        url = f"{API}/data-sources/{source['id']}/query"
        statuses = [client.post(url, json={"query": "SELECT 1"}).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        limited = client.post(url, json={"query": "SELECT 1"})
        error = limited.json()["error"]
        assert error["code"] == "rate_limit_exceeded" and error["resource"] == "data_sources:queries"
        assert int(limited.headers["Retry-After"]) == error["retry_after"] > 0
        assert limited.headers["X-RateLimit-Remaining"] == "0"


def test_redis_backend_shares_limits_between_replicas(nlquery_home):
    import redis

    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/15").ping()
    except redis.RedisError as exc:
        pytest.skip(f"redis unavailable: {exc}")
    token = f"{TOKEN}-{uuid.uuid4().hex}"  # counters of earlier runs must not count
    settings = {"tokens": token, "redis_url": "redis://127.0.0.1:6379/15", "global_limit": 3}
    with make_client(**settings) as one, make_client(**settings) as two:
        headers = {"Authorization": f"Bearer {token}"}
        statuses = [c.get(f"{API}/data-sources", headers=headers).status_code for c in (one, two, one, two)]
    assert statuses == [200, 200, 200, 429]


def test_oversized_body_is_rejected(client):
    response = client.post(f"{API}/data-sources", content=b"x" * 1_100_000,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"


def test_openapi_is_published(client):
    spec = client.get("/openapi.json").json()
    assert "/api/v1/data-sources/{source_id}/query" in spec["paths"]


def test_catalog_tokens_work_until_revoked(nlquery_home, monkeypatch):
    from click.testing import CliRunner

    from nlquery.cli import cli
    from nlquery.service import auth

    monkeypatch.setattr(auth, "STORED_TOKENS_TTL_S", 0.0)
    created = json.loads(CliRunner().invoke(cli, ["tokens", "create", "ci", "--json"]).output)
    listed = json.loads(CliRunner().invoke(cli, ["tokens", "list", "--json"]).output)["tokens"]
    assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]
    with make_client() as client:
        headers = {"Authorization": f"Bearer {created['token']}"}
        assert client.get(f"{API}/data-sources", headers=headers).status_code == 200
        CliRunner().invoke(cli, ["tokens", "revoke", created["id"]])
        assert client.get(f"{API}/data-sources", headers=headers).status_code == 401
    stored = b"".join(p.read_bytes() for p in nlquery_home.iterdir() if p.name.startswith("catalog.db"))
    assert created["token"].encode() not in stored


def test_the_global_limit_covers_query_routes_too(nlquery_home, shop_path):
    with make_client(global_limit=3) as client:
        source = client.post(f"{API}/data-sources", json={"name": "s", "type": "sqlite",
                                                          "connection": {"database": str(shop_path)}}).json()["data"]
        url = f"{API}/data-sources/{source['id']}/query"
        responses = [client.post(url, json={"query": "SELECT 1"}) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[-1].json()["error"]["resource"] == "api:global"
    assert responses[0].headers["X-RateLimit-Resource"] == "data_sources:queries"


def test_a_duplicate_name_is_a_conflict(client, shop, shop_path):
    again = client.post(f"{API}/data-sources", json={"name": "shop", "type": "sqlite",
                                                     "connection": {"database": str(shop_path)}})
    assert again.status_code == 409, again.text
    assert again.json()["error"] == {"code": "conflict", "message": "a source named 'shop' already exists"}
    other = client.post(f"{API}/data-sources", json={"name": "other", "type": "sqlite",
                                                     "connection": {"database": str(shop_path)}}).json()["data"]
    renamed = client.put(f"{API}/data-sources/{other['id']}", json={"name": "shop"})
    assert renamed.status_code == 409 and renamed.json()["error"]["code"] == "conflict"


def test_malformed_json_says_where(client):
    body = b'{\n  "name": "x",\n  "type" "sqlite"\n}'
    response = client.post(f"{API}/data-sources", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"] == {"code": "invalid_request",
                                        "message": "body: invalid JSON at line 3, column 10: Expecting ':' delimiter"}


@pytest.mark.parametrize("body", [b'{"name": "\xff"}', b"[" * 100_000, b'{"n": ' + b"1" * 5000 + b"}"])
def test_hostile_json_is_an_invalid_request(client, body):
    response = client.post(f"{API}/data-sources", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["message"].startswith("body: invalid JSON")


def test_unknown_routes_and_methods_use_codes_of_the_errors_module(client):
    from nlquery.errors import MethodNotAllowed, NotFound

    missing = client.get(f"{API}/nothing-here")
    assert (missing.status_code, missing.json()["error"]["code"]) == (NotFound.http_status, NotFound.code)
    wrong = client.patch(f"{API}/data-sources")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (MethodNotAllowed.http_status, MethodNotAllowed.code)
    assert wrong.headers["Allow"] == "GET, POST"


def test_a_chunked_body_over_the_cap_is_refused(nlquery_home):
    def chunks():
        for _ in range(20):
            yield b" " * 100_000  # no Content-Length: the guard counts what streams in

    with make_client(max_request_bytes=500_000) as client:
        response = client.post(f"{API}/data-sources", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert "500,000-byte limit" in response.json()["error"]["message"]
    assert response.headers["X-Request-Id"]


def test_an_unauthenticated_body_is_never_read(client):
    pulled = []

    def chunks():
        for _ in range(20):
            pulled.append(1)
            yield b" " * 100_000

    response = client.post(f"{API}/data-sources", content=chunks(), headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert pulled == []  # the test client pulls the body only when the app asks for it


def test_the_service_makes_its_llm_client_as_it_starts(nlquery_home, monkeypatch):
    """The first /ask must not import the LLM library inside its request and its LLM timeout."""
    import nlquery.asking

    made = []
    monkeypatch.setenv("NLQUERY_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setattr(nlquery.asking, "LLMClient", lambda config: made.append(config.base_url) or object())
    with make_client():
        assert made == ["http://127.0.0.1:9/v1"]
    monkeypatch.delenv("NLQUERY_LLM_BASE_URL")
    made.clear()
    with make_client():
        assert made == []  # no LLM configured: nothing to make
