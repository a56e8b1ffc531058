"""The console: a page at ``/`` over the public ``/api/v1`` API (no build step, no CDN).

Everything it needs ships in ``static/`` (HTML, vanilla JS, CSS, an icon), served under
``/console/``. The page holds no data and no secret: it calls the API with the bearer token
the user pasted (kept in the tab's ``sessionStorage``) or the one ``nlquery ui`` put in the
URL fragment, so the API's auth, rate limits and validation apply to it unchanged. Charts
are drawn from a Vega-Lite spec (:mod:`nlquery.chart`) by ``static/chart.js``: no code is
generated or evaluated, and the Content-Security-Policy forbids it anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
PREFIX = "/console"
# Same origin only: no inline script, no eval, no third-party anything.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
           "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}


class _Assets(StaticFiles):
    """The static files, with the page's security headers."""

    async def get_response(self, path: str, scope: Any) -> Any:
        response = await super().get_response(path, scope)
        response.headers.update({k: v for k, v in HEADERS.items() if k != "Cache-Control"})
        return response


def mount(app: Any) -> None:
    """Serve the console at ``/`` and its assets under ``/console/`` (open paths: the page
    and its assets carry no data; every call the page makes goes to the guarded API)."""

    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=HEADERS)

    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
    app.mount(PREFIX, _Assets(directory=STATIC), name="console")
