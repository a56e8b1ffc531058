"""``nlquery mcp``: the MCP server for agent clients."""

from __future__ import annotations

import os

import click

from nlquery.commands.common import print_json


@click.command("mcp")
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="With --transport http.")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.option("--print-config", is_flag=True, help="Print the JSON to add nlquery to an MCP client and exit.")
def mcp_command(transport: str, host: str, port: int, print_config: bool) -> None:
    """Serve the registered sources to MCP clients (Claude Desktop, Cursor, VS Code...).

    Tools: list_sources, search_schema, describe_table, run_query, ask. Over HTTP a bearer
    token from NLQUERY_API_TOKENS is required.
    """
    from nlquery import mcp as server_module
    from nlquery.engine import Engine

    if print_config:
        print_json(server_module.print_config())
        return
    engine = Engine()
    server = server_module.build_server(engine)
    if transport == "stdio":
        server.run("stdio")
        return
    tokens = [t.strip() for t in os.environ.get("NLQUERY_API_TOKENS", "").split(",") if t.strip()]
    if not tokens:
        raise click.UsageError("--transport http needs NLQUERY_API_TOKENS (a bearer token is required)")
    import uvicorn

    from nlquery.service.auth import TokenAuth

    app = server.streamable_http_app(host=host)
    auth = TokenAuth(tokens)

    async def guarded(scope, receive, send):  # bearer token on every HTTP request
        if scope["type"] == "http":
            header = dict(scope.get("headers", [])).get(b"authorization", b"").decode()
            try:
                auth.subject(header)
            except Exception:
                from starlette.responses import JSONResponse

                response = JSONResponse({"error": {"code": "unauthorized", "message": "a valid bearer token "
                                                   "is required"}}, status_code=401)
                await response(scope, receive, send)
                return
        await app(scope, receive, send)

    uvicorn.run(guarded, host=host, port=port, log_level="warning")
