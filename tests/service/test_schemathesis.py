"""Property-based API testing from our own /openapi.json: no 5xx, no response outside the schema.

Driven through schemathesis's Hypothesis strategies rather than its pytest plugin: the
plugin reaches into pytest internals that change between pytest releases (schemathesis
4.32 broke on pytest 9.2), while strategies are schemathesis's stable public API.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from tests.service.conftest import TOKEN, make_client  # noqa: E402

# Semantic validation (a sqlite source needs a database path, a question must not be
# empty...) goes beyond what the schema states, so schema-valid bodies may get 422.
EXCLUDED = [positive_data_acceptance]


def test_api_conforms_to_its_schema(nlquery_home, shop_path):
    with make_client() as client:
        created = client.post("/api/v1/data-sources", json={"name": "shop", "type": "sqlite",
                                                            "connection": {"database": str(shop_path)}})
        assert created.status_code == 201, created.text
        schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 9  # every documented route is exercised

        for operation in operations:
            @given(case=operation.as_strategy())
            @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def conforms(case):
                case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=EXCLUDED)

            conforms()
