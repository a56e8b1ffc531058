"""``/healthz`` (the process answers) and ``/readyz`` (the catalog answers)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from nlquery.errors import NLQueryError
from nlquery.service.middleware import envelope
from nlquery.service.routes import Service


def router(service: Service) -> APIRouter:
    api = APIRouter(include_in_schema=False)

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:  # on the loop: answers even when every worker thread is busy
        return {"status": "ok"}

    @api.get("/readyz")
    def readyz() -> JSONResponse:
        try:
            service.engine.list_sources()
        except NLQueryError as exc:
            return envelope(exc)
        return JSONResponse({"status": "ready"})

    return api
