"""``nlquery serve`` and ``nlquery tool-definition``."""

from __future__ import annotations

import os

import click

from nlquery.commands.common import print_json


def check_open_api(host: str, what: str) -> None:
    """With no API token configured (NLQUERY_API_TOKENS or the catalog), refuse a bind
    beyond loopback, and warn on loopback that local callers need no token."""
    from nlquery.engine import Engine
    from nlquery.service.auth import OpenAPIRefused, TokenAuth, exposure

    with Engine() as engine:
        auth = TokenAuth.for_engine(engine, os.environ.get("NLQUERY_API_TOKENS"))
        try:
            warning = exposure(host, auth, what)
        except OpenAPIRefused as exc:
            raise click.UsageError(str(exc)) from None
    if warning:
        click.echo(warning, err=True)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind. Beyond loopback an API token is required.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes (rate limits are per process unless NLQUERY_RATE_LIMIT_REDIS_URL is set).")
@click.option("--forwarded-allow-ips", default=None, metavar="IPS",
              help="Reverse proxies (comma list of IPs) whose X-Forwarded-For names the client. Unset: the "
                   "socket's peer is the client, so no caller can pick its own address for rate limits.")
def serve(host: str, port: int, workers: int, forwarded_allow_ips: str | None) -> None:
    """Serve the HTTP Data Sources API (needs the 'server' extra).

    Every /api/v1 route needs a bearer token from NLQUERY_API_TOKENS or `nlquery tokens
    create`. With no token configured at all, serve refuses to start unless --host is
    loopback (127.0.0.1, ::1, localhost), and on loopback it warns that the API is open to
    every local caller without a token.

    \b
    Configuration (environment):
      NLQUERY_API_TOKENS              comma list of bearer tokens (or `nlquery tokens create`)
      NLQUERY_CALLBACK_SECRET         HMAC secret of POST /api/v1/tools/query_data
      NLQUERY_MAX_REQUEST_BYTES       request body ceiling, counted while it streams (1048576)
      NLQUERY_AUTH_FAILURE_LIMIT      failed authentications per client address per minute
                                      before 429 (10)
      NLQUERY_RATE_LIMIT_REDIS_URL    share rate limits between replicas (redis://127.0.0.1:6379/0)
      NLQUERY_RATE_LIMIT_QUERIES      per-token /query and /ask calls per minute (100)
      NLQUERY_RATE_LIMIT_GLOBAL       per-token calls per minute (1000)
      NLQUERY_QUERY_TIMEOUT_S         per-query timeout in seconds (30)
      NLQUERY_EXTRACTION_TIMEOUT_S    bound of one schema extraction in seconds (300)
      NLQUERY_STREAM_BUFFER_BYTES     rows held in memory for readers of streamed results
                                      that fell behind, all requests together (268435456)
    """
    try:
        import uvicorn
    except ImportError:
        raise click.ClickException("the HTTP service needs: pip install 'nlquery[server]'") from None
    check_open_api(host, "the HTTP API")
    # SIGTERM: the app drains first (nlquery.service.middleware.Drain, NLQUERY_DRAIN_TIMEOUT_S),
    # then uvicorn's shutdown waits at most this long for what is left.
    # No uvicorn access log: the service writes one JSON line per request itself (with its
    # request and trace ids), on the event loop every request passes through.
    uvicorn.run("nlquery.service:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info", access_log=False, timeout_graceful_shutdown=10,
                proxy_headers=forwarded_allow_ips is not None, forwarded_allow_ips=forwarded_allow_ips)


@click.command("tool-definition")
def tool_definition() -> None:
    """Print the JSON that registers the query_data tool with an agent platform."""
    from nlquery.service.tools import TOOL_DEFINITION

    print_json(TOOL_DEFINITION)
