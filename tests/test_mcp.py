"""The MCP server through the SDK's own client: in memory, over a real stdio subprocess,
and against the real PostgreSQL."""

from __future__ import annotations

import json
import os
import sys

import anyio
import pytest

mcp = pytest.importorskip("mcp")

from mcp.client.stdio import StdioServerParameters  # noqa: E402

from nlquery import Engine  # noqa: E402
from nlquery.demo import run_demo  # noqa: E402
from nlquery.mcp import build_server  # noqa: E402
from tests.conftest import scratch_postgres  # noqa: E402


@pytest.fixture
def demo(nlquery_home):
    run_demo()  # registers demo-shop with its mappings


def session(target, calls):
    """Run ``calls(client)`` inside an MCP client session; return its result."""
    async def main():
        async with mcp.Client(target) as client:
            return await calls(client)

    return anyio.run(main)


def text(result) -> str:
    return "\n".join(part.text for part in result.content)


def test_the_tool_list_is_small(demo):
    tools = session(build_server(Engine()), lambda c: c.list_tools()).tools
    assert [t.name for t in tools] == ["list_sources", "search_schema", "describe_table", "run_query", "ask",
                                       "get_mappings", "update_mappings"]
    serialized = json.dumps([t.model_dump(exclude_none=True) for t in tools])
    assert len(serialized) / 4 <= 1500  # about 4 characters per token


def test_every_tool_on_the_demo_shop(demo):
    async def calls(client):
        return [
            await client.call_tool("list_sources", {}),
            await client.call_tool("search_schema", {"source": "demo-shop", "phrase": "clients who signed up"}),
            await client.call_tool("describe_table", {"source": "demo-shop", "table": "orders"}),
            await client.call_tool("run_query", {"source": "demo-shop", "sql": "SELECT COUNT(*) AS n FROM orders "
                                                 "WHERE status = $1", "parameters": ["paid"]}),
            await client.call_tool("ask", {"source": "demo-shop", "question": "How many orders per status?"}),
        ]

    listed, searched, described, queried, asked = session(build_server(Engine()), calls)
    assert "demo-shop (sqlite, connected)" in text(listed)
    assert text(searched).startswith("customers -- Customer accounts") and "also: users, clients" in text(searched)
    assert "status VARCHAR(20) NOT NULL" in text(described) and "values: 'cancelled', 'delivered'" in text(described)
    assert "FK (customer_id) -> customers(id)" in text(described)
    assert text(queried).splitlines()[0] == "n" and not queried.is_error
    assert text(asked).startswith("SQL: SELECT") and "delivered" in text(asked)


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"source": "demo-shop", "sql": "DELETE FROM orders"}, "query_not_read_only"),
        ({"source": "demo-shop", "sql": "WITH d AS (DELETE FROM orders RETURNING id) SELECT * FROM d"},
         "query_not_read_only"),
        ({"source": "nope", "sql": "SELECT 1"}, "data_source_not_found"),
        ({"source": "demo-shop", "sql": "SELECT totl FROM orders"}, "invalid_query"),
    ],
)
def test_errors_are_tool_errors_with_our_codes(demo, arguments, code):
    result = session(build_server(Engine()), lambda c: c.call_tool("run_query", arguments))
    assert result.is_error and f"{code}:" in text(result) and "Traceback" not in text(result)


def test_a_huge_result_is_capped(demo):
    result = session(build_server(Engine()), lambda c: c.call_tool(
        "run_query", {"source": "demo-shop", "sql": "SELECT * FROM order_items", "max_rows": 10**6}))
    lines = text(result).splitlines()
    assert lines[-1] == "(500 rows (truncated: more rows exist))" and len(lines) == 502


def test_the_schema_resource(demo):
    result = session(build_server(Engine()), lambda c: c.read_resource("nlquery://sources/demo-shop/schema"))
    assert "TABLE orders" in result.contents[0].text


def test_over_a_real_stdio_subprocess(demo, nlquery_home):
    params = StdioServerParameters(command=sys.executable, args=["-m", "nlquery.cli", "mcp"],
                                   env={**os.environ, "NLQUERY_HOME": str(nlquery_home)})

    async def calls(client):
        tools = await client.list_tools()
        result = await client.call_tool("run_query", {"source": "demo-shop", "sql": "SELECT COUNT(*) FROM products"})
        refused = await client.call_tool("run_query", {"source": "demo-shop", "sql": "DROP TABLE orders"})
        return tools, result, refused

    tools, result, refused = session(params, calls)
    assert len(tools.tools) == 7 and "144" in text(result)
    assert refused.is_error and "query_not_read_only" in text(refused)


def test_against_the_real_postgresql(nlquery_home):
    backend = scratch_postgres(with_data=True)
    try:
        engine = Engine()
        engine.add_source("pg", "postgresql", {"url": backend.url})
        result = session(build_server(engine), lambda c: c.call_tool(
            "run_query", {"source": "pg", "sql": "SELECT name FROM customers WHERE id = $1", "parameters": [1]}))
        assert text(result).splitlines()[1] == backend.shop.rows["customers"][0][1]
        engine.close()
    finally:
        backend.drop_database()


def test_print_config():
    from click.testing import CliRunner

    from nlquery.cli import cli

    config = json.loads(CliRunner().invoke(cli, ["mcp", "--print-config"]).output)
    assert config["mcpServers"]["nlquery"]["args"] == ["-m", "nlquery.cli", "mcp"]


def test_over_streamable_http_with_a_bearer_token(demo, nlquery_home):
    import socket
    import subprocess
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "NLQUERY_HOME": str(nlquery_home), "NLQUERY_API_TOKENS": "mcp-token"}
    process = subprocess.Popen([sys.executable, "-m", "nlquery.cli", "mcp", "--transport", "http", "--port",
                                str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        for _ in range(100):
            try:
                response = httpx.post(url, json={}, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
        from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

        async def over_http():  # a whole MCP session with the SDK's HTTP client
            async with create_mcp_http_client(headers={"Authorization": "Bearer mcp-token"}) as http:
                async with streamable_http_client(url, http_client=http) as streams:
                    async with mcp.ClientSession(streams[0], streams[1]) as client:
                        await client.initialize()
                        tools = await client.list_tools()
                        result = await client.call_tool(
                            "run_query", {"source": "demo-shop", "sql": "SELECT COUNT(*) FROM products"})
                        return tools, result

        tools, result = anyio.run(over_http)
        assert len(tools.tools) == 7 and "144" in text(result)
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- semantic mappings: the same patch as PATCH /semantic-mappings --------------------------
REVENUE = "SUM(order_items.unit_price * order_items.quantity)"


def test_mappings_are_read_and_patched_with_the_http_semantics(demo):
    engine = Engine()

    async def calls(client):
        return [
            await client.call_tool("get_mappings", {"source": "demo-shop"}),
            await client.call_tool("update_mappings", {"source": "demo-shop", "mappings": {
                "metric:Revenue": {"sql": REVENUE, "synonyms": ["turnover"]},
                "segment:big  orders": {"table": "Orders", "where": "orders.total_amount > 500"},
                "Customers": {"synonyms": ["clients", "buyers"]},  # replaces the list, keeps the description
                "products": None,
            }}),
            await client.call_tool("update_mappings", {"source": "demo-shop", "mappings": {}}),
            await client.call_tool("get_mappings", {"source": "demo-shop"}),
        ]

    before, patched, unchanged, after = session(build_server(engine), calls)
    assert not any(r.is_error for r in (before, patched, unchanged, after))
    assert "customers:\n  description: Customer accounts and profiles\n  synonyms: [users, clients" in text(before)
    assert "metric:revenue:\n  sql: " + REVENUE in text(patched) and "segment:big orders:" in text(patched)
    assert "synonyms: [clients, buyers]" in text(patched) and "removed: products" in text(patched)
    assert "orders.total_amount" not in text(patched).split("segment:big orders:")[0]  # only what changed
    assert text(unchanged) == "no change"
    stored = engine.mappings("demo-shop")["mappings"]
    assert stored["customers"] == {"description": "Customer accounts and profiles",
                                   "synonyms": ["clients", "buyers"]}
    assert stored["metric:revenue"]["sql"] == REVENUE and stored["segment:big orders"]["table"] == "orders"
    assert "products" not in stored
    # what get_mappings prints is a patch update_mappings takes back unchanged
    import yaml

    document = yaml.safe_load(text(after))
    again = session(build_server(engine), lambda c: c.call_tool("update_mappings", {"source": "demo-shop",
                                                                                    "mappings": document}))
    assert text(again) == "no change" and engine.mappings("demo-shop")["mappings"] == stored


BAD_PATCHES = [
    {"custmers": {"synonyms": ["x"]}},                                   # unknown key, with a suggestion
    {"customers": {"synonyms": ["x"], "colour": "red"}},                 # unknown field
    {"orders": {"sql": "SUM(orders.total_amount)"}},                     # a definition on a table key
    {"metric:x": {"sql": "SUM(order_items.qty)"}},                       # unknown column
    {"metric:x": {"sql": "SUM(invoices.total)"}},                        # unknown table
    {"metric:x": {"description": "no sql"}},
    {"segment:x": {"table": "orders", "where": "1 = 1; DELETE FROM orders"}},
    {"segment:x": {"table": "orders", "where": "load_extension('/tmp/evil.so') IS NULL"}},
    {"segment:x": {"table": "orders", "where": "orders.status ~ 'x'"}},  # PostgreSQL's, not SQLite's
    {"customers": "clients"},
]


@pytest.mark.parametrize("patch", BAD_PATCHES)
def test_a_bad_patch_is_the_error_http_gives(demo, patch):
    from tests.service.conftest import make_client

    stored = Engine().mappings("demo-shop")
    result = session(build_server(Engine()), lambda c: c.call_tool(
        "update_mappings", {"source": "demo-shop", "mappings": patch}))
    with make_client() as client:
        source = client.get("/api/v1/data-sources/demo-shop").json()["data"]["id"]
        response = client.patch(f"/api/v1/data-sources/{source}/semantic-mappings", json={"mappings": patch})
    error = response.json()["error"]
    assert response.status_code == 422 and error["code"] == "invalid_request"
    assert result.is_error and text(result).startswith("Error executing tool update_mappings: invalid_request: ")
    if not isinstance(next(iter(patch.values())), str):  # HTTP's body model refuses a string itself
        assert text(result).endswith(": invalid_request: " + error["message"])
    assert "Traceback" not in text(result) and "_Patch" not in text(result)
    assert Engine().mappings("demo-shop") == stored  # nothing of a refused patch is kept


def test_a_malformed_patch_is_invalid_request(demo):
    for mappings in (["customers"], "customers", 3):
        result = session(build_server(Engine()), lambda c: c.call_tool(
            "update_mappings", {"source": "demo-shop", "mappings": mappings}))
        assert result.is_error and "invalid_request: mappings must be an object" in text(result)
