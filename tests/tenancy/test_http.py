"""Tenants, scopes and overlays over HTTP: a token reaches only its tenant's sources, does
only what it was granted, through the stricter of its own and the source's policy."""

from __future__ import annotations

import pytest

API = "/api/v1"
COUNT = {"query": "SELECT COUNT(*) AS n FROM customers"}


def test_each_tenant_has_its_own_shop(world):
    a, b = world.sources["a"], world.sources["b"]
    assert a["id"] != b["id"] and a["name"] == b["name"] == "shop"
    assert a["tenant"] == "acme" and b["tenant"] == "beta"
    listed = world.client.get(f"{API}/data-sources", headers=world.auth("a")).json()["data"]["data_sources"]
    assert [s["id"] for s in listed] == [a["id"]]
    by_name = world.client.get(f"{API}/data-sources/shop", headers=world.auth("b")).json()["data"]
    assert by_name["id"] == b["id"]
    queried = world.client.post(f"{API}/data-sources/shop/query", json=COUNT, headers=world.auth("b"))
    assert queried.status_code == 200 and queried.json()["data"]["rows"] == [[2000]]


def test_a_duplicate_name_within_one_tenant_is_a_conflict(world, shop_path):
    again = world.client.post(f"{API}/data-sources", headers=world.auth("a"), json={
        "name": "shop", "type": "sqlite", "connection": {"database": str(shop_path)}})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("get", "/data-sources/{id}", None),
    ("put", "/data-sources/{id}", {"description": "hijacked"}),
    ("delete", "/data-sources/{id}", None),
    ("post", "/data-sources/{id}/refresh-schema", None),
    ("post", "/data-sources/{id}/query", COUNT),
    ("post", "/data-sources/{id}/ask", {"question": "How many customers?"}),
    ("patch", "/data-sources/{id}/semantic-mappings", {"mappings": {"customers": {"synonyms": ["x"]}}}),
])
def test_another_tenants_source_is_not_found_by_id(world, method, path, body):
    target = world.sources["b"]
    response = getattr(world.client, method)(API + path.format(id=target["id"]), headers=world.auth("a"),
                                             **({"json": body} if body is not None else {}))
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "data_source_not_found"
    assert "beta" not in response.text
    # untouched: its owner still sees it as it was
    owner = world.client.get(f"{API}/data-sources/{target['id']}", headers=world.auth("b")).json()["data"]
    assert owner["description"] == "" and owner["id"] == target["id"]


def test_a_name_only_another_tenant_uses_is_not_found(world, shop_path):
    created = world.client.post(f"{API}/data-sources", headers=world.auth("b"), json={
        "name": "beta_only", "type": "sqlite", "connection": {"database": str(shop_path)}})
    assert created.status_code == 201
    for method, path, body in [("get", "/data-sources/beta_only", None),
                               ("post", "/data-sources/beta_only/query", COUNT),
                               ("delete", "/data-sources/beta_only", None)]:
        response = getattr(world.client, method)(API + path, headers=world.auth("a"),
                                                 **({"json": body} if body else {}))
        assert response.status_code == 404 and "beta_only'?" not in response.text  # no did-you-mean leak


def test_env_tenant_token_and_admin(world):
    listed = world.client.get(f"{API}/data-sources", headers=world.auth("env_a")).json()["data"]["data_sources"]
    assert [s["tenant"] for s in listed] == ["acme"]  # "acme:env-token-a" is tenant acme
    refused = world.client.get(f"{API}/audit", headers=world.auth("env_a"))
    assert refused.status_code == 403 and "'admin'" in refused.json()["error"]["message"]
    every = world.client.get(f"{API}/data-sources", headers=world.auth("admin")).json()["data"]["data_sources"]
    assert sorted(s["tenant"] for s in every) == ["acme", "beta"]  # a plain token is admin: every tenant


def test_ask_only_token_cannot_run_sql(world):
    sid = world.sources["a"]["id"]
    refused = world.client.post(f"{API}/data-sources/{sid}/query", json=COUNT, headers=world.auth("a_ask"))
    assert refused.status_code == 403
    assert refused.json()["error"] == {"code": "access_denied", "message": "this token lacks the 'query' scope"}
    asked = world.client.post(f"{API}/data-sources/{sid}/ask", json={"question": "How many customers?"},
                              headers=world.auth("a_ask"))
    assert asked.status_code == 200 and asked.json()["data"]["rows"] == [[2000]]


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/data-sources", {"name": "x", "type": "sqlite", "connection": {"database": "/nope.db"}}),
    ("put", "/data-sources/{id}", {"description": "d"}),
    ("delete", "/data-sources/{id}", None),
    ("post", "/data-sources/{id}/refresh-schema", None),
    ("patch", "/data-sources/{id}/semantic-mappings", {"mappings": {}}),
    ("post", "/data-sources/{id}/query", COUNT),
    ("post", "/data-sources/{id}/ask", {"question": "How many customers?"}),
    ("get", "/audit", None),
])
def test_a_read_only_token_is_refused_naming_the_scope(world, method, path, body):
    response = getattr(world.client, method)(API + path.format(id=world.sources["a"]["id"]),
                                             headers=world.auth("a_read"), **({"json": body} if body else {}))
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "access_denied" and "scope" in response.json()["error"]["message"]
    assert world.client.get(f"{API}/data-sources", headers=world.auth("a_read")).status_code == 200


def test_the_overlay_applies_to_its_token_only(world):
    sid = world.sources["a"]["id"]
    email = {"query": "SELECT email FROM customers WHERE id = $1", "parameters": [1]}
    denied = world.client.post(f"{API}/data-sources/{sid}/query", json=email, headers=world.auth("a_narrow"))
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "access_denied"
    assert "email" in denied.json()["error"]["message"]
    star = world.client.post(f"{API}/data-sources/{sid}/query", json={"query": "SELECT * FROM customers"},
                             headers=world.auth("a_narrow"))
    assert star.status_code == 403
    same_tenant = world.client.post(f"{API}/data-sources/{sid}/query", json=email, headers=world.auth("a"))
    assert same_tenant.status_code == 200 and "@" in same_tenant.json()["data"]["rows"][0][0]
    capped = world.client.post(f"{API}/data-sources/{sid}/query", headers=world.auth("a_narrow"),
                               json={"query": "SELECT id FROM customers", "max_rows": 50}).json()["data"]
    assert capped["row_count"] == 3 and capped["truncated"] is True
    uncapped = world.client.post(f"{API}/data-sources/{sid}/query", headers=world.auth("a"),
                                 json={"query": "SELECT id FROM customers", "max_rows": 50}).json()["data"]
    assert uncapped["row_count"] == 50


def test_a_token_limited_to_some_sources(world, shop_path):
    other = world.client.post(f"{API}/data-sources", headers=world.auth("a"), json={
        "name": "other", "type": "sqlite", "connection": {"database": str(shop_path)}}).json()["data"]
    headers = world.auth("a_shop")  # tenant acme, limited to the source named shop
    listed = world.client.get(f"{API}/data-sources", headers=headers).json()["data"]["data_sources"]
    assert [s["name"] for s in listed] == ["shop"]
    refused = world.client.post(f"{API}/data-sources/{other['id']}/query", json=COUNT, headers=headers)
    assert refused.status_code == 404
