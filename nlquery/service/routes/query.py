"""``/api/v1/data-sources/{id}/query`` and ``/ask``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import Field

from nlquery import chart, encoding
from nlquery.errors import InvalidRequest
from nlquery.principal import Principal
from nlquery.service.routes import ERROR_RESPONSES, Body, Service, need

_FORMATS = ("json", "csv", "arrow")
_ACCEPTED = {"text/csv": "csv", encoding.ARROW_STREAM: "arrow", "application/json": "json"}


def _result_format(requested: str | None, accept: str) -> str:
    """``?format=`` wins; else the first media type of ``Accept`` we serve; else JSON."""
    if requested is not None:
        if requested.lower() not in _FORMATS:
            raise InvalidRequest(f"format must be one of {', '.join(_FORMATS)}, not {requested!r}")
        return requested.lower()
    for part in accept.split(","):
        kind = _ACCEPTED.get(part.split(";", 1)[0].strip().lower())
        if kind is not None:
            return kind
    return "json"


def _result_headers(row_count: int, truncated: bool) -> dict[str, str]:
    """What the JSON body says besides the rows, for CSV and Arrow answers."""
    return {"X-Row-Count": str(row_count), "X-Truncated": "true" if truncated else "false"}


class QueryBody(Body):
    query: str
    parameters: list[Any] = Field(default_factory=list)
    max_rows: int | None = Field(default=None, ge=0, le=100_000)


class AskBody(Body):
    question: str
    planner: str = "auto"
    timezone: str | None = None
    chart: bool = False  # add `chart`: a Vega-Lite spec chosen from the result's shape (or null)
    candidates: int = 1  # LLM candidates, chosen by agreement of their results (`confidence`)


def router(service: Service) -> APIRouter:
    engine = service.engine
    api = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

    @api.post("/data-sources/{source_id}/query",
              responses={200: {"content": {"text/csv": {}, encoding.ARROW_STREAM: {}},
                               "description": "JSON (default), CSV or an Arrow IPC stream"}})
    def query(source_id: str, body: QueryBody, request: Request,
              format: str | None = Query(default=None, description="json (default), csv or arrow"),
              who: Principal = need("query")) -> Response:
        kind = _result_format(format, request.headers.get("accept", ""))
        if kind == "arrow":
            table = engine.query_arrow(source_id, body.query, body.parameters, max_rows=body.max_rows,
                                       tenant=who)
            truncated = (table.schema.metadata or {}).get(b"nlquery.truncated") == b"true"
            return Response(encoding.arrow_ipc(table), media_type=encoding.ARROW_STREAM,
                            headers=_result_headers(table.num_rows, truncated))
        # Driver values, encoded once by the fast encoder (no converted copy of the rows).
        result = engine.query(source_id, body.query, body.parameters, max_rows=body.max_rows, result="native",
                              tenant=who)
        if kind == "csv":
            return StreamingResponse(encoding.csv_lines(result.columns, result.rows),
                                     media_type="text/csv; charset=utf-8",
                                     headers=_result_headers(result.row_count, result.truncated))
        return Response(encoding.dumps({"data": result.to_dict()}), media_type="application/json")

    @api.post("/data-sources/{source_id}/ask")
    def ask(source_id: str, body: AskBody, who: Principal = need("ask")) -> dict[str, Any]:
        answer = engine.ask(source_id, body.question, planner=body.planner, timezone=body.timezone, tenant=who,
                            **({"candidates": body.candidates} if body.candidates != 1 else {}))
        data = answer.to_dict()
        if body.chart:
            data["chart"] = chart.infer(data["columns"], data["rows"])
        return {"data": data}

    return api
