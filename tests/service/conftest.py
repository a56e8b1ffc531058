import time

import pytest
from fastapi.testclient import TestClient

from nlquery import Engine
from nlquery.service import Settings, create_app

TOKEN = "test-token-1"
SECRET = "callback-secret"


def make_client(**settings):
    engine = Engine()
    app = create_app(engine, Settings(**{"tokens": TOKEN, "callback_secret": SECRET, "redis_url": None,
                                         **settings}))
    return TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})


@pytest.fixture
def client(nlquery_home):
    with make_client() as test_client:
        yield test_client


@pytest.fixture
def shop(client, shop_path):
    response = client.post("/api/v1/data-sources", json={"name": "shop", "type": "sqlite",
                                                         "connection": {"database": str(shop_path)}})
    assert response.status_code == 201, response.text
    source = response.json()["data"]
    wait_until_extracted(client, source["id"])
    return source


def wait_until_extracted(client, source_id, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get(f"/api/v1/data-sources/{source_id}").json()["data"]["schema_status"]
        if status != "extracting":
            return status
        time.sleep(0.05)
    raise AssertionError("extraction did not finish")
