"""Property-based API testing from our own /openapi.json: no 5xx, no response outside the schema."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from tests.service.conftest import TOKEN, make_client  # noqa: E402


@pytest.fixture
def api_schema(nlquery_home, shop_path):
    with make_client() as client:
        client.post("/api/v1/data-sources", json={"name": "shop", "type": "sqlite",
                                                  "connection": {"database": str(shop_path)}})
        yield schemathesis.openapi.from_asgi("/openapi.json", client.app)


schema = schemathesis.pytest.from_fixture("api_schema")


# Semantic validation (a sqlite source needs a database path, a question must not be
# empty...) goes beyond what the schema states, so schema-valid bodies may get 422.
EXCLUDED = [positive_data_acceptance]


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=EXCLUDED)
