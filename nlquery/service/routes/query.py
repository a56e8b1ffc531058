"""``/api/v1/data-sources/{id}/query`` and ``/ask``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import Field

from nlquery.service.routes import ERROR_RESPONSES, Body, Service


class QueryBody(Body):
    query: str
    parameters: list[Any] = Field(default_factory=list)
    max_rows: int | None = Field(default=None, ge=0, le=100_000)


class AskBody(Body):
    question: str
    planner: str = "auto"
    timezone: str | None = None


def router(service: Service) -> APIRouter:
    engine = service.engine
    api = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

    @api.post("/data-sources/{source_id}/query")
    def query(source_id: str, body: QueryBody) -> JSONResponse:
        result = engine.query(source_id, body.query, body.parameters, max_rows=body.max_rows)
        # A Response skips FastAPI's generic encoder: values are JSON-safe already (hot path).
        return JSONResponse({"data": result.to_dict()})

    @api.post("/data-sources/{source_id}/ask")
    def ask(source_id: str, body: AskBody) -> dict[str, Any]:
        answer = engine.ask(source_id, body.question, planner=body.planner, timezone=body.timezone)
        return {"data": answer.to_dict()}

    return api
