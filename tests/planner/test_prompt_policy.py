"""The prompt shows the schema as the caller may see it: a source's hidden columns and a
token's overlay never reach the model (their names, stored values or mappings)."""

from __future__ import annotations

from nlquery.principal import Principal
from tests.planner.fake_llm import sql_reply


def _asked(engine, llm, question="How many customers signed up from each place?", **kwargs):
    llm.script(sql_reply("SELECT COUNT(*) AS n FROM customers"))
    engine.ask("shop", question, planner="llm", **kwargs)
    return llm.prompt()


def test_a_tokens_overlay_hides_columns_and_their_values_from_the_prompt(engine, llm):
    open_prompt = _asked(engine, llm)
    assert "email" in open_prompt  # the column the overlay will hide is normally shown
    who = Principal(tenant="default", overlay={"denied_columns": ["customers.email", "customers.country"]})
    prompt = _asked(engine, llm, tenant=who)
    assert "email" not in prompt and "country" not in prompt
    assert "customers" in prompt  # the table itself stays


def test_a_sources_hidden_table_is_not_in_the_prompt(engine, llm):
    question = "How many order items had a quantity above 2?"
    assert "order_items" in _asked(engine, llm, question)
    engine.update_source("shop", policy={"denied_tables": ["order_items"]})
    assert "order_items" not in _asked(engine, llm, question)
