"""'Did you mean' for misspelt names, the same scorer everywhere."""

from __future__ import annotations

import pytest

from nlquery import Engine
from nlquery.errors import InvalidQuery, InvalidRequest
from nlquery.names import closest


@pytest.mark.parametrize(("typed", "expected"), [
    ("totl", "total_amount"), ("orderz", "orders"), ("custmers", "customers"), ("nme", "name"),
    ("zzzzzz", None),
])
def test_closest(typed, expected):
    assert closest(typed, ["total_amount", "orders", "customers", "name", "status"]) == expected


@pytest.fixture
def engine(shop_path):
    with Engine() as e:
        e.add_source("shop", "sqlite", {"database": str(shop_path)})
        yield e


@pytest.mark.parametrize("sql", ["SELECT totl FROM orders", "SELECT o.totl FROM orders AS o"])
def test_a_misspelt_column_in_sql_gets_the_real_one(engine, sql):
    with pytest.raises(InvalidQuery, match="did you mean orders.total_amount"):
        engine.query("shop", sql)


def test_a_misspelt_mapping_key_is_looked_up_in_its_table(engine):
    with pytest.raises(InvalidRequest, match="did you mean 'orders.total_amount'"):
        engine.update_mappings("shop", {"orders.totl": {"description": "x"}})


def test_a_misspelt_time_zone(engine):
    with pytest.raises(InvalidRequest, match="did you mean 'Europe/Paris'"):
        engine.ask("shop", "how many orders", planner="rules", timezone="Europe/Pari")
