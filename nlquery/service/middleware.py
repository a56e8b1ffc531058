"""Request hygiene as plain ASGI (no per-request task or body buffering): ids, a body
size cap counted while the body streams, auth before any body byte is read, a limit on
failed authentications per client address, rate limits and their headers, one JSON log
line per request.

The same guard (:func:`bearer_guard`) protects MCP over HTTP: one set of token sources
(environment and catalog), one loopback rule when no token is configured.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from nlquery import audit
from nlquery import principal as principals
from nlquery.errors import InvalidRequest, NLQueryError, RateLimitExceeded, Unauthorized
from nlquery.principal import Principal
from nlquery.service.auth import NO_TOKEN_HINT, TokenAuth, is_loopback
from nlquery.service.ratelimit import AuthFailures, RateLimiter, Verdict

log = logging.getLogger("nlquery.service")
MAX_BODY_BYTES = 1_048_576
QUERY_ROUTES = ("/query", "/ask")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class ShuttingDown(NLQueryError):
    """The process got SIGTERM and is draining: requests in flight finish, new ones are
    turned away until it stops (another replica, or this one restarted, will answer)."""

    code, http_status = "shutting_down", 503


class Drain:
    """Requests in flight in this process, and whether it is draining. On SIGTERM (see
    :meth:`install`) new requests get 503 ``shutting_down`` with ``Retry-After`` and
    ``Connection: close`` while the listener stays open; once none is in flight (or after
    ``bound_s``) the server's own shutdown runs."""

    RETRY_AFTER_S = 1

    def __init__(self) -> None:
        self.in_flight = 0  # touched on the event loop only
        self.draining = False

    async def refuse(self, scope: dict[str, Any], send: Any) -> None:
        response = envelope(ShuttingDown("the service is shutting down: retry shortly"))
        response.headers["Retry-After"] = str(self.RETRY_AFTER_S)
        response.headers["Connection"] = "close"
        response.headers["X-Request-Id"] = f"req_{secrets.token_hex(8)}"
        response.headers["X-Trace-Id"] = f"trace_{secrets.token_hex(8)}"
        await response(scope, _nothing, send)

    def install(self, bound_s: float) -> bool:
        """Put the drain in front of the server's SIGTERM handler (uvicorn's, installed
        before the app starts). Only from the main thread, on the running loop; returns
        whether it was installed."""
        import asyncio
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return False
        loop = asyncio.get_running_loop()
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return False

        async def drain_then_stop(sig: int, frame: Any) -> None:
            deadline = loop.time() + bound_s
            while self.in_flight > 0 and loop.time() < deadline:
                await asyncio.sleep(0.05)
            if self.in_flight:
                log.warning(json.dumps({"event": "drain_timeout", "in_flight": self.in_flight, "bound_s": bound_s}))
            previous(sig, frame)

        def on_sigterm(sig: int, frame: Any) -> None:
            if self.draining:  # a second SIGTERM: stop draining now
                previous(sig, frame)
                return
            self.draining = True
            log.info(json.dumps({"event": "draining", "in_flight": self.in_flight}))
            loop.call_soon_threadsafe(lambda: loop.create_task(drain_then_stop(sig, frame)))

        signal.signal(signal.SIGTERM, on_sigterm)
        return True


DRAIN = Drain()
"""This process's drain (one server per process)."""


def envelope(error: NLQueryError, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {**error.to_dict(), **extra}}, status_code=error.http_status)


def api_paths(path: str) -> bool:
    """Paths that need authentication of some kind: the whole API."""
    return path.startswith("/api/v1")


def bearer_paths(path: str) -> bool:
    """Paths that need a bearer token: the API but the signed tool callback."""
    return path.startswith("/api/v1") and not path.startswith("/api/v1/tools/")


def every_path(path: str) -> bool:
    return True


class BodyTooLarge(InvalidRequest):
    """Raised by the capped ``receive`` (the response is replaced by the guard's own)."""


def too_large(limit: int) -> InvalidRequest:
    return InvalidRequest(f"the request body is larger than the {limit:,}-byte limit "
                          "(NLQUERY_MAX_REQUEST_BYTES)")


async def _nothing() -> dict[str, Any]:
    return {"type": "http.disconnect"}


class Hygiene:
    def __init__(self, app: Any, auth: TokenAuth, limiter: RateLimiter | None = None, *,
                 auth_failures: AuthFailures | None = None, max_body_bytes: int = MAX_BODY_BYTES,
                 guarded: Callable[[str], bool] = api_paths, bearer: Callable[[str], bool] = bearer_paths,
                 record: Callable[[dict[str, Any]], None] | None = None, channel: str = "http",
                 record_all: bool = True) -> None:
        self.app, self.auth, self.limiter, self.auth_failures = app, auth, limiter, auth_failures
        self.max_body_bytes, self.guarded, self.bearer = max_body_bytes, guarded, bearer
        # The audit trail: every guarded request (``record_all``) or only refused ones
        # (MCP over HTTP, whose tool calls are recorded by the MCP server itself).
        self.record, self.channel, self.record_all = record, channel, record_all

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and self.guarded(scope["path"]):
            await send({"type": "websocket.close", "code": 1008})  # no WebSocket route is guarded: refuse
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if DRAIN.draining and scope["path"] != "/healthz":
            await DRAIN.refuse(scope, send)
            return
        DRAIN.in_flight += 1
        try:
            await self._handle(scope, receive, send)
        finally:
            DRAIN.in_flight -= 1

    async def _handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = time.perf_counter()
        headers = Headers(scope=scope)
        client_id = headers.get("x-client-request-id", "")
        random = secrets.token_hex(16)  # one call for both ids
        request_id = client_id if _SAFE_ID.match(client_id) else f"req_{random[:16]}"
        trace_id = f"trace_{random[16:]}"
        extra = [(b"x-request-id", request_id.encode()), (b"x-trace-id", trace_id.encode())]
        address = (scope.get("client") or ("unknown", 0))[0] or "unknown"
        guarded = self.guarded(scope["path"])
        state: dict[str, Any] = {"status": 500, "started": False, "cut": False, "cut_after_start": False,
                                 "code": None}
        entry = audit.new_entry(channel=self.channel, method=scope["method"], path=scope["path"][:400],
                                request_id=request_id, trace_id=trace_id)
        scope["nlquery.audit"] = entry

        async def send_out(message: dict[str, Any]) -> None:  # every response leaves through here
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
                state["status"], state["started"] = message["status"], True
                if message["status"] == 401 and guarded and self.auth_failures is not None:
                    await self._blocking(self.auth_failures.record, address)
            elif state["status"] >= 400 and state["code"] is None and message["type"] == "http.response.body":
                state["code"] = _error_code(message.get("body", b""), state["status"])
            await send(message)

        async def app_send(message: dict[str, Any]) -> None:
            if state["cut"] and not state["cut_after_start"]:
                return  # the app's answer to a body we cut short: ours replaces it
            await send_out(message)

        received = 0

        async def capped_receive() -> dict[str, Any]:
            nonlocal received
            if state["cut"]:
                raise BodyTooLarge(too_large(self.max_body_bytes).message)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:  # stop reading: the rest stays unread
                    state["cut"], state["cut_after_start"] = True, state["started"]
                    raise BodyTooLarge(too_large(self.max_body_bytes).message)
            return message

        try:
            denied = await self._admit(scope, headers, address, extra)
        except NLQueryError as exc:
            denied = envelope(exc)
        who = scope.get("nlquery.principal")
        if who is not None:
            entry["tenant"], entry["token_id"] = who.tenant, who.token_id
        failed: str | None = None  # the error code of an answer that did not end (a cut stream)
        try:
            if denied is not None:
                await denied(scope, _nothing, send_out)
            else:
                entry_token, who_token = audit.current_entry.set(entry), principals.current.set(who)
                try:
                    await self.app(scope, capped_receive, app_send)
                except Exception as exc:
                    if not state["cut"]:
                        failed = _failure_code(exc)
                        raise
                finally:
                    audit.current_entry.reset(entry_token)
                    principals.current.reset(who_token)
                if state["cut"] and not state["cut_after_start"]:
                    await envelope(too_large(self.max_body_bytes))(scope, _nothing, send_out)
        finally:
            # Also when the app raised: a streamed answer cut short by an error after its
            # status went out (the client got rows: the read is on record with its error),
            # or a failure before any answer (the server's 500).
            self._finish(entry, state, guarded, failed, started, request_id, trace_id, scope)

    def _finish(self, entry: dict[str, Any], state: dict[str, Any], guarded: bool, failed: str | None,
                started: float, request_id: str, trace_id: str, scope: dict[str, Any]) -> None:
        """The request's audit record and log line."""
        if failed is not None and state["status"] < 400:
            entry["outcome"] = failed if entry.get("outcome") in (None, "ok") else entry["outcome"]
        if self.record is not None and guarded and (self.record_all or state["status"] >= 400 or failed):
            entry["status"] = state["status"]
            if state["status"] >= 400:
                entry["outcome"] = state["code"] or f"http_{state['status']}"
            entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
            entry.pop("_described", None)
            self.record(entry)
        line = {"request_id": request_id, "trace_id": trace_id, "method": scope["method"],
                "path": scope["path"], "status": state["status"],
                "ms": round((time.perf_counter() - started) * 1000, 2)}
        if failed is not None:
            line["error"] = failed
            line["cut"] = state["started"]  # the status went out: the body was cut short
        log.info(json.dumps(line))

    @staticmethod
    async def _blocking(fn: Callable[..., Any], *args: Any) -> Any:
        """A counter call (``fn`` is a bound method of an object with a ``counter``): on the
        loop when in memory, in a thread when it waits on the network (Redis)."""
        if not getattr(fn.__self__.counter, "blocking", True):
            return fn(*args)
        return await anyio.to_thread.run_sync(fn, *args)

    async def _admit(self, scope: dict[str, Any], headers: Headers, address: str,
                     extra: list[tuple[bytes, bytes]]) -> JSONResponse | None:
        """None to go on, or the response that refuses the request. Reads no body. The
        caller's :class:`~nlquery.principal.Principal` goes in ``scope["nlquery.principal"]``."""
        path = scope["path"]
        declared = headers.getlist("content-length")
        if declared:
            try:
                length = int(declared[0])
                if length < 0 or len(set(declared)) > 1:
                    raise ValueError
            except ValueError:
                raise InvalidRequest("the Content-Length header is not a valid length") from None
            if length > self.max_body_bytes:
                raise too_large(self.max_body_bytes)
        if not self.guarded(path):
            return None  # health, docs
        if self.auth_failures is not None:
            blocked = await self._blocking(self.auth_failures.blocked, address)
            if blocked is not None:
                return self._limited(blocked, extra, "too many failed authentications from this address")
        if not self.bearer(path):
            return None  # the signed tool callback authenticates itself
        found = await self.auth.authenticate(headers.get("authorization"))
        if found is None and is_loopback(address):  # no token configured at all
            subject, who = "anonymous", Principal(token_id=None)
        elif found is None:
            raise Unauthorized(f"no API token is configured, so only callers on this machine (loopback) "
                               f"are answered: {NO_TOKEN_HINT}")
        else:
            subject, who = found
        scope["nlquery.principal"] = who.with_channel(self.channel) if who.channel != self.channel else who
        if self.limiter is None:
            return None
        resources = ["data_sources:queries", "api:global"] if path.endswith(QUERY_ROUTES) else ["api:global"]
        verdicts = [await self._blocking(self.limiter.check, subject, resource) for resource in resources]
        shown = next((v for v in verdicts if not v.allowed), verdicts[0])
        extra.extend((k.lower().encode(), v.encode()) for k, v in shown.headers().items())
        if shown.allowed:
            return None
        return self._limited(shown, extra, f"Rate limit exceeded for {shown.resource}")

    @staticmethod
    def _limited(verdict: Verdict, extra: list[tuple[bytes, bytes]], message: str) -> JSONResponse:
        if not any(k == b"x-ratelimit-resource" for k, _ in extra):
            extra.extend((k.lower().encode(), v.encode()) for k, v in verdict.headers().items())
        extra.append((b"retry-after", str(verdict.retry_after).encode()))
        return envelope(RateLimitExceeded(message), resource=verdict.resource, retry_after=verdict.retry_after)


def bearer_guard(app: Any, auth: TokenAuth, *, max_body_bytes: int = MAX_BODY_BYTES,
                 auth_failures: AuthFailures | None = None,
                 record: Callable[[dict[str, Any]], None] | None = None) -> Hygiene:
    """The API's guard around another ASGI app (MCP over HTTP): a bearer token on every
    path, the body cap, failed-auth limits, ids and the log line; refused requests go to
    the audit trail through ``record``."""
    return Hygiene(app, auth, None, auth_failures=auth_failures, max_body_bytes=max_body_bytes,
                   guarded=every_path, bearer=every_path, record=record, channel="mcp", record_all=False)


def _failure_code(exc: BaseException) -> str:
    """The error code of an exception that escaped the app (Starlette wraps one raised
    after the response started): the first NLQueryError's code in its chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NLQueryError):
            return current.code
        current = current.__cause__ or current.__context__
    return "internal_error"


def _error_code(body: bytes, status: int) -> str:
    """The ``error.code`` of an error envelope (``http_<status>`` if it is not one)."""
    try:
        code = json.loads(body)["error"]["code"]
        return code if isinstance(code, str) else f"http_{status}"
    except (ValueError, TypeError, KeyError):
        return f"http_{status}"
