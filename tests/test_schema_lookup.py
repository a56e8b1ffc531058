"""Schema lookups through the Engine (the one door MCP and the CLI use): suggestions for
misspelt names, and nothing a policy hides."""

from __future__ import annotations

import pytest

from nlquery import Engine
from nlquery.errors import InvalidRequest


@pytest.fixture
def engine(shop_path):
    with Engine() as e:
        e.add_source("shop", "sqlite", {"database": str(shop_path)},
                     policy={"denied_columns": ["customers.email"], "denied_tables": ["order_items"]})
        yield e


def test_a_misspelt_table_gets_the_closest_name(engine):
    with pytest.raises(InvalidRequest, match="did you mean 'orders'"):
        engine.describe_table("shop", "orderz")


def test_describe_and_search_leave_out_what_the_policy_hides(engine):
    described = engine.describe_table("shop", "customers")
    assert "name" in described and "email" not in described
    with pytest.raises(InvalidRequest):
        engine.describe_table("shop", "order_items")
    found = engine.search_schema("shop", "customer email order items", limit=10)
    assert "order_items" not in {t["table"] for t in found}
    customers = next(t for t in found if t["table"] == "customers")
    assert "email" not in {c["name"] for c in customers["columns"]}
    assert "order_items" not in engine.list_tables("shop")


def test_the_operator_still_finds_hidden_tables(engine):
    assert engine.find_table("shop", "order_items", apply_policy=False).name == "order_items"
