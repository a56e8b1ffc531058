"""Tenants and scopes over MCP (streamable HTTP behind the service's bearer guard, a real
server process) and over the signed tool callback (NLQUERY_CALLBACK_TENANT)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import anyio
import pytest

from nlquery import Engine
from nlquery.service import tools
from tests.tenancy.conftest import SECRET

mcp = pytest.importorskip("mcp")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _text(result) -> str:
    return "\n".join(getattr(part, "text", "") for part in result.content)


def test_mcp_tools_see_only_their_tenant_and_scopes(nlquery_home, shop_path):
    with Engine() as engine:
        a = engine.add_source("shop", type="sqlite", connection={"database": str(shop_path)}, tenant="acme")
        b = engine.add_source("beta_shop", type="sqlite", connection={"database": str(shop_path)}, tenant="beta")
        ask_only = engine.create_token("agent", tenant="acme", scopes=["ask", "sources:read"])["token"]
    port = _port()
    env = {**os.environ, "NLQUERY_HOME": str(nlquery_home), "NLQUERY_API_TOKENS": "acme:tok-a"}
    process = subprocess.Popen([sys.executable, "-m", "nlquery.cli", "mcp", "--transport", "http", "--port",
                                str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mcp"
    from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

    async def calls(token, steps):
        async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http:
            async with streamable_http_client(url, http_client=http) as streams:
                async with mcp.ClientSession(streams[0], streams[1]) as client:
                    await client.initialize()
                    return [await client.call_tool(name, arguments) for name, arguments in steps]

    try:
        import httpx

        for _ in range(100):
            try:
                httpx.post(url, json={}, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        count = "SELECT COUNT(*) FROM customers"
        listed, own, by_id, by_name, described = anyio.run(calls, "tok-a", [
            ("list_sources", {}),
            ("run_query", {"source": "shop", "sql": count}),
            ("run_query", {"source": b["id"], "sql": count}),
            ("run_query", {"source": "beta_shop", "sql": count}),
            ("describe_table", {"source": b["id"], "table": "customers"}),
        ])
        assert "shop (sqlite" in _text(listed) and "beta_shop" not in _text(listed)
        assert not own.is_error and "2000" in _text(own)
        for refused in (by_id, by_name, described):
            assert refused.is_error and "data_source_not_found: " in _text(refused), _text(refused)
        query, asked = anyio.run(calls, ask_only, [
            ("run_query", {"source": a["id"], "sql": count}),
            ("ask", {"source": "shop", "question": "How many customers?"}),
        ])
        assert query.is_error and "access_denied" in _text(query) and "'query'" in _text(query)
        assert not asked.is_error and "2000" in _text(asked)
    finally:
        process.terminate()
        process.wait(timeout=10)
    with Engine() as engine:  # the server flushed its records on shutdown
        records = engine.audit_log(limit=100)["records"]
    mcp_calls = [r for r in records if r["channel"] == "mcp" and r["method"] == "tools/call"]
    assert {(r["path"], r["outcome"]) for r in mcp_calls} >= {
        ("run_query", "ok"), ("run_query", "data_source_not_found"), ("run_query", "access_denied"), ("ask", "ok")}
    assert all(r["request_id"] and r["tenant"] == "acme" for r in mcp_calls)


def _call(client, parameters, execution_id):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = json.dumps({"tool_name": "query_data", "execution_id": execution_id, "timestamp": stamp,
                       "parameters": parameters}).encode()
    return client.post("/api/v1/tools/query_data", content=body, headers={
        "X-Interactor-Signature": tools.sign(body, SECRET), "X-Interactor-Timestamp": stamp,
        "Content-Type": "application/json", "Authorization": ""})


def test_the_callback_acts_for_its_tenant(world):
    count = "SELECT COUNT(*) AS n FROM customers"
    own = _call(world.client, {"data_source": "shop", "sql": count}, "exec_own")
    assert own.status_code == 200 and own.json()["result"]["rows"] == [[2000]]
    for i, source in enumerate((world.sources["b"]["id"], "beta_shop_missing")):
        other = _call(world.client, {"data_source": source, "sql": count}, f"exec_other_{i}")
        assert other.status_code == 404 and other.json()["error"]["code"] == "data_source_not_found"
    asked = _call(world.client, {"data_source": world.sources["b"]["id"], "question": "How many customers?"},
                  "exec_ask_other")
    assert asked.status_code == 404
    records = [r for r in world.records() if r["channel"] == "callback"]
    assert {(r["action"], r["outcome"]) for r in records} == {("tool_callback", "ok"),
                                                              ("tool_callback", "data_source_not_found")}
    assert all(r["tenant"] == "acme" and r["token_id"] == "callback" for r in records)
    assert any(r["sql"] and r["sql"].startswith(count) and r["row_count"] == 1 for r in records)
