"""``nlquery serve`` and ``nlquery tool-definition``."""

from __future__ import annotations

import click

from nlquery.commands.common import print_json


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes (rate limits are per process unless NLQUERY_RATE_LIMIT_REDIS_URL is set).")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the HTTP Data Sources API (needs the 'server' extra).

    \b
    Configuration (environment):
      NLQUERY_API_TOKENS              comma list of bearer tokens (required for /api/v1)
      NLQUERY_CALLBACK_SECRET         HMAC secret of POST /api/v1/tools/query_data
      NLQUERY_RATE_LIMIT_REDIS_URL    share rate limits between replicas (redis://127.0.0.1:6379/0)
      NLQUERY_RATE_LIMIT_QUERIES      per-token /query and /ask calls per minute (100)
      NLQUERY_RATE_LIMIT_GLOBAL       per-token calls per minute (1000)
    """
    try:
        import uvicorn
    except ImportError:
        raise click.ClickException("the HTTP service needs: pip install 'nlquery[server]'") from None
    uvicorn.run("nlquery.service:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info")


@click.command("tool-definition")
def tool_definition() -> None:
    """Print the JSON that registers the query_data tool with an agent platform."""
    from nlquery.service.tools import TOOL_DEFINITION

    print_json(TOOL_DEFINITION)
