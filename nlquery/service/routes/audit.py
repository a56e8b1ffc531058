"""``GET /api/v1/audit``: the audit trail (admin scope), newest first, cursor-paginated."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from nlquery.principal import Principal
from nlquery.service.routes import Service, api_router, need


def router(service: Service) -> APIRouter:
    engine = service.engine
    api = api_router()

    @api.get("/audit")
    def audit_log(source: str | None = Query(default=None, description="A source's id or name"),
                  tenant: str | None = None,
                  since: str | None = Query(default=None, description="ISO 8601 time, or 15m, 2h, 7d"),
                  until: str | None = Query(default=None, description="ISO 8601 time, or 15m, 2h, 7d"),
                  outcome: str | None = Query(default=None, description="ok, error, or an error code"),
                  cursor: str | None = Query(default=None, description="next_cursor of the previous page"),
                  limit: int = Query(default=100, ge=1, le=1000),
                  who: Principal = need("admin")) -> dict[str, Any]:
        return {"data": engine.audit_log(source=source, tenant=tenant, since=since, until=until, outcome=outcome,
                                         cursor=cursor, limit=limit)}

    return api
