"""A connector's dialect facts reach the guard and the prompt through the Engine."""

from __future__ import annotations

import pytest

import connectors
from connectors.base import DialectFacts
from connectors.sqlite import SQLiteConnector
from nlquery.errors import UnsafeQueryError
from tests.planner.conftest import TODAY
from tests.planner.fake_llm import sql_reply


class StrictSQLite(SQLiteConnector):
    dialect_facts = DialectFacts("sqlite", allowed_functions={"shout"}, denied_functions={"upper"},
                                 prompt_notes="SQLite, strictly: NOTE-7f3 never upper().")


@pytest.fixture
def strict(engine, shop_file):
    connectors.register("sqlite-strict", StrictSQLite)
    try:
        engine.add_source("strict", "sqlite-strict", {"database": str(shop_file)})
        yield engine
    finally:
        connectors.registry._extra.pop("sqlite-strict", None)


def test_the_guard_reads_the_sources_facts(strict):
    sql = "SELECT upper(name) FROM customers"
    assert strict.validate("shop", sql).sql  # plain sqlite: a read-only built-in
    with pytest.raises(UnsafeQueryError, match="upper"):
        strict.validate("strict", sql)
    with pytest.raises(UnsafeQueryError, match="upper"):
        strict.query("strict", sql)
    with pytest.raises(UnsafeQueryError, match="shout"):
        strict.validate("shop", "SELECT shout(name) FROM customers")
    assert strict.validate("strict", "SELECT shout(name) FROM customers").sql


def test_asking_uses_the_facts_for_the_prompt_and_the_guard(strict, llm):
    llm.script(sql_reply("SELECT upper(name) FROM customers"), sql_reply("SELECT COUNT(*) FROM customers"))
    answer = strict.ask("strict", "How many customers?", today=TODAY)
    assert "NOTE-7f3" in llm.prompt(0)
    assert "upper" in str(answer.attempts[0].error) and answer.attempts[-1].error is None
    llm.script(sql_reply("SELECT COUNT(*) FROM customers"))
    strict.ask("shop", "How many customers?", today=TODAY)
    assert "NOTE-7f3" not in llm.prompt() and "SQLite. Dates are ISO text" in llm.prompt()
