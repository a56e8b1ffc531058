"""Background extraction survives a crash: nothing stays 'extracting' after a restart."""

from __future__ import annotations

from nlquery import Engine
from tests.service.conftest import make_client, wait_until_extracted


def test_a_source_left_extracting_is_extracted_again_on_start(nlquery_home, shop_path):
    with Engine() as engine:  # a previous process registered it and died mid-extraction
        source = engine.add_source("shop", "sqlite", {"database": str(shop_path)}, extract=False)
        engine.mark_extracting(source["id"])
    with make_client() as client:
        assert wait_until_extracted(client, source["id"]) == "ready"


def test_an_unreachable_source_is_registered_with_a_reason(client):
    response = client.post("/api/v1/data-sources", json={
        "name": "down", "type": "postgresql", "connection": {"host": "127.0.0.1", "port": 1, "database": "x"}})
    data = response.json()["data"]
    assert response.status_code == 201 and data["status"] == "disconnected" and data["status_reason"]
    assert data["schema_status"] == "error"
