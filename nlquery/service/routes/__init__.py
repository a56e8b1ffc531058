"""The API's routers, one per resource: health, data sources, queries, tool callbacks."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict

from nlquery import encoding
from nlquery.engine import Engine
from nlquery.principal import Principal


@dataclass(frozen=True)
class Service:
    """What the routes share: the Engine and the settings."""

    engine: Engine
    settings: Any


ANONYMOUS = Principal(token_id=None)
"""A caller the guard let in without a token (no token configured, loopback)."""


def caller(request: Request) -> Principal:
    """The principal the guard found for this request."""
    return request.scope.get("nlquery.principal") or ANONYMOUS


def need(scope: str) -> Any:
    """A dependency: the caller's principal, or 403 ``access_denied`` naming ``scope``."""

    async def principal(request: Request) -> Principal:  # on the loop: no thread hop
        who = caller(request)
        who.require(scope)
        return who

    return Depends(principal)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
                                (409, "Name or execution id already used"),
                                (422, "Invalid request or unanswerable question"), (429, "Rate limited"),
                                (500, "Internal error"),
                                (503, "LLM, catalog or data source unavailable (Retry-After)"))
}


class EncodedRoute(APIRoute):
    """A route whose synchronous endpoint encodes its JSON answer itself, in the worker
    thread it already runs in (:func:`nlquery.encoding.dumps`, as ``/query`` does).

    FastAPI would otherwise validate a returned dict against the return annotation in a
    second trip through the thread pool and serialize it on the event loop: under load,
    every request then waits twice for a worker thread and once more for the loop,
    which cheap reads (list, get) feel most. The annotation still documents the
    response in ``/openapi.json``; the route's ``status_code`` is kept."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _encoded(endpoint, kwargs.get("status_code") or 200)
        super().__init__(path, endpoint, **kwargs)


def _encoded(endpoint: Callable[..., Any], status_code: int) -> Callable[..., Any]:
    @functools.wraps(endpoint)  # FastAPI reads parameters and the return annotation through __wrapped__
    def answer(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        if isinstance(result, Response):
            return result
        return Response(encoding.dumps(result), status_code=status_code, media_type="application/json")

    return answer


def api_router() -> APIRouter:
    """A router under ``/api/v1`` with the documented error answers and :class:`EncodedRoute`."""
    return APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, route_class=EncodedRoute)
