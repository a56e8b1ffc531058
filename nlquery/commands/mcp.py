"""``nlquery mcp``: the MCP server for agent clients."""

from __future__ import annotations

import click

from nlquery.commands.common import print_json


@click.command("mcp")
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="With --transport http. Beyond loopback an API token is required.")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.option("--print-config", is_flag=True, help="Print the JSON to add nlquery to an MCP client and exit.")
def mcp_command(transport: str, host: str, port: int, print_config: bool) -> None:
    """Serve the registered sources to MCP clients (Claude Desktop, Cursor, VS Code...).

    Tools: list_sources, search_schema, describe_table, run_query, ask. Over HTTP the
    guard of `nlquery serve` applies: a bearer token from NLQUERY_API_TOKENS or `nlquery
    tokens create`, the body cap and the failed-authentication limit. With no token
    configured at all, --transport http refuses to start unless --host is loopback
    (127.0.0.1, ::1, localhost), and on loopback it warns that the server is open to every
    local caller without a token.
    """
    from nlquery import mcp as server_module

    if print_config:
        print_json(server_module.print_config())
        return
    if transport == "stdio":
        from nlquery.engine import Engine

        server_module.build_server(Engine()).run("stdio")
        return
    try:
        import uvicorn
    except ImportError:
        raise click.ClickException("MCP over HTTP needs: pip install 'nlquery[server]'") from None
    from nlquery.commands.serve import check_open_api

    check_open_api(host, "the MCP server")
    # The socket's peer is the client: X-Forwarded-For would let a caller pick its address.
    uvicorn.run(server_module.http_app(host), host=host, port=port, log_level="warning", proxy_headers=False)
