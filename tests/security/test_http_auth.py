"""Who gets in: failed authentications limited per client address, no open API by accident
(loopback callers only without a token; `serve` and `mcp --transport http` refuse other
binds), one guard with the same token sources for HTTP and MCP over HTTP, and token reads
off the event loop."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from nlquery import Engine
from nlquery.cli import cli
from nlquery.service import Settings, create_app, tools

API = "/api/v1/data-sources"
TOKEN = "auth-token"


@pytest.fixture(autouse=True)
def no_env_tokens(monkeypatch):
    monkeypatch.delenv("NLQUERY_API_TOKENS", raising=False)


def app_with(**settings):
    return create_app(Engine(), Settings(**{"tokens": TOKEN, "callback_secret": "s", "redis_url": None,
                                            **settings}))


def create_token() -> str:
    return json.loads(CliRunner().invoke(cli, ["tokens", "create", "t", "--json"]).output)["token"]


# -- failed authentication per client address -------------------------------------------
def test_failed_authentication_is_limited_per_address(nlquery_home):
    app = app_with(auth_failure_limit=3)
    with TestClient(app, client=("198.51.100.7", 4000)) as attacker:
        statuses = [attacker.get(API, headers={"Authorization": f"Bearer guess-{i}"}).status_code
                    for i in range(5)]
        assert statuses == [401, 401, 401, 429, 429]
        limited = attacker.get(API, headers={"Authorization": "Bearer guess-9"})
        error = limited.json()["error"]
        assert error["code"] == "rate_limit_exceeded" and error["resource"] == "auth:failures"
        assert int(limited.headers["Retry-After"]) == error["retry_after"] > 0
        # No oracle: a blocked address is refused before its token is looked at.
        assert attacker.get(API, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 429
        # Other addresses are not affected.
        neighbour = TestClient(app, client=("198.51.100.8", 4000))
        assert neighbour.get(API, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_successful_authentication_does_not_count(nlquery_home):
    with TestClient(app_with(auth_failure_limit=3), client=("198.51.100.9", 1)) as client:
        assert {client.get(API, headers={"Authorization": f"Bearer {TOKEN}"}).status_code
                for _ in range(10)} == {200}
        statuses = [client.get(API, headers={"Authorization": "Bearer nope"}).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_bad_tool_signatures_count_and_then_no_body_is_read(nlquery_home):
    stamp = dt.datetime.now(dt.timezone.utc).isoformat()
    body = json.dumps({"execution_id": "e", "timestamp": stamp, "parameters": {"data_source": "x", "sql": "SELECT 1"}})
    headers = {"X-Interactor-Signature": "sha256=" + "0" * 64, "X-Interactor-Timestamp": stamp}
    pulled = []

    def chunks():
        pulled.append(1)
        yield body.encode()

    with TestClient(app_with(auth_failure_limit=2), client=("198.51.100.10", 1)) as client:
        assert [client.post("/api/v1/tools/query_data", content=body, headers=headers).status_code
                for _ in range(2)] == [401, 401]
        blocked = client.post("/api/v1/tools/query_data", content=chunks(), headers=headers)
    assert blocked.status_code == 429 and pulled == []
    assert tools.sign(body.encode(), "s") != headers["X-Interactor-Signature"]


# -- no token configured: loopback only -------------------------------------------------
def test_without_any_token_only_loopback_callers_are_answered(nlquery_home):
    app = app_with(tokens=None)
    with TestClient(app, client=("127.0.0.1", 5000)) as local:
        assert local.get(API).status_code == 200
        remote = TestClient(app, client=("203.0.113.9", 5000)).get(API)
        assert remote.status_code == 401
        assert "loopback" in remote.json()["error"]["message"]
        assert TestClient(app, client=("::1", 5000)).get(API).status_code == 200


def test_a_catalog_token_closes_the_open_loopback_api(nlquery_home, monkeypatch):
    from nlquery.service import auth

    monkeypatch.setattr(auth, "STORED_TOKENS_TTL_S", 0.0)
    with TestClient(app_with(tokens=None), client=("127.0.0.1", 5000)) as local:
        assert local.get(API).status_code == 200
        token = create_token()
        assert local.get(API).status_code == 401
        assert local.get(API, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_catalog_tokens_are_read_off_the_event_loop(nlquery_home, monkeypatch):
    from nlquery.service import auth

    monkeypatch.setattr(auth, "STORED_TOKENS_TTL_S", 0.0)
    token = create_token()
    engine = Engine()
    on_loop, real = [], engine.active_tokens

    def spy():
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            pass
        return real()

    monkeypatch.setattr(engine, "active_tokens", spy)
    app = create_app(engine, Settings(tokens=None, callback_secret=None, redis_url=None))
    with TestClient(app) as client:
        assert client.get(API, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get(API, headers={"Authorization": "Bearer other"}).status_code == 401
    assert on_loop == []


# -- MCP over HTTP: the same guard, the same token sources ------------------------------
def test_mcp_over_http_accepts_catalog_tokens_and_refuses_others(nlquery_home):
    pytest.importorskip("mcp")
    from nlquery.mcp import http_app

    token = create_token()  # in the catalog only: the old MCP guard ignored these
    app = http_app("127.0.0.1", Engine(), Settings(tokens=None, redis_url=None, auth_failure_limit=2))
    request = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
               "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                          "clientInfo": {"name": "t", "version": "1"}}}
    accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    with TestClient(app, base_url="http://127.0.0.1:8765", client=("198.51.100.20", 1)) as client:
        ok = client.post("/mcp", json=request, headers={**accept, "Authorization": f"Bearer {token}"})
        assert ok.status_code == 200, ok.text
        refused = client.post("/mcp", json=request, headers={**accept, "Authorization": "Bearer wrong"})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        assert client.post("/mcp", json=request, headers=accept).status_code == 401
        assert client.post("/mcp", json=request, headers={**accept, "Authorization": f"Bearer {token}"}
                           ).status_code == 429  # two failures from this address
        big = TestClient(app, base_url="http://127.0.0.1:8765", client=("198.51.100.21", 1)).post(
            "/mcp", content=b" " * 2_000_000, headers={**accept, "Authorization": f"Bearer {token}"})
        assert big.status_code == 422 and "byte limit" in big.json()["error"]["message"]


# -- the commands refuse an open API beyond loopback -----------------------------------
@pytest.fixture
def started(monkeypatch):
    pytest.importorskip("uvicorn")
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs.get("host")))
    return calls


@pytest.mark.parametrize("command", [["serve"], ["mcp", "--transport", "http"]])
def test_no_token_refuses_a_bind_beyond_loopback(nlquery_home, started, command):
    for host in ("0.0.0.0", "::", "192.0.2.1", "example.com"):
        result = CliRunner().invoke(cli, [*command, "--host", host])
        assert result.exit_code == 2, result.output
        assert "no API token is configured" in result.output and "NLQUERY_API_TOKENS" in result.output
    assert started == []


@pytest.mark.parametrize("command", [["serve"], ["mcp", "--transport", "http"]])
def test_no_token_on_loopback_starts_with_a_warning(nlquery_home, started, command):
    for host in ("127.0.0.1", "::1", "localhost"):
        result = CliRunner().invoke(cli, [*command, "--host", host])
        assert result.exit_code == 0, result.output
        assert "warning: no API token is configured" in result.output and "open to every local caller" in result.output
    assert started == ["127.0.0.1", "::1", "localhost"]


@pytest.mark.parametrize("command", [["serve"], ["mcp", "--transport", "http"]])
def test_a_token_from_the_environment_or_the_catalog_allows_any_bind(nlquery_home, started, monkeypatch, command):
    monkeypatch.setenv("NLQUERY_API_TOKENS", "t1")
    result = CliRunner().invoke(cli, [*command, "--host", "0.0.0.0"])
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    monkeypatch.delenv("NLQUERY_API_TOKENS")
    create_token()
    result = CliRunner().invoke(cli, [*command, "--host", "0.0.0.0"])
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    assert started == ["0.0.0.0", "0.0.0.0"]


@pytest.mark.parametrize("command", [["serve"], ["mcp"]])
def test_help_states_the_loopback_rule(command):
    text = " ".join(CliRunner().invoke(cli, [*command, "--help"]).output.split())
    assert "With no token configured at all" in text and "refuses to start unless --host is loopback" in text
    assert "127.0.0.1, ::1, localhost" in text and "open to every local caller" in text


def test_a_websocket_on_a_guarded_path_is_closed(nlquery_home):
    from starlette.websockets import WebSocketDisconnect

    with TestClient(app_with()) as client:
        with pytest.raises(WebSocketDisconnect) as closed:
            with client.websocket_connect("/api/v1/data-sources"):
                pass
    assert closed.value.code == 1008
