"""Tenants and scopes over MCP (streamable HTTP behind the service's bearer guard, a real
server process) and over the signed tool callback (NLQUERY_CALLBACK_TENANT)."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def _mcp_server(nlquery_home, tokens: str = "acme:tok-a"):
    """A real ``nlquery mcp --transport http`` process on this test's catalog; yields its URL."""
    import httpx

    port = _port()
    env = {**os.environ, "NLQUERY_HOME": str(nlquery_home), "NLQUERY_API_TOKENS": tokens}
    process = subprocess.Popen([sys.executable, "-m", "nlquery.cli", "mcp", "--transport", "http", "--port",
                                str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        for _ in range(100):
            try:
                httpx.post(url, json={}, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _mcp_calls(url, token, steps):
    """Call the tools of ``steps`` ([(name, arguments)]) in one MCP session as ``token``."""
    from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

    async def calls():
        async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http:
            async with streamable_http_client(url, http_client=http) as streams:
                async with mcp.ClientSession(streams[0], streams[1]) as client:
                    await client.initialize()
                    return [await client.call_tool(name, arguments) for name, arguments in steps]

    return anyio.run(calls)


def test_mcp_tools_see_only_their_tenant_and_scopes(nlquery_home, shop_path):
    with Engine() as engine:
        a = engine.add_source("shop", type="sqlite", connection={"database": str(shop_path)}, tenant="acme")
        b = engine.add_source("beta_shop", type="sqlite", connection={"database": str(shop_path)}, tenant="beta")
        ask_only = engine.create_token("agent", tenant="acme", scopes=["ask", "sources:read"])["token"]
    with _mcp_server(nlquery_home) as url:
        count = "SELECT COUNT(*) FROM customers"
        listed, own, by_id, by_name, described = _mcp_calls(url, "tok-a", [
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
        query, asked = _mcp_calls(url, ask_only, [
            ("run_query", {"source": a["id"], "sql": count}),
            ("ask", {"source": "shop", "question": "How many customers?"}),
        ])
        assert query.is_error and "access_denied" in _text(query) and "'query'" in _text(query)
        assert not asked.is_error and "2000" in _text(asked)
    with Engine() as engine:  # the server flushed its records on shutdown
        records = engine.audit_log(limit=100)["records"]
    mcp_calls = [r for r in records if r["channel"] == "mcp" and r["method"] == "tools/call"]
    assert {(r["path"], r["outcome"]) for r in mcp_calls} >= {
        ("run_query", "ok"), ("run_query", "data_source_not_found"), ("run_query", "access_denied"), ("ask", "ok")}
    assert all(r["request_id"] and r["tenant"] == "acme" for r in mcp_calls)


def test_mcp_mappings_tools_give_a_token_what_http_gives_it(world, nlquery_home):
    """get_mappings / update_mappings over MCP-over-HTTP and GET / PATCH semantic-mappings
    over HTTP, token for token: the same scopes, tenant, overlay view and errors."""
    sid, other = world.sources["a"]["id"], world.sources["b"]["id"]
    setup = world.client.patch(f"/api/v1/data-sources/{sid}/semantic-mappings", headers=world.auth("a"), json={
        "mappings": {"customers.email": {"description": "Login email"},
                     "metric:mail domains": {"sql": "COUNT(DISTINCT customers.email)"}}})
    assert setup.status_code == 200, setup.text

    def over_http(token, patch=None, source=sid):
        url = f"/api/v1/data-sources/{source}/semantic-mappings"
        if patch is None:
            return world.client.get(url, headers=world.auth(token))
        return world.client.patch(url, headers=world.auth(token), json={"mappings": patch})

    cases = [  # (token, source, patch or None to read)
        ("a_read", sid, {"customers": {"synonyms": ["clients"]}}),     # lacks sources:write
        ("a_ask", sid, None),                                           # reads with sources:read
        ("a", other, None),                                             # another tenant's source
        ("a", other, {"customers": {"synonyms": ["clients"]}}),
        ("a_narrow", sid, None),                                        # its overlay hides customers.email
        ("a_narrow", sid, {"customers.emial": {"description": "x"}}),   # no suggestion of the hidden column
        ("a_narrow", sid, {"customers.email": None}),                   # cannot remove what it cannot see
        ("a_narrow", sid, {"metric:n": {"sql": "COUNT(DISTINCT customers.email)"}}),
        ("a_narrow", sid, {"metric:mail domains": {"sql": "COUNT(customers.id)"}}),  # a hidden one's name
    ]  # none of them changes anything: both channels answer on the same mappings
    tokens = {world.tokens[name]: name for name in ("a_read", "a_ask", "a", "a_narrow")}
    with _mcp_server(nlquery_home, tokens="") as url:
        results = {}
        for token in tokens:
            steps = [("get_mappings", {"source": source}) if patch is None else
                     ("update_mappings", {"source": source, "mappings": patch})
                     for name, source, patch in cases if world.tokens[name] == token]
            results[token] = iter(_mcp_calls(url, token, steps))
        answers = [(name, patch, over_http(name, patch, source), next(results[world.tokens[name]]))
                   for name, source, patch in cases]
        [narrow_patch] = _mcp_calls(url, world.tokens["a_narrow"], [
            ("update_mappings", {"source": sid, "mappings": {"customers": {"synonyms": ["clients"]}}})])
    for name, patch, http, tool in answers:
        if http.status_code == 200:
            assert not tool.is_error, (name, patch, _text(tool))
            if patch is None:  # the same mappings: what HTTP lists, MCP prints
                shown = http.json()["data"]["mappings"]
                assert all(f"{key}:" in _text(tool) for key in shown), (name, _text(tool))
                assert ("customers.email" in _text(tool)) == ("customers.email" in shown)
        else:
            error = http.json()["error"]
            assert tool.is_error and _text(tool).endswith(f"{error['code']}: {error['message']}"), (
                name, patch, _text(tool), error)
    by_case = {(name, json.dumps(patch)): (http, tool) for name, patch, http, tool in answers}
    assert by_case[("a_read", json.dumps(cases[0][2]))][0].status_code == 403
    assert "'sources:write'" in _text(by_case[("a_read", json.dumps(cases[0][2]))][1])
    assert "data_source_not_found" in _text(by_case[("a", "null")][1])
    narrow_read = _text(by_case[("a_narrow", "null")][1])
    assert "customers.email" not in narrow_read and "mail domains" not in narrow_read
    assert "cannot see" in _text(by_case[("a_narrow", json.dumps(cases[8][2]))][1])
    for patch in cases[5:9]:
        http, tool = by_case[("a_narrow", json.dumps(patch[2]))]
        assert http.status_code == 422 and "invalid_request" in _text(tool)
        assert list(patch[2])[0] in _text(tool)  # names the key or definition it refuses
        assert "mean 'customers.email'" not in _text(tool) and "Login email" not in _text(tool)
    # the hidden mapping and definition survived the narrow token's patches; its own change landed
    assert _text(narrow_patch) == "customers:\n  synonyms: [clients]"
    stored = over_http("a").json()["data"]["mappings"]
    assert stored["customers.email"]["description"] == "Login email"
    assert stored["metric:mail domains"]["sql"] == "COUNT(DISTINCT customers.email)"
    assert stored["customers"]["synonyms"] == ["clients"]


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
