"""Two tenants, each with a source named ``shop`` (the same name: names are unique per
tenant), and tokens of several kinds, over the real service (FastAPI's TestClient)."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from nlquery import Engine
from nlquery.service import Settings, create_app

SECRET = "tenancy-callback-secret"
ADMIN = "admin-token"  # a plain NLQUERY_API_TOKENS entry: tenant default, every scope
ENV_A = "acme:env-token-a"  # tenant:token


def wait_ready(client, source_id, headers):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        data = client.get(f"/api/v1/data-sources/{source_id}", headers=headers).json()["data"]
        if data["schema_status"] != "extracting":
            return data
        time.sleep(0.05)
    raise AssertionError("extraction did not finish")


class World:
    def __init__(self, client, engine, tokens, sources):
        self.client, self.engine, self.tokens, self.sources = client, engine, tokens, sources

    def auth(self, name):
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def records(self, **filters):
        self.engine.flush_audit()
        return self.engine.audit_log(limit=1000, **filters)["records"]


@pytest.fixture
def world(nlquery_home, shop_path):
    setup = Engine()
    tokens = {name: setup.create_token(name, tenant=tenant, scopes=scopes, policy=policy)["token"]
              for name, tenant, scopes, policy in [
                  ("a", "acme", None, None),
                  ("b", "beta", None, None),
                  ("a_ask", "acme", ["ask", "sources:read"], None),
                  ("a_read", "acme", ["sources:read"], None),
                  ("a_narrow", "acme", None, {"denied_columns": ["customers.email"], "max_rows": 3}),
              ]}
    tokens["a_shop"] = setup.create_token("a_shop", tenant="acme", sources=["shop"])["token"]
    setup.close()
    tokens["admin"] = ADMIN
    tokens["env_a"] = ENV_A.split(":", 1)[1]
    engine = Engine()
    app = create_app(engine, Settings(tokens=f"{ADMIN},{ENV_A}", callback_secret=SECRET, callback_tenant="acme",
                                      redis_url=None))
    with TestClient(app) as client:
        w = World(client, engine, tokens, {})
        for tenant in ("a", "b"):
            response = client.post("/api/v1/data-sources", headers=w.auth(tenant), json={
                "name": "shop", "type": "sqlite", "connection": {"database": str(shop_path)}})
            assert response.status_code == 201, response.text
            w.sources[tenant] = wait_ready(client, response.json()["data"]["id"], w.auth(tenant))
        yield w
