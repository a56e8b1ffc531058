"""The HTTP Data Sources API (FastAPI): thin routes over the Engine.

Base ``/api/v1``; bearer tokens; ``{"data": ...}`` on success and
``{"error": {"code", "message"}}`` on failure, with the stable codes and statuses of
:mod:`nlquery.errors` (and only those); ``X-Request-Id``, ``X-Trace-Id`` and the
``X-RateLimit-*`` headers on every response. Routes live in :mod:`nlquery.service.routes`,
one router per resource; the guard in :mod:`nlquery.service.middleware`.
"""

from __future__ import annotations

import gc
import logging
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nlquery.engine import Engine
from nlquery.errors import InvalidRequest, MethodNotAllowed, NLQueryError, NotFound
from nlquery.service import console
from nlquery.service.auth import TokenAuth
from nlquery.service.middleware import DRAIN, MAX_BODY_BYTES, Hygiene, envelope
from nlquery.service.ratelimit import (
    AuthFailures,
    MemoryCounter,
    RateLimiter,
    RedisCounter,
)
from nlquery.service.routes import Service, audit, health, query, schema, sources, tools

log = logging.getLogger("nlquery.service")
DISCONNECTED_RETRY_AFTER_S = 1  # a disconnection's Retry-After: about a circuit breaker's back-off


def _int_env(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


@dataclass
class Settings:
    """Service configuration, from the environment by default."""

    tokens: str | None = field(default_factory=lambda: os.environ.get("NLQUERY_API_TOKENS"))
    callback_secret: str | None = field(default_factory=lambda: os.environ.get("NLQUERY_CALLBACK_SECRET"))
    # The tenant whose sources the signed tool callback reaches (it carries no token).
    callback_tenant: str = field(default_factory=lambda: os.environ.get("NLQUERY_CALLBACK_TENANT") or "default")
    redis_url: str | None = field(default_factory=lambda: os.environ.get("NLQUERY_RATE_LIMIT_REDIS_URL"))
    query_limit: int = field(default_factory=lambda: _int_env("NLQUERY_RATE_LIMIT_QUERIES", 100))
    global_limit: int = field(default_factory=lambda: _int_env("NLQUERY_RATE_LIMIT_GLOBAL", 1000))
    auth_failure_limit: int = field(default_factory=lambda: _int_env("NLQUERY_AUTH_FAILURE_LIMIT", 10))
    max_request_bytes: int = field(default_factory=lambda: _int_env("NLQUERY_MAX_REQUEST_BYTES", MAX_BODY_BYTES))
    extraction_workers: int = 4

    def counter(self) -> Any:
        return RedisCounter(self.redis_url) if self.redis_url else MemoryCounter()


def json_problem(error: dict[str, Any], body: Any) -> str:
    """``body: invalid JSON at line 3, column 5: Expecting ',' delimiter``."""
    position, reason = error["loc"][-1], (error.get("ctx") or {}).get("error", "not JSON")
    if isinstance(body, str) and isinstance(position, int):
        line = body.count("\n", 0, position) + 1
        column = position - body.rfind("\n", 0, position)
        return f"body: invalid JSON at line {line}, column {column}: {reason}"
    return f"body: invalid JSON: {reason}"


def _http_error(exc: StarletteHTTPException) -> NLQueryError:
    """Starlette's own refusals as errors of :mod:`nlquery.errors`."""
    if exc.status_code == 404:
        return NotFound(str(exc.detail))
    if exc.status_code == 405:
        return MethodNotAllowed(str(exc.detail))
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return InvalidRequest(f"body: invalid JSON: not UTF-8 (byte {cause.start})")
    if isinstance(cause, RecursionError):
        return InvalidRequest("body: invalid JSON: nested too deeply")
    if isinstance(cause, ValueError):  # e.g. an integer of more than 4,300 digits
        return InvalidRequest(f"body: invalid JSON: {cause}")
    return InvalidRequest(str(exc.detail))


_HEAP_SETTLED = False


def _settle_heap() -> None:
    """Once per process, when the service starts: collect, then move every object alive
    now (modules, classes, the parsers' tables, the catalog's metadata: ~160k objects) out
    of the cyclic collector's reach (:func:`gc.freeze`). A full collection then scans only
    what requests created since, instead of stopping every thread for the whole heap (on a
    busy 2-core machine: 75-90 ms, several times a minute, felt by every request in flight)."""
    global _HEAP_SETTLED
    if not _HEAP_SETTLED:
        _HEAP_SETTLED = True
        gc.collect()
        gc.freeze()


def create_app(engine: Engine | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = engine or Engine()
    auth = TokenAuth.for_engine(engine, settings.tokens)
    counter = settings.counter()
    limiter = RateLimiter({"data_sources:queries": settings.query_limit, "api:global": settings.global_limit},
                          counter)
    engine.extraction_workers = settings.extraction_workers

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        # A crash mid-extraction left these "extracting": run them again.
        await anyio.to_thread.run_sync(engine.resume_extractions)
        await anyio.to_thread.run_sync(engine.questions.prepare)  # not in the first /ask's time
        _settle_heap()
        # SIGTERM: requests in flight finish (at most NLQUERY_DRAIN_TIMEOUT_S), new ones get 503.
        DRAIN.install(float(os.environ.get("NLQUERY_DRAIN_TIMEOUT_S") or 30))
        yield
        # Running extractions finish first (Engine.close waits for them).
        await anyio.to_thread.run_sync(engine.close)

    if not log.handlers:  # one JSON line per request on stderr, whatever the server's logging
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    # No /docs or /redoc: they load scripts from a CDN and sit outside the token guard;
    # /openapi.json stays (the console and schemathesis read it).
    app = FastAPI(title="nlquery Data Sources API", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Register data sources, read their schemas and ask them questions, read-only.")
    app.state.engine = engine

    app.add_middleware(Hygiene, auth=auth, limiter=limiter, max_body_bytes=settings.max_request_bytes,
                       record=engine.audit,
                       auth_failures=AuthFailures(settings.auth_failure_limit, counter))

    @app.exception_handler(NLQueryError)
    async def nlquery_error(_: Request, exc: NLQueryError) -> JSONResponse:
        retry_after = getattr(exc, "retry_after", None)
        if exc.code == "data_source_disconnected":
            # The service cannot reach the source now (DESIGN allows 503 when documented):
            # 503 + Retry-After tells callers to come back, the code stays the same.
            response = envelope(exc)
            response.status_code = 503
            response.headers["Retry-After"] = str(retry_after or DISCONNECTED_RETRY_AFTER_S)
            return response
        if retry_after is None:
            return envelope(exc)
        response = envelope(exc, resource=getattr(exc, "resource", None), retry_after=retry_after)
        response.headers["Retry-After"] = str(retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            bad = next(e for e in errors if e.get("type") == "json_invalid")
            return envelope(InvalidRequest(json_problem(bad, exc.body)))
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
                             for e in errors)
        return envelope(InvalidRequest(problems or "invalid request"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = envelope(_http_error(exc))
        response.headers.update(dict(getattr(exc, "headers", None) or {}))
        if exc.status_code == 405:  # every method of every route on this path, not the first route's
            methods = {m for route in [*app.routes, *(r for router in routers for r in router.routes)]
                       if getattr(route, "path_regex", None) and route.path_regex.match(request.url.path)
                       for m in getattr(route, "methods", None) or ()}
            response.headers["Allow"] = ", ".join(sorted(methods - {"HEAD"}))
        return response

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse({"error": {"code": "internal_error", "message": "internal error"}}, status_code=500)

    service = Service(engine=engine, settings=settings)
    routers = [module.router(service) for module in (health, sources, query, tools, audit, schema)]
    for router in routers:
        app.include_router(router)
    console.mount(app)  # the console at / (static assets over the public API)
    return app
