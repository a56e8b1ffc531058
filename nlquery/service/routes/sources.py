"""``/api/v1/data-sources``: register, list, read, update, remove, refresh, annotate."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from nlquery.principal import Principal
from nlquery.service.routes import Body, Service, api_router, need


class CreateSource(Body):
    name: str
    type: str
    connection: dict[str, Any]
    description: str = ""
    policy: dict[str, Any] | None = None


class UpdateSource(Body):
    name: str | None = None
    description: str | None = None
    connection: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None


class MappingsBody(Body):
    mappings: dict[str, dict[str, Any] | None]


def router(service: Service) -> APIRouter:
    engine = service.engine
    api = api_router()

    @api.post("/data-sources", status_code=201)
    def create_source(body: CreateSource, who: Principal = need("sources:write")) -> dict[str, Any]:
        data = engine.add_source(body.name, body.type, body.connection, body.description,
                                 policy=body.policy, extract=False, remote=True, tenant=who)
        if data["status"] == "connected":
            data = engine.refresh_schema_later(data["id"])
        return {"data": data}

    @api.get("/data-sources")
    def list_sources(who: Principal = need("sources:read")) -> dict[str, Any]:
        return {"data": {"data_sources": engine.list_sources(tenant=who)}}

    @api.get("/data-sources/{source_id}")
    def get_source(source_id: str, who: Principal = need("sources:read")) -> dict[str, Any]:
        return {"data": engine.get_source(source_id, tables=True, tenant=who)}

    @api.put("/data-sources/{source_id}")
    def update_source(source_id: str, body: UpdateSource, who: Principal = need("sources:write")) -> dict[str, Any]:
        return {"data": engine.update_source(source_id, name=body.name, description=body.description,
                                             connection=body.connection, policy=body.policy, remote=True,
                                             tenant=who)}

    @api.delete("/data-sources/{source_id}")
    def delete_source(source_id: str, who: Principal = need("sources:write")) -> dict[str, Any]:
        data = engine.remove_source(source_id, tenant=who)
        return {"data": {"id": data["id"], "deleted": True}}

    @api.post("/data-sources/{source_id}/refresh-schema", status_code=202)
    def refresh_schema(source_id: str, who: Principal = need("sources:write")) -> dict[str, Any]:
        return {"data": engine.refresh_schema_later(source_id, tenant=who)}

    @api.patch("/data-sources/{source_id}/semantic-mappings")
    def update_mappings(source_id: str, body: MappingsBody,
                        who: Principal = need("sources:write")) -> dict[str, Any]:
        return {"data": engine.update_mappings(source_id, body.mappings, tenant=who)}

    return api
