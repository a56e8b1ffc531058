"""The API's routers, one per resource: health, data sources, queries, tool callbacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict

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
