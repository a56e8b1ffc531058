"""Metrics and segments in the planners (issue 17): shown to the model only when the
question names them, used by the rules planner; and prompts no bigger than they need be."""

from __future__ import annotations

from nlquery.planner.prompt import estimate_tokens, plain_ddl
from tests.planner.conftest import TODAY, shop_rows
from tests.planner.fake_llm import sql_reply

REVENUE = "SUM(order_items.unit_price * order_items.quantity)"
DEFINITIONS = {
    "metric:revenue": {"sql": REVENUE, "synonyms": ["turnover"], "description": "money from items sold"},
    "segment:german customers": {"table": "customers", "where": "country = 'DE'", "synonyms": ["germans"]},
}


def test_a_metric_is_shown_only_when_the_question_names_it(engine, llm):
    engine.update_mappings("shop", DEFINITIONS)
    llm.script(sql_reply(f"SELECT {REVENUE} FROM order_items"), sql_reply("SELECT COUNT(*) FROM customers"))
    answer = engine.ask("shop", "What is our turnover?", today=TODAY)
    prompt = llm.prompt(0)
    assert f"METRIC revenue = {REVENUE}  -- money from items sold" in prompt
    assert "A METRIC or SEGMENT the question names must be used exactly as defined" in prompt
    assert "SEGMENT german" not in prompt and "TABLE order_items (" in prompt
    assert answer.result.rows[0][0] > 0
    engine.ask("shop", "How many customers?", today=TODAY)
    assert "METRIC" not in llm.prompt(1) and "SEGMENT" not in llm.prompt(1)  # no rule either


def test_the_rules_planner_uses_metrics_and_segments(engine, llm, shop_file):
    engine.update_mappings("shop", DEFINITIONS)
    total = engine.ask("shop", "What is the revenue?", planner="rules", today=TODAY)
    assert total.planner == "rules" and "SUM(order_items.unit_price * order_items.quantity)" in total.sql
    expected = shop_rows(shop_file, "SELECT SUM(unit_price * quantity) FROM order_items")[0][0]
    assert round(total.result.rows[0][0], 2) == round(expected, 2)
    per_status = engine.ask("shop", "revenue per status", planner="rules", today=TODAY)
    gold = shop_rows(shop_file, "SELECT o.status, SUM(i.unit_price * i.quantity) FROM order_items i "
                                "JOIN orders o ON o.id = i.order_id GROUP BY o.status")
    assert sorted((r[0], round(r[1], 2)) for r in per_status.result.rows) == sorted((r[0], round(r[1], 2)) for r in gold)
    germans = engine.ask("shop", "How many german customers are there?", planner="rules", today=TODAY)
    assert germans.result.rows == shop_rows(shop_file, "SELECT COUNT(*) FROM customers WHERE country = 'DE'")
    listed = engine.ask("shop", "Show the germans", planner="rules", today=TODAY)
    assert listed.result.row_count == germans.result.rows[0][0]
    assert llm.requests == []


def schema_part(llm, index):
    return llm.requests[index]["messages"][-1]["content"].split("Schema:\n", 1)[1].split("\n\nQuestion:", 1)[0]


def test_value_hints_only_for_columns_the_question_filters_on(engine, llm):
    llm.script(sql_reply("SELECT COUNT(*) FROM orders"), sql_reply("SELECT COUNT(*) FROM orders"),
               sql_reply("SELECT COUNT(*) FROM customers"))
    engine.ask("shop", "How many orders were placed?", today=TODAY)
    assert "values:" not in schema_part(llm, 0)
    engine.ask("shop", "How many delivered orders?", today=TODAY)
    assert "status: values: 'delivered', 'cancelled'" in schema_part(llm, 1)
    assert "country: " not in schema_part(llm, 1)
    engine.ask("shop", "How many customers in 'de'?", today=TODAY)  # a quoted literal, any case
    assert "country: ISO country code; values: " in schema_part(llm, 2)


def test_the_schema_part_of_the_prompt_is_at_most_1_5x_the_plain_ddl(engine, llm):
    llm.script(*[sql_reply("SELECT COUNT(*) FROM orders")] * 3)
    for index, question in enumerate(["How many delivered orders per customer country?",
                                      "Revenue per product category last month",
                                      "Which users signed up this year?"]):
        engine.ask("shop", question, today=TODAY)
        schema_text = schema_part(llm, index)
        linker, snapshot, _ = engine.schema_linker("shop")
        shown = [snapshot.schema.table(line.split()[1]) for line in schema_text.splitlines()
                 if line.startswith("TABLE ")]
        ddl = plain_ddl(shown, snapshot.schema)
        assert estimate_tokens(schema_text) <= 1.5 * estimate_tokens(ddl), (schema_text, ddl)
