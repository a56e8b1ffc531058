"""Request hygiene as plain ASGI (no per-request task or body buffering): ids, body
size limit, auth, rate limits and their headers, one JSON log line per request."""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from nlquery.errors import InvalidRequest, NLQueryError, RateLimitExceeded
from nlquery.service.auth import TokenAuth
from nlquery.service.ratelimit import RateLimiter

log = logging.getLogger("nlquery.service")
MAX_BODY_BYTES = 1_000_000
QUERY_ROUTES = ("/query", "/ask")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def envelope(error: NLQueryError, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {**error.to_dict(), **extra}}, status_code=error.http_status)


class Hygiene:
    def __init__(self, app: Any, auth: TokenAuth, limiter: RateLimiter) -> None:
        self.app, self.auth, self.limiter = app, auth, limiter

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        client_id = headers.get("x-client-request-id", "")
        request_id = client_id if _SAFE_ID.match(client_id) else f"req_{secrets.token_hex(8)}"
        trace_id = f"trace_{secrets.token_hex(8)}"
        extra = [(b"x-request-id", request_id.encode()), (b"x-trace-id", trace_id.encode())]
        status = {"code": 500}

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
                status["code"] = message["status"]
            await send(message)

        try:
            denied = self._admit(scope["path"], headers, extra)
        except NLQueryError as exc:
            denied = envelope(exc)
        if denied is not None:
            await denied(scope, receive, send_with_headers)
        else:
            await self.app(scope, receive, send_with_headers)
        log.info(json.dumps({"request_id": request_id, "trace_id": trace_id, "method": scope["method"],
                             "path": scope["path"], "status": status["code"],
                             "ms": round((time.perf_counter() - started) * 1000, 2)}))

    def _admit(self, path: str, headers: Headers, extra: list[tuple[bytes, bytes]]) -> JSONResponse | None:
        """None to go on, or the response that refuses the request."""
        if int(headers.get("content-length") or 0) > MAX_BODY_BYTES:
            raise InvalidRequest(f"the body is larger than {MAX_BODY_BYTES:,} bytes")
        if not path.startswith("/api/v1") or path.startswith("/api/v1/tools/"):
            return None  # health, docs, and the signed tool callback
        subject = self.auth.subject(headers.get("authorization")) if self.auth.enabled else "anonymous"
        resources = ["data_sources:queries", "api:global"] if path.endswith(QUERY_ROUTES) else ["api:global"]
        verdicts = [self.limiter.check(subject, resource) for resource in resources]
        shown = next((v for v in verdicts if not v.allowed), verdicts[0])
        extra.extend((k.lower().encode(), v.encode()) for k, v in shown.headers().items())
        if shown.allowed:
            return None
        extra.append((b"retry-after", str(shown.retry_after).encode()))
        return envelope(RateLimitExceeded(f"Rate limit exceeded for {shown.resource}"),
                        resource=shown.resource, retry_after=shown.retry_after)
