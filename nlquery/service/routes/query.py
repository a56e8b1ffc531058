"""``/api/v1/data-sources/{id}/query`` and ``/ask``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from pydantic import Field

from nlquery import chart, encoding
from nlquery.errors import InvalidRequest, QueryTimeout
from nlquery.principal import Principal
from nlquery.streaming import ResultStream
from nlquery.service.routes import Body, Service, api_router, need

_FORMATS = ("json", "csv", "jsonl", "arrow")
_ACCEPTED = {"text/csv": "csv", encoding.ARROW_STREAM: "arrow", "application/json": "json",
             "application/x-ndjson": "jsonl", "application/jsonl": "jsonl"}
_MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}

STREAM_AFTER_BYTES = 1 << 20
"""A body that reaches this size before the result ended is sent as it is encoded
(chunked), from then on straight from the source's cursor; a smaller one goes out whole,
with its ``Content-Length`` (and, for CSV and JSON lines, ``X-Row-Count`` / ``X-Truncated``)."""


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


class _Encoder:
    """A result format written piece by piece: the start (from the columns), each chunk of
    rows as it arrives, and the end (from the counts, known last)."""

    def __init__(self, start: Callable[[list[str]], bytes], rows: Callable[[list[str], list[Any], bool], bytes],
                 end: Callable[[ResultStream], bytes]) -> None:
        self.start, self.rows, self.end = start, rows, end


def _json_tail(stream: ResultStream) -> bytes:
    tail = {"row_count": stream.row_count, "execution_time_ms": stream.execution_time_ms,
            "truncated": stream.truncated}
    return b"]," + encoding.dumps(tail)[1:] + b"}"


# ``{"data": {columns, rows, row_count, execution_time_ms, truncated}}``: the rows written
# as they arrive, the counts after them.
_ENCODERS = {
    "json": _Encoder(lambda columns: b'{"data":{"columns":' + encoding.dumps(columns) + b',"rows":[',
                     lambda columns, chunk, first: (b"" if first else b",") + encoding.dumps(chunk)[1:-1],
                     _json_tail),
    "csv": _Encoder(lambda columns: "".join(encoding.csv_lines(columns, [])).encode("utf-8"),
                    lambda columns, chunk, first: "".join(
                        encoding.csv_lines(columns, chunk, header=False, chunk=len(chunk) + 1)).encode("utf-8"),
                    lambda stream: b""),
    "jsonl": _Encoder(lambda columns: b"",
                      lambda columns, chunk, first: b"".join(encoding.jsonl_lines(columns, chunk, chunk=len(chunk))),
                      lambda stream: b""),
}


async def _pieces(encoder: _Encoder, stream: ResultStream) -> AsyncIterator[bytes]:
    yield encoder.start(stream.columns)
    first = True
    async for chunk in stream.achunks():
        yield encoder.rows(stream.columns, chunk, first)
        first = False
    yield encoder.end(stream)


class _Streamed(StreamingResponse):
    """A streamed answer its client must keep taking: a piece the client accepts none of
    for ``stall_s`` (the query's timeout) cuts the response, and the stream closes with
    what it held for that client. Without it, a client that sends a query and never
    reads would keep the rest of its result in the server's memory for as long as it
    keeps the connection open."""

    def __init__(self, content: AsyncIterator[bytes], stream: ResultStream, *, media_type: str,
                 stall_s: float) -> None:
        super().__init__(content, media_type=media_type)
        self.stream, self.stall_s = stream, stall_s

    async def stream_response(self, send: Any) -> None:
        async def bounded(message: Any) -> None:
            try:
                await asyncio.wait_for(send(message), self.stall_s)
            except asyncio.TimeoutError:
                raise QueryTimeout(f"the client took nothing of the answer for {self.stall_s:g} s "
                                   "(the query's timeout): response cut") from None

        try:
            await super().stream_response(bounded)
        finally:
            # However the answer ended (complete, cut, the client gone while a piece was
            # being sent): the stream closes now, not when its generator is collected.
            self.stream.close()


async def _respond(kind: str, stream: ResultStream, stall_s: float) -> Response:
    """The whole body when the result ends within :data:`STREAM_AFTER_BYTES`; else a
    chunked response that goes on reading the stream. An error before then is the
    usual error response; one after it cuts the response short (no final chunk), so a
    client never takes a partial body for a whole one."""
    pieces = _pieces(_ENCODERS[kind], stream)
    head: list[bytes] = []
    size = 0
    try:
        async for piece in pieces:
            head.append(piece)
            size += len(piece)
            if size >= STREAM_AFTER_BYTES:
                return _Streamed(_rest(head, pieces, stream), stream, media_type=_MEDIA_TYPES[kind],
                                 stall_s=stall_s)
    finally:
        if size < STREAM_AFTER_BYTES:
            stream.close()
    headers = {} if kind == "json" else _result_headers(stream.row_count, stream.truncated)
    return Response(b"".join(head), media_type=_MEDIA_TYPES[kind], headers=headers)


async def _rest(head: list[bytes], pieces: AsyncIterator[bytes], stream: ResultStream) -> AsyncIterator[bytes]:
    try:
        yield b"".join(head)
        head.clear()
        async for piece in pieces:
            yield piece
    finally:
        stream.close()


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
    api = api_router()

    @api.post("/data-sources/{source_id}/query",
              responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}, encoding.ARROW_STREAM: {}},
                               "description": "JSON (default), CSV, JSON lines or an Arrow IPC stream; "
                                              "results over 1 MiB stream (chunked)"}})
    async def query(source_id: str, body: QueryBody, request: Request,
              format: str | None = Query(default=None, description="json (default), csv, jsonl or arrow"),
              who: Principal = need("query")) -> Response:
        kind = _result_format(format, request.headers.get("accept", ""))
        if kind == "arrow":
            table = await run_in_threadpool(engine.query_arrow, source_id, body.query, body.parameters,
                                            max_rows=body.max_rows, tenant=who)
            truncated = (table.schema.metadata or {}).get(b"nlquery.truncated") == b"true"
            return Response(encoding.arrow_ipc(table), media_type=encoding.ARROW_STREAM,
                            headers=_result_headers(table.num_rows, truncated))
        # Driver values from the source's cursor, encoded chunk by chunk by the fast encoder.
        stream = await engine.stream_async(source_id, body.query, body.parameters, max_rows=body.max_rows,
                                           tenant=who)
        return await _respond(kind, stream, engine.timeout_s)

    @api.post("/data-sources/{source_id}/ask")
    def ask(source_id: str, body: AskBody, who: Principal = need("ask")) -> dict[str, Any]:
        answer = engine.ask(source_id, body.question, planner=body.planner, timezone=body.timezone, tenant=who,
                            **({"candidates": body.candidates} if body.candidates != 1 else {}))
        data = answer.to_dict()
        if body.chart:
            data["chart"] = chart.infer(data["columns"], data["rows"])
        return {"data": data}

    return api
