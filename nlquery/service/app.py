"""The HTTP Data Sources API (FastAPI): thin routes over the Engine.

Base ``/api/v1``; bearer tokens; ``{"data": ...}`` on success and
``{"error": {"code", "message"}}`` on failure, with the stable codes of
:mod:`nlquery.errors`; ``X-Request-Id``, ``X-Trace-Id`` and the ``X-RateLimit-*``
headers on every response.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from nlquery.engine import Engine
from nlquery.errors import InvalidRequest, NLQueryError
from nlquery.service import tools
from nlquery.service.auth import TokenAuth
from nlquery.service.middleware import Hygiene, envelope
from nlquery.service.ratelimit import MemoryCounter, RateLimiter, RedisCounter

log = logging.getLogger("nlquery.service")


@dataclass
class Settings:
    """Service configuration, from the environment by default."""

    tokens: str | None = field(default_factory=lambda: os.environ.get("NLQUERY_API_TOKENS"))
    callback_secret: str | None = field(default_factory=lambda: os.environ.get("NLQUERY_CALLBACK_SECRET"))
    redis_url: str | None = field(default_factory=lambda: os.environ.get("NLQUERY_RATE_LIMIT_REDIS_URL"))
    query_limit: int = field(default_factory=lambda: int(os.environ.get("NLQUERY_RATE_LIMIT_QUERIES", "100")))
    global_limit: int = field(default_factory=lambda: int(os.environ.get("NLQUERY_RATE_LIMIT_GLOBAL", "1000")))
    extraction_workers: int = 4


# -- bodies ----------------------------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateSource(_Body):
    name: str
    type: str
    connection: dict[str, Any]
    description: str = ""
    policy: dict[str, Any] | None = None


class UpdateSource(_Body):
    name: str | None = None
    description: str | None = None
    connection: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None


class QueryBody(_Body):
    query: str
    parameters: list[Any] = Field(default_factory=list)
    max_rows: int | None = Field(default=None, ge=0, le=100_000)


class MappingsBody(_Body):
    mappings: dict[str, dict[str, Any] | None]


class AskBody(_Body):
    question: str
    planner: str = "auto"
    timezone: str | None = None


class ErrorDetail(BaseModel):
    code: str
    message: str
    resource: str | None = None
    retry_after: int | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in ((400, "Bad query or source"), (401, "Missing or invalid token"),
                                (403, "Hidden by the exposure policy"), (404, "Unknown data source"),
                                (422, "Invalid request or unanswerable question"), (429, "Rate limited"),
                                (500, "Internal error"), (503, "LLM or catalog unavailable"))
}


_envelope = envelope


def create_app(engine: Engine | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = engine or Engine()
    auth = TokenAuth.from_setting(settings.tokens, stored=lambda: engine.catalog.active_token_digests())
    counter = RedisCounter(settings.redis_url) if settings.redis_url else MemoryCounter()
    limiter = RateLimiter({"data_sources:queries": settings.query_limit, "api:global": settings.global_limit},
                          counter)
    extraction = ThreadPoolExecutor(max_workers=settings.extraction_workers, thread_name_prefix="extract")

    def extract(source_id: str) -> None:
        try:
            engine.refresh_schema(source_id)  # records ready | error itself
        except NLQueryError as exc:
            log.info(json.dumps({"event": "extraction_failed", "source": source_id, "code": exc.code}))
        except Exception:  # never leave a source stuck in "extracting"
            log.exception("extraction crashed")
            engine.catalog.set_status(source_id, schema_status="error", schema_error="extraction crashed")

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        # A crash mid-extraction left these "extracting": run them again.
        for source in engine.list_sources():
            if source["schema_status"] == "extracting":
                extraction.submit(extract, source["id"])
        yield
        # Running extractions finish first: their connections must not close under them.
        extraction.shutdown(wait=True, cancel_futures=True)
        engine.close()

    if not log.handlers:  # one JSON line per request on stderr, whatever the server's logging
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    app = FastAPI(title="nlquery Data Sources API", version="1", lifespan=lifespan,
                  description="Register data sources, read their schemas and ask them questions, read-only.")
    app.state.engine, app.state.extraction = engine, extraction

    app.add_middleware(Hygiene, auth=auth, limiter=limiter)

    @app.exception_handler(NLQueryError)
    async def nlquery_error(_: Request, exc: NLQueryError) -> JSONResponse:
        return _envelope(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
                             for e in exc.errors())
        return _envelope(InvalidRequest(problems or "invalid request"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method of every route on this path, not the first route's
            methods = {m for route in app.routes if getattr(route, "path_regex", None)
                       and route.path_regex.match(request.url.path) for m in getattr(route, "methods", ())}
            headers["Allow"] = ", ".join(sorted(methods - {"HEAD"}))
        return JSONResponse({"error": {"code": code, "message": str(exc.detail)}}, status_code=exc.status_code,
                            headers=headers)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse({"error": {"code": "internal_error", "message": "internal error"}}, status_code=500)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        try:
            engine.list_sources()
        except NLQueryError as exc:
            return _envelope(exc)
        return JSONResponse({"status": "ready"})

    api = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

    @api.post("/data-sources", status_code=201)
    def create_source(body: CreateSource) -> dict[str, Any]:
        data = engine.add_source(body.name, body.type, body.connection, body.description,
                                 policy=body.policy, extract=False)
        if data["status"] == "connected":
            engine.mark_extracting(data["id"])
            extraction.submit(extract, data["id"])
            data = engine.get_source(data["id"])
        return {"data": data}

    @api.get("/data-sources")
    def list_sources() -> dict[str, Any]:
        return {"data": {"data_sources": engine.list_sources()}}

    @api.get("/data-sources/{source_id}")
    def get_source(source_id: str) -> dict[str, Any]:
        return {"data": engine.get_source(source_id, tables=True)}

    @api.put("/data-sources/{source_id}")
    def update_source(source_id: str, body: UpdateSource) -> dict[str, Any]:
        return {"data": engine.update_source(source_id, name=body.name, description=body.description,
                                             connection=body.connection, policy=body.policy)}

    @api.delete("/data-sources/{source_id}")
    def delete_source(source_id: str) -> dict[str, Any]:
        data = engine.remove_source(source_id)
        return {"data": {"id": data["id"], "deleted": True}}

    @api.post("/data-sources/{source_id}/refresh-schema", status_code=202)
    def refresh_schema(source_id: str) -> dict[str, Any]:
        source = engine.mark_extracting(source_id)
        extraction.submit(extract, source["id"])
        return {"data": source}

    @api.post("/data-sources/{source_id}/query")
    def query(source_id: str, body: QueryBody) -> JSONResponse:
        result = engine.query(source_id, body.query, body.parameters, max_rows=body.max_rows)
        # A Response skips FastAPI's generic encoder: values are JSON-safe already (hot path).
        return JSONResponse({"data": result.to_dict()})

    @api.patch("/data-sources/{source_id}/semantic-mappings")
    def update_mappings(source_id: str, body: MappingsBody) -> dict[str, Any]:
        return {"data": engine.update_mappings(source_id, body.mappings)}

    @api.post("/data-sources/{source_id}/ask")
    def ask(source_id: str, body: AskBody) -> dict[str, Any]:
        answer = engine.ask(source_id, body.question, planner=body.planner, timezone=body.timezone)
        return {"data": answer.to_dict()}

    @api.post("/tools/query_data")
    async def tool_callback(request: Request) -> JSONResponse:
        if not settings.callback_secret:
            raise InvalidRequest("the tool callback is disabled: set NLQUERY_CALLBACK_SECRET")
        raw = await request.body()
        tools.verify(raw, request.headers.get("X-Interactor-Signature"),
                     request.headers.get("X-Interactor-Timestamp"), settings.callback_secret)
        execution_id, parameters = tools.parse_call(raw)
        stored = engine.catalog.stored_tool_result(execution_id)
        if stored is not None:
            return JSONResponse({"result": stored})
        source = parameters["data_source"]
        if isinstance(parameters.get("sql"), str):
            data = engine.query(source, parameters["sql"], parameters.get("parameters") or []).to_dict()
        else:
            data = engine.ask(source, parameters["question"]).to_dict(explain=False)
        result = tools.fit(data)
        engine.catalog.store_tool_result(execution_id, result, tools.RETENTION_S)
        return JSONResponse({"result": result})

    app.include_router(api)
    return app
