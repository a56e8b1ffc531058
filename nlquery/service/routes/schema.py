"""``/api/v1/data-sources/{id}``: what the console and other front-ends read about a
source's schema (search, value hints, the last refresh's diff, mappings) and the
connection test. Reads need ``sources:read``; the connection test records the source's
``status`` and so needs ``sources:write``. Everything is tenant-scoped like the other
routes, and a token sees neither what the source's policy nor what its overlay hides."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from nlquery.principal import Principal
from nlquery.service.routes import Service, api_router, need


def router(service: Service) -> APIRouter:
    engine = service.engine
    api = api_router()

    @api.get("/data-sources/{source_id}/semantic-mappings",
             summary="Read the semantic mappings",
             description="`{mappings: {key: {description, synonyms, ...}}, stale: [keys]}`; `stale` names "
                         "mappings whose table or column the latest schema no longer has.")
    def read_mappings(source_id: str, who: Principal = need("sources:read")) -> dict[str, Any]:
        return {"data": engine.mappings(source_id, tenant=who)}

    @api.get("/data-sources/{source_id}/schema/search",
             summary="Search the schema (the planner's schema linker)",
             description="The tables that match `q` (names, synonyms, descriptions, stored values), best "
                         "first: the same linker as MCP's `search_schema`.")
    def search_schema(source_id: str,
                      q: str = Query(min_length=1, max_length=1000, description="Words to look for"),
                      limit: int = Query(default=5, ge=1, le=20),
                      who: Principal = need("sources:read")) -> dict[str, Any]:
        return {"data": {"query": q, "tables": engine.search_schema(source_id, q, limit=limit, tenant=who)}}

    @api.get("/data-sources/{source_id}/value-hints",
             summary="Stored values of low-cardinality columns",
             description="`{value_hints: {\"table.column\": [values]}}` as kept with the latest snapshot "
                         "(what the planner shows the model); hidden columns are left out.")
    def value_hints(source_id: str, who: Principal = need("sources:read")) -> dict[str, Any]:
        return {"data": {"value_hints": engine.value_hints(source_id, tenant=who)}}

    @api.get("/data-sources/{source_id}/schema/diff",
             summary="What the last schema refresh changed",
             description="`{schema_version, created_at, diff{tables_added, tables_removed, columns_added, "
                         "columns_removed, columns_changed}}` of the latest version (null before the first "
                         "extraction; a refresh that changes nothing keeps the version and its diff).")
    def schema_diff(source_id: str, who: Principal = need("sources:read")) -> dict[str, Any]:
        return {"data": engine.schema_diff(source_id, tenant=who)}

    @api.post("/data-sources/{source_id}/test-connection",
              summary="Test the connection",
              description="Connects with the source's own connector (any type: SQL, MongoDB, REST) and "
                          "records `status` (connected | disconnected | error, with `status_reason`).")
    def test_connection(source_id: str, who: Principal = need("sources:write")) -> dict[str, Any]:
        engine.check_connection(source_id, tenant=who)
        source = engine.get_source(source_id, tenant=who)
        return {"data": {key: source.get(key) for key in ("id", "name", "type", "status", "status_reason")}}

    return api
