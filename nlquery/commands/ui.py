"""``nlquery ui``: open the console in a browser, on loopback, with a token made for this run."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import webbrowser

import click


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--no-browser", is_flag=True, help="Print the URL without opening a browser.")
def ui(port: int, no_browser: bool) -> None:
    """Open the console (ask, SQL, charts, schema, mappings, sources) in a browser.

    Serves the HTTP API and the console on 127.0.0.1 only, with a bearer token generated
    for this run (added to NLQUERY_API_TOKENS for this process; gone when it stops). The
    token travels in the URL's fragment, which browsers never send to a server; the
    console moves it to the tab's sessionStorage and removes it from the address bar.
    Ctrl-C stops the server. For a shared server use `nlquery serve` and paste a token.
    """
    try:
        import uvicorn
    except ImportError:
        raise click.ClickException("the console needs: pip install 'nlquery[server]'") from None
    host = "127.0.0.1"
    port = port or free_port(host)
    token = secrets.token_urlsafe(24)
    existing = os.environ.get("NLQUERY_API_TOKENS", "").strip()
    os.environ["NLQUERY_API_TOKENS"] = f"{existing},{token}" if existing else token
    url = f"http://{host}:{port}/#token={token}"
    click.echo(f"nlquery console: {url}\n(Ctrl-C stops it)", err=True)
    if not no_browser:
        # Once the server listens; a browser that cannot open is not an error (the URL is printed).
        threading.Timer(0.8, lambda: webbrowser.open(url)).start()
    uvicorn.run("nlquery.service:create_app", factory=True, host=host, port=port, log_level="warning",
                proxy_headers=False)
