"""The API's routers, one per resource: health, data sources, queries, tool callbacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from nlquery.engine import Engine


@dataclass(frozen=True)
class Service:
    """What the routes share: the Engine and the settings."""

    engine: Engine
    settings: Any


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
                                (500, "Internal error"), (503, "LLM or catalog unavailable"))
}
