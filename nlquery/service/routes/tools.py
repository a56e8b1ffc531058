"""``/api/v1/tools/query_data``: the signed, idempotent tool callback (async: the engine
runs in worker threads, never on the event loop)."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nlquery.errors import ExecutionIdConflict, InvalidRequest
from nlquery.service import tools as calls
from nlquery.principal import Principal
from nlquery.service.routes import Service, api_router


def callback_principal(settings: Any) -> Principal:
    """The signed tool callback acts for ``NLQUERY_CALLBACK_TENANT`` (default ``default``):
    that tenant's sources only, to query and ask."""
    tenant = getattr(settings, "callback_tenant", None) or "default"
    return Principal(tenant=tenant, token_id="callback", scopes=frozenset({"sources:read", "query", "ask"}),
                     channel="callback")


def router(service: Service) -> APIRouter:
    engine = service.engine
    api = api_router()

    def run(parameters: dict[str, Any], who: Principal) -> dict[str, Any]:
        source = parameters["data_source"]
        if isinstance(parameters.get("sql"), str):
            data = engine.query(source, parameters["sql"], parameters.get("parameters") or [],
                                tenant=who).to_dict()
        else:
            data = engine.ask(source, parameters["question"], tenant=who).to_dict(explain=False)
        return calls.fit(data)

    def conflict(execution_id: str) -> ExecutionIdConflict:
        return ExecutionIdConflict(f"execution_id {execution_id!r} was already used for a different call")

    @api.post("/tools/query_data")
    async def tool_callback(request: Request) -> JSONResponse:
        secret = service.settings.callback_secret
        if not secret:
            raise InvalidRequest("the tool callback is disabled: set NLQUERY_CALLBACK_SECRET")
        signature = request.headers.get("X-Interactor-Signature")
        calls.check_headers(signature, request.headers.get("X-Interactor-Timestamp"))  # before any body byte
        raw = await request.body()  # capped by the guard while it streams
        signed_at = calls.verify(raw, signature, request.headers.get("X-Interactor-Timestamp"), secret)
        call = calls.parse_call(raw, signed_at, request.headers.get("X-Interactor-Request-Id"))
        who = callback_principal(service.settings)
        entry = request.scope.get("nlquery.audit")
        if entry is not None:  # the guard opened the record: this is a signed call, not a token's
            entry.update(action="tool_callback", channel="callback", tenant=who.tenant, token_id=who.token_id,
                         source=str(call.parameters.get("data_source"))[:200])
        stored = await run_in_threadpool(engine.stored_tool_result, call.execution_id)
        if stored is None:
            result = await run_in_threadpool(run, call.parameters, who)
            stored = await run_in_threadpool(functools.partial(
                engine.store_tool_result, call.execution_id, result, request_digest=call.digest,
                retention_s=calls.RETENTION_S))
        digest, result = stored
        if digest is not None and digest != call.digest:
            raise conflict(call.execution_id)
        return JSONResponse({"result": result})

    return api
