"""Repairs that carry the fix, repeated candidates, and warnings about results that ran
(issue 17), against the scripted OpenAI-compatible server: what the model was sent and
what the Engine answered."""

from __future__ import annotations

import pytest

from nlquery.errors import InvalidQuery
from tests.planner.conftest import TODAY, shop_rows
from tests.planner.fake_llm import sql_reply

QUESTION = "Which customers come from DE?"
WRONG_JOIN = ("SELECT c.name, SUM(o.quantity) AS units FROM customers c JOIN orders o ON o.customer_id = c.id "
              "WHERE c.country = $1 GROUP BY c.name")
RIGHT_JOIN = ("SELECT c.name, SUM(i.quantity) AS units FROM customers c JOIN orders o ON o.customer_id = c.id "
              "JOIN order_items i ON i.order_id = o.id WHERE c.country = $1 GROUP BY c.name")


def ask(engine, question=QUESTION, **kwargs):
    return engine.ask("shop", question, today=TODAY, **kwargs)


def test_unknown_column_names_its_tables_the_join_path_and_shows_the_table(engine, llm, shop_file):
    llm.script(sql_reply(WRONG_JOIN, ["DE"]), sql_reply(RIGHT_JOIN, ["DE"]))
    answer = ask(engine)
    first, second = llm.prompt(0), llm.prompt(1)
    assert "TABLE order_items" not in first  # not linked for this question...
    assert "TABLE order_items (" in second  # ...but shown once the fix names it
    feedback = llm.requests[1]["messages"][-1]["content"]
    assert "Column 'quantity' is not in orders" in feedback
    assert "It is a column of: order_items.quantity" in feedback
    assert "Join path: orders JOIN order_items ON order_items.order_id = orders.id" in feedback
    expected = shop_rows(shop_file, RIGHT_JOIN.replace("$1", "?"), ["DE"])
    assert sorted(answer.result.rows) == sorted(expected) and len(answer.attempts) == 2


def test_unknown_table_lists_the_closest_tables_with_their_keys(engine, llm):
    llm.script(sql_reply("SELECT COUNT(*) FROM order_item"), sql_reply("SELECT COUNT(*) FROM order_items"))
    answer = ask(engine, "How many order lines are there?")
    feedback = llm.requests[1]["messages"][-1]["content"]
    assert "Closest tables:" in feedback and "did you mean order_items?" in feedback
    assert "order_items (keys: id, " in feedback and "order_id" in feedback.split("order_items (keys:")[1]
    assert answer.result.rows == [[shop_rows(engine_file(engine), "SELECT COUNT(*) FROM order_items")[0][0]]]


def engine_file(engine):
    return engine.get_source("shop")["connection"]["database"]


def test_a_repeated_candidate_is_not_an_attempt_it_is_asked_again_sampled(engine, llm):
    broken = "SELECT COUNT(*) FROM customer"
    llm.script(sql_reply(broken), sql_reply(" select count(*)  FROM customer "),
               sql_reply("SELECT COUNT(*) FROM customers"))
    answer = ask(engine, "How many customers?")
    assert answer.result.rows == [[2000]]
    assert len(answer.attempts) == 2  # the repeat was not an attempt
    temperatures = [r["temperature"] for r in llm.requests]
    assert temperatures == [0, 0, 0.7]
    systems = [r["messages"][0]["content"] for r in llm.requests]
    assert systems[2] != systems[1]  # and worded differently


def test_an_empty_result_is_sent_back_once_as_a_warning_and_may_stand(engine, llm):
    empty = "SELECT name FROM customers WHERE country = $1"
    llm.script(sql_reply(empty, ["Germany"]), sql_reply(empty, ["Germany"]))
    answer = ask(engine, "Which customers live in Germany?")
    assert len(llm.requests) == 2
    warning = llm.requests[1]["messages"][-1]["content"]
    assert warning.startswith("That query ran, but:") and "returned no rows" in warning
    assert answer.result.rows == [] and any("no rows" in n for n in answer.notes)
    assert "no rows" in " ".join(answer.to_dict()["notes"])


def test_an_empty_result_is_replaced_by_the_fix(engine, llm, shop_file):
    llm.script(sql_reply("SELECT name FROM customers WHERE country = $1", ["Germany"]),
               sql_reply("SELECT name FROM customers WHERE country = $1", ["DE"]))
    answer = ask(engine, "Which customers live in Germany?")
    assert answer.parameters == ["DE"] and answer.notes == []
    assert sorted(answer.result.rows) == sorted(shop_rows(shop_file, "SELECT name FROM customers WHERE country = 'DE'"))


def test_a_date_compared_to_a_year_number_is_a_warning(engine, llm, shop_file):
    llm.script(sql_reply("SELECT COUNT(*) FROM orders WHERE created_at > $1", [2025]),
               sql_reply("SELECT COUNT(*) FROM orders WHERE strftime('%Y', created_at) = $1", ["2025"]))
    answer = ask(engine, "How many orders were placed in 2025?")
    warning = llm.requests[1]["messages"][-1]["content"]
    assert "created_at is a date/time column but is compared to the number 2025" in warning
    assert answer.result.rows == shop_rows(shop_file, "SELECT COUNT(*) FROM orders WHERE created_at LIKE '2025%'")


def test_when_the_warning_round_fails_the_query_that_ran_stands(engine, llm):
    llm.script(sql_reply("SELECT name FROM customers WHERE country = $1", ["XX"]), {"status": 500}, {"status": 500})
    answer = ask(engine, "Which customers live in XX?")
    assert answer.result.rows == [] and answer.notes


def test_without_repair_one_attempt_and_the_bare_error(engine, llm):
    llm.script(sql_reply(WRONG_JOIN, ["DE"]), sql_reply(RIGHT_JOIN, ["DE"]))
    with pytest.raises(InvalidQuery, match="after 1 attempt; last: Unknown column"):
        ask(engine, repair=False)
    assert len(llm.requests) == 1


def _wide_schema():
    """The shop's customers and orders after many unrelated tables that also have a
    ``country`` column (as wide schemas do), ``aa_regions`` joinable to nothing."""
    from connectors.models import Column, ForeignKey, Schema, Table

    noise = [Table(f"aa_{i}", [Column("id", "int"), Column("country", "char")], primary_key=["id"])
             for i in range(6)]
    return Schema(tables=noise + [
        Table("customers", [Column("id", "int"), Column("country", "char")], primary_key=["id"]),
        Table("orders", [Column("id", "int"), Column("customer_id", "int"), Column("total", "numeric")],
              primary_key=["id"], foreign_keys=[ForeignKey(["customer_id"], "customers", ["id"])]),
        Table("notes", [Column("id", "int"), Column("body", "text")], primary_key=["id"]),
    ])


def test_the_fix_names_the_table_the_query_can_join_not_the_first_ones_with_that_column():
    from nlquery.planner.repair import JoinGraph, explain

    schema = _wide_schema()
    fix = explain("invalid_query", "Column 'country' could not be resolved",
                  "SELECT SUM(total) FROM orders WHERE country = 'US'", "sqlite", schema, JoinGraph(schema))
    assert "It is a column of: customers.country." in fix.message
    assert "Join path: orders JOIN customers ON customers.id = orders.customer_id" in fix.message
    assert fix.tables == ["customers"] and "aa_" not in fix.message
    # joinable to none of them: the tables that have it, as before
    lonely = explain("invalid_query", "Column 'country' could not be resolved",
                     "SELECT COUNT(*) FROM notes WHERE country = 'US'", "sqlite", schema, JoinGraph(schema))
    assert "It is a column of: aa_0.country, aa_1.country, aa_2.country, aa_3.country." in lonely.message


def test_a_limit_nobody_asked_for_is_dropped(engine, llm, shop_file):
    llm.script(sql_reply("SELECT country, COUNT(*) FROM customers GROUP BY country LIMIT 2"))
    answer = ask(engine, "How many customers are there in each country?")
    assert len(llm.requests) == 1 and "LIMIT 2" not in answer.sql
    assert sorted(answer.result.rows) == sorted(
        shop_rows(shop_file, "SELECT country, COUNT(*) FROM customers GROUP BY country"))


def test_rounding_the_question_asks_for_is_sent_back_once(engine, llm, shop_file):
    llm.script(sql_reply("SELECT AVG(total_amount) FROM orders"),
               sql_reply("SELECT ROUND(AVG(total_amount), 2) FROM orders"))
    answer = ask(engine, "What is the average order total, rounded to 2 decimals?")
    warning = llm.requests[1]["messages"][-1]["content"]
    assert warning.startswith("That query ran, but:") and "ROUND(value, 2)" in warning
    assert answer.result.rows == shop_rows(shop_file, "SELECT ROUND(AVG(total_amount), 2) FROM orders")


def test_a_join_on_keys_no_foreign_key_pairs_is_sent_back_with_the_path(engine, llm, shop_file):
    wrong = ("SELECT c.name, SUM(i.quantity) FROM customers c JOIN order_items i ON c.id = i.order_id "
             "GROUP BY c.id, c.name")
    right = ("SELECT c.name, SUM(i.quantity) FROM customers c JOIN orders o ON o.customer_id = c.id "
             "JOIN order_items i ON i.order_id = o.id GROUP BY c.id, c.name")
    llm.script(sql_reply(wrong), sql_reply(right))
    answer = ask(engine, "How many items has each customer bought?")
    warning = llm.requests[1]["messages"][-1]["content"]
    assert "pairs customers.id with order_items.order_id, which no foreign key links" in warning
    assert "customers JOIN orders ON orders.customer_id = customers.id JOIN order_items" in warning
    assert "JOIN orders AS o" in answer.sql and answer.notes == []


def test_joins_along_foreign_keys_and_on_data_columns_are_not_questioned(engine, llm):
    joined = ("SELECT COUNT(*) FROM orders o JOIN customers c ON c.id = o.customer_id "
              "JOIN customers d ON d.country = c.country")
    llm.script(sql_reply(joined))
    ask(engine, "How many orders are there per customer country pair?")
    assert len(llm.requests) == 1


def test_a_metric_used_as_a_column_is_explained_with_its_definition(engine, llm):
    engine.update_mappings("shop", {"metric:units sold": {"sql": "SUM(order_items.quantity)"}})
    llm.script(sql_reply("SELECT c.name, units_sold FROM customers c"),
               sql_reply("SELECT c.name, SUM(order_items.quantity) FROM customers c JOIN orders o ON o.customer_id = c.id "
                         "JOIN order_items ON order_items.order_id = o.id GROUP BY c.id, c.name"))
    ask(engine, "units sold per customer")
    fix = llm.requests[1]["messages"][-1]["content"]
    assert "'units_sold' is not a column or table: it is the METRIC units sold = SUM(order_items.quantity)" in fix
    assert "Join path: customers JOIN orders ON orders.customer_id = customers.id JOIN order_items" in fix
    assert "TABLE order_items (" in llm.requests[1]["messages"][-3]["content"]  # shown on the next attempt


def test_a_column_under_the_wrong_alias_moves_to_the_one_table_that_has_it(engine, llm, shop_file):
    from nlquery.planner.repair import requalified

    schema = engine.schema("shop")
    wrong = "SELECT SUM(o.quantity) FROM orders AS o JOIN order_items AS i ON i.order_id = o.id WHERE o.status = 'paid'"
    assert requalified(wrong, "sqlite", schema) == wrong.replace("o.quantity", "i.quantity")
    both = "SELECT o.id FROM orders AS o JOIN order_items AS i ON i.order_id = o.id"  # nothing wrong
    assert requalified(both, "sqlite", schema) == both
    nowhere = "SELECT o.nope FROM orders AS o JOIN order_items AS i ON i.order_id = o.id"
    assert requalified(nowhere, "sqlite", schema) == nowhere
    twice = "SELECT o.quantity FROM orders AS o JOIN (SELECT * FROM orders AS o) AS x ON 1 = 1"
    assert requalified(twice, "sqlite", schema) == twice
    llm.script(sql_reply("SELECT SUM(o.quantity) FROM orders o JOIN order_items i ON i.order_id = o.id"))
    answer = ask(engine, "How many items were ordered?")
    assert len(llm.requests) == 1 and answer.result.rows == shop_rows(shop_file, "SELECT SUM(quantity) FROM order_items")


def test_a_join_of_a_column_with_itself_is_sent_back_with_the_key_path(engine, llm):
    llm.script(sql_reply("SELECT c.name FROM customers c JOIN orders o ON c.id = c.id"),
               sql_reply("SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id"))
    answer = ask(engine, "Which customers have orders?")
    warning = llm.requests[1]["messages"][-1]["content"]
    assert "c.id = c.id compares a column with itself" in warning
    assert "Join through the keys: customers JOIN orders ON orders.customer_id = customers.id" in warning
    assert "o.customer_id = c.id" in answer.sql


def test_a_number_column_compared_to_a_name_says_where_the_name_is_stored(engine, llm):
    llm.script(sql_reply("SELECT COUNT(*) FROM orders WHERE customer_id = $1", ["Toronto"]),
               sql_reply("SELECT COUNT(*) FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.city = $1",
                         ["Toronto"]))
    answer = ask(engine, "How many orders from Toronto?")
    warning = llm.requests[1]["messages"][-1]["content"]
    assert "customer_id is a number column but is compared to the text 'Toronto'" in warning
    assert "'Toronto' is a stored value of customers.city" in warning
    assert answer.parameters == ["Toronto"] and "c.city" in answer.sql


def test_an_unknown_table_read_for_a_column_the_query_has_points_at_that_table():
    from nlquery.planner.repair import JoinGraph, explain

    schema = _wide_schema()
    fix = explain("invalid_query", "unknown table countries; did you mean aa_1?",
                  "SELECT COUNT(*), c2.country FROM customers c JOIN countries c2 ON c.country = c2.country "
                  "GROUP BY c2.country", "sqlite", schema, JoinGraph(schema), shown=["customers"])
    assert "There is no table countries: country is a column of customers, already in the query" in fix.message
    assert "aa_1" not in fix.message  # the guard's guess by spelling is dropped
    # not in the query: the table that has the columns and the query can join
    fix = explain("invalid_query", "unknown table regions", "SELECT r.country, SUM(o.total) FROM orders o "
                  "JOIN regions r ON r.id = o.region_id GROUP BY r.country", "sqlite", schema, JoinGraph(schema))
    assert "country, id are columns of: customers" in fix.message and fix.tables == ["customers"]


def test_an_unknown_table_lists_the_shown_tables_first_and_a_close_spelling():
    from nlquery.planner.repair import JoinGraph, explain

    schema = _wide_schema()
    fix = explain("invalid_query", "unknown table big_buyers; did you mean aa_1?", "SELECT COUNT(*) FROM big_buyers",
                  "sqlite", schema, JoinGraph(schema), shown=["customers", "orders"])
    assert "aa_" not in fix.message and set(fix.tables) == {"customers", "orders"}
    fix = explain("invalid_query", "unknown table order; did you mean orders?", "SELECT COUNT(*) FROM order",
                  "sqlite", schema, JoinGraph(schema), shown=["customers"])
    assert "did you mean orders?" in fix.message and fix.tables[0] == "orders"


def test_a_segment_used_as_a_table_drops_the_guards_spelling_guess():
    from nlquery.planner.repair import JoinGraph, explain
    from nlquery.semantic import merge

    schema = _wide_schema()
    mappings = merge({}, {"segment:big spenders": {"table": "customers", "where": "id IN (SELECT customer_id "
                                                                                   "FROM orders WHERE total > 50)"}},
                     schema)
    fix = explain("invalid_query", "unknown table big_spenders; did you mean aa_1?", "SELECT COUNT(*) FROM big_spenders",
                  "sqlite", schema, JoinGraph(schema), mappings)
    assert "it is the SEGMENT big spenders" in fix.message and "aa_1" not in fix.message


def test_groups_the_query_does_not_return_are_a_warning(engine, llm, shop_file):
    llm.script(sql_reply("SELECT COUNT(*) FROM customers GROUP BY country"),
               sql_reply("SELECT country, COUNT(*) FROM customers GROUP BY country"))
    answer = ask(engine, "How many customers are there in each country?")
    warning = llm.requests[1]["messages"][-1]["content"]
    assert "groups by country but does not return it" in warning
    assert sorted(answer.result.rows) == sorted(
        shop_rows(shop_file, "SELECT country, COUNT(*) FROM customers GROUP BY country"))


def test_question_mark_placeholders_run_with_the_named_value(engine, llm, shop_file):
    llm.script(sql_reply("SELECT COUNT(*) FROM orders WHERE status = ?"))
    answer = ask(engine, "How many delivered orders are there?")
    assert len(llm.requests) == 1 and answer.parameters == ["delivered"]
    assert answer.result.rows == shop_rows(shop_file, "SELECT COUNT(*) FROM orders WHERE status = 'delivered'")


def test_rows_a_join_repeats_are_a_warning(engine, llm, shop_file):
    repeated = "SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.country = $1"
    distinct = repeated.replace("SELECT c.name", "SELECT DISTINCT c.name")
    llm.script(sql_reply(repeated, ["DE"]), sql_reply(distinct, ["DE"]))
    answer = ask(engine, "Which customers from DE have ordered?")
    warning = llm.requests[1]["messages"][-1]["content"]
    assert "rows repeat another row" in warning and "SELECT DISTINCT" in warning
    assert sorted(answer.result.rows) == sorted(shop_rows(shop_file, distinct.replace("$1", "?"), ["DE"]))


def test_an_unqualified_column_of_a_subquery_is_looked_up_and_joined_from_the_subquerys_table(engine):
    from nlquery.planner.repair import JoinGraph, explain

    schema = engine.schema("shop")
    sql = ("SELECT c.name, s.units FROM customers c JOIN (SELECT customer_id, SUM(quantity) AS units "
           "FROM order_items GROUP BY customer_id) s ON s.customer_id = c.id")
    fix = explain("invalid_query", "Column 'customer_id' could not be resolved", sql, "sqlite", schema,
                  JoinGraph(schema))
    assert "Column 'customer_id' is not in order_items." in fix.message  # not customers, which has no fault
    assert "It is a column of: orders.customer_id" in fix.message
    assert "Join path: order_items JOIN orders ON orders.id = order_items.order_id." in fix.message
    assert fix.tables == ["orders"]


def test_a_column_under_an_alias_the_query_never_defines_moves_to_the_table_that_has_it(engine):
    from nlquery.planner.repair import JoinGraph, requalified

    schema = engine.schema("shop")
    undefined = "SELECT SUM(x.quantity) FROM orders AS o JOIN order_items AS i ON i.order_id = o.id"
    assert requalified(undefined, "sqlite", schema) == undefined.replace("x.quantity", "i.quantity")
    by_name = "SELECT orders.status FROM orders AS o"
    assert requalified(by_name, "sqlite", schema) == "SELECT o.status FROM orders AS o"
    inner = "SELECT s.n FROM (SELECT name AS n FROM products) AS s"  # a subquery's column: left alone
    assert requalified(inner, "sqlite", schema) == inner
    # order_items has no name: customers (in the query) has one, but so has products, one
    # foreign key from order_items and not joined: the model more likely meant products
    elsewhere = ("SELECT i.name FROM order_items AS i JOIN orders AS o ON o.id = i.order_id "
                 "JOIN customers AS c ON c.id = o.customer_id")
    assert requalified(elsewhere, "sqlite", schema) == elsewhere.replace("i.name", "c.name")
    assert requalified(elsewhere, "sqlite", schema, JoinGraph(schema)) == elsewhere


def test_a_column_neither_grouped_nor_aggregated_is_read_from_the_grouped_table_or_sent_back(engine, llm,
                                                                                               shop_file):
    from nlquery.planner.repair import regrouped, warnings_for

    schema = engine.schema("shop")
    wrong = ("SELECT p.name, SUM(i.quantity) FROM products p JOIN order_items i ON i.product_id = p.id "
             "JOIN orders o ON o.id = i.order_id JOIN customers c ON c.id = o.customer_id GROUP BY c.id")
    right = wrong.replace("SELECT p.name", "SELECT c.name")
    assert regrouped(wrong, "sqlite", schema) == right.replace(" p JOIN", " AS p JOIN").replace(
        " i ON", " AS i ON").replace(" o ON", " AS o ON").replace(" c ON", " AS c ON")
    warned = warnings_for(wrong, "sqlite", schema, [], 5)
    assert any("p.name is neither in the GROUP BY nor aggregated" in w and "did you mean c.name" in w for w in warned)
    # no grouped table has the column: nothing to read instead, so the model hears it
    status = "SELECT o.status, COUNT(*) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id"
    assert regrouped(status, "sqlite", schema) == status
    by_customer = "SELECT c.name, COUNT(*) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id"
    llm.script(sql_reply(status), sql_reply(by_customer))
    answer = ask(engine, "How many orders has each customer placed?")
    warning = llm.requests[1]["messages"][-1]["content"]
    assert "o.status is neither in the GROUP BY nor aggregated" in warning and "Group by it too" in warning
    expected = shop_rows(shop_file, by_customer)  # the answer is capped: its rows are the fixed query's
    assert answer.result.rows and all(row in expected for row in answer.result.rows)
    fine = ["SELECT c.name, COUNT(*) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id",
            # grouped by the key a join equates with customers' own
            "SELECT c.name, COUNT(*) FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY o.customer_id",
            "SELECT c.country, COUNT(*) FROM customers c GROUP BY 1",
            "SELECT c.country AS land, COUNT(*) FROM customers c GROUP BY land",
            "SELECT country, COUNT(*) FROM customers GROUP BY country"]
    for sql in fine:
        assert not [w for w in warnings_for(sql, "sqlite", schema, [], 5) if "GROUP BY" in w], sql
        assert regrouped(sql, "sqlite", schema) == sql
    city = warnings_for("SELECT country, city, COUNT(*) FROM customers GROUP BY country", "sqlite", schema, [], 5)
    assert any("city is neither in the GROUP BY" in w and "Group by it too" in w for w in city)


def test_warnings_a_revision_left_unfixed_beside_some_it_fixed_are_sent_once_more(engine, llm, shop_file):
    question = "What is the average price per category, rounded to 2 decimals?"
    both = "SELECT p.name, AVG(p.price) FROM products p GROUP BY p.category"
    rounded = "SELECT p.name, ROUND(AVG(p.price), 2) FROM products p GROUP BY p.category"
    right = "SELECT p.category, ROUND(AVG(p.price), 2) FROM products p GROUP BY p.category"
    llm.script(sql_reply(both), sql_reply(rounded), sql_reply(right))
    answer = ask(engine, question)
    first, second = (llm.requests[i]["messages"][-1]["content"] for i in (1, 2))
    assert "ROUND" in first and "p.name is neither in the GROUP BY" in first
    assert "ROUND" not in second and "p.name is neither in the GROUP BY" in second
    assert sorted(answer.result.rows) == sorted(shop_rows(shop_file, right))
    # a revision that fixed none of them stands: no third round
    llm.script(sql_reply(both), sql_reply(both.replace("AVG(p.price)", "AVG(p.price) AS mean")))
    answer = ask(engine, question)
    assert len(llm.requests) == 5 and "mean" in answer.sql


def test_a_direct_join_on_a_key_one_side_lacks_is_fixed_with_the_path_through_the_tables_between(engine):
    from nlquery.planner.repair import JoinGraph, explain

    schema = engine.schema("shop")
    sql = ("SELECT c.name, SUM(i.quantity) FROM customers c JOIN order_items i ON i.customer_id = c.id "
           "GROUP BY c.name")
    fix = explain("invalid_query", "Unknown column: customer_id", sql, "sqlite", schema, JoinGraph(schema))
    assert ("order_items and customers do not join directly on customer_id: join them through orders: "
            "order_items JOIN orders ON orders.id = order_items.order_id JOIN customers ON customers.id = "
            "orders.customer_id.") in fix.message
    assert fix.tables == ["orders"] and "Join path:" not in fix.message


def test_a_column_several_tables_have_moves_to_the_table_of_the_values_it_is_computed_with():
    from connectors.models import Column, ForeignKey, Schema, Table
    from nlquery.planner.repair import requalified

    schema = Schema(tables=[
        Table("customers", [Column("id", "int"), Column("country", "text")], primary_key=["id"]),
        Table("tracks", [Column("id", "int"), Column("unit_price", "numeric")], primary_key=["id"]),
        Table("lines", [Column("id", "int"), Column("customer_id", "int"), Column("track_id", "int"),
                        Column("unit_price", "numeric"), Column("quantity", "int")], primary_key=["id"],
              foreign_keys=[ForeignKey(["customer_id"], "customers", ["id"]), ForeignKey(["track_id"], "tracks", ["id"])]),
    ])
    joins = "FROM customers AS c JOIN lines AS l ON l.customer_id = c.id JOIN tracks AS t ON t.id = l.track_id"
    spent = f"SELECT SUM(c.unit_price * l.quantity) {joins} WHERE c.country = 'BR'"
    assert requalified(spent, "sqlite", schema) == spent.replace("c.unit_price", "l.unit_price")
    grouped = f"SELECT SUM((c.unit_price + 1) * (l.quantity)) {joins}"  # through parentheses too
    assert requalified(grouped, "sqlite", schema) == grouped.replace("c.unit_price", "l.unit_price")
    for alone in [f"SELECT MAX(c.unit_price) {joins}",  # nothing beside it: lines' or tracks' price?
                  f"SELECT SUM(c.unit_price * 2) {joins}"]:
        assert requalified(alone, "sqlite", schema) == alone


def test_a_join_path_another_one_walks_through_is_said_once():
    from connectors.models import Column, ForeignKey, Schema, Table
    from nlquery.planner.repair import JoinGraph, explain

    schema = Schema(tables=[
        Table("customers", [Column("id", "int"), Column("region", "char")], primary_key=["id"]),
        Table("orders", [Column("id", "int"), Column("customer_id", "int"), Column("region", "char")],
              primary_key=["id"], foreign_keys=[ForeignKey(["customer_id"], "customers", ["id"])]),
        Table("lines", [Column("id", "int"), Column("order_id", "int")], primary_key=["id"],
              foreign_keys=[ForeignKey(["order_id"], "orders", ["id"])]),
    ])
    fix = explain("invalid_query", "Column 'region' could not be resolved",
                  "SELECT COUNT(*) FROM lines WHERE region = 'EU'", "sqlite", schema, JoinGraph(schema))
    assert "It is a column of: orders.region, customers.region." in fix.message
    assert fix.message.count("Join path:") == 1  # lines JOIN orders is part of the path to customers
    assert ("Join path: lines JOIN orders ON orders.id = lines.order_id JOIN customers ON customers.id = "
            "orders.customer_id.") in fix.message
    assert fix.tables == ["orders", "customers"]


@pytest.fixture
def shop_graph(engine):
    """The shop's schema and its foreign keys as a graph."""
    from nlquery.planner.repair import JoinGraph

    schema = engine.schema("shop")
    return schema, JoinGraph(schema)


def test_joins_on_a_key_one_side_lacks_are_rebuilt_along_foreign_keys(engine, llm, shop_file, shop_graph):
    from nlquery.planner.joins import rejoined

    schema, graph = shop_graph
    broken = ("SELECT c.name, SUM(i.quantity) FROM customers c JOIN order_items i ON i.customer_id = c.id "
              "GROUP BY c.name")
    fixed = rejoined(broken, "sqlite", schema, graph)
    assert fixed == ("SELECT c.name, SUM(i.quantity) FROM customers AS c JOIN orders ON orders.customer_id = c.id "
                     "JOIN order_items AS i ON i.order_id = orders.id GROUP BY c.name")
    untouched = [
        "SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id",  # runs as written
        "SELECT c.name FROM customers c LEFT JOIN order_items i ON i.customer_id = c.id",  # outer: the model's
        "SELECT c.name FROM customers c JOIN (SELECT * FROM order_items) i ON i.customer_id = c.id",
        "SELECT a.name FROM customers a JOIN customers b ON b.nope = a.id",  # a self-join
    ]
    for sql in untouched:
        assert rejoined(sql, "sqlite", schema, graph) == sql, sql
    llm.script(sql_reply(broken))
    answer = ask(engine, "How many items has each customer bought?")
    assert len(llm.requests) == 1 and sorted(answer.result.rows) == sorted(shop_rows(shop_file, fixed))


def test_a_one_table_subquery_grouped_by_a_key_its_table_lacks_joins_the_nearest_table_having_it(
        engine, llm, shop_file, shop_graph):
    from nlquery.planner.joins import joined_to_keys

    schema, graph = shop_graph
    broken = ("SELECT c.name, t.units FROM customers c JOIN (SELECT customer_id, SUM(quantity) AS units "
              "FROM order_items GROUP BY customer_id ORDER BY units DESC LIMIT 3) t ON t.customer_id = c.id")
    fixed = joined_to_keys(broken, "sqlite", schema, graph)
    assert fixed == ("SELECT c.name, t.units FROM customers AS c JOIN (SELECT orders.customer_id, "
                     "SUM(order_items.quantity) AS units FROM order_items JOIN orders ON orders.id = "
                     "order_items.order_id GROUP BY orders.customer_id ORDER BY units DESC LIMIT 3) AS t "
                     "ON t.customer_id = c.id")
    filtering = "SELECT p.name FROM products p WHERE p.id IN (SELECT product_id FROM order_items WHERE customer_id = 5)"
    assert joined_to_keys(filtering, "sqlite", schema, graph) == (
        "SELECT p.name FROM products AS p WHERE p.id IN (SELECT order_items.product_id FROM order_items "
        "JOIN orders ON orders.id = order_items.order_id WHERE orders.customer_id = 5)")
    untouched = [
        "SELECT customer_id, SUM(total_amount) FROM orders GROUP BY customer_id",  # runs as written
        "SELECT COUNT(*) FROM order_items WHERE country = 'DE'",  # not a key: which country is the model's
        "SELECT COUNT(*) FROM order_items i JOIN products p ON p.id = i.product_id WHERE customer_id = 5",  # 2 tables
        # a correlated subquery sees the outer query's customer_id
        "SELECT o.id FROM orders o WHERE EXISTS (SELECT 1 FROM order_items WHERE customer_id = 5)",
    ]
    for sql in untouched:
        assert joined_to_keys(sql, "sqlite", schema, graph) == sql, sql
    llm.script(sql_reply(broken))
    answer = ask(engine, "Which 3 customers bought the most items?")
    assert len(llm.requests) == 1 and answer.result.rows == shop_rows(shop_file, fixed)


def test_rows_of_a_table_returned_as_computed_values_only_are_a_warning(engine, llm, shop_file):
    from nlquery.planner.repair import warnings_for

    unnamed = "SELECT ROUND(p.price * 1.2, 2) FROM products p ORDER BY p.price DESC LIMIT 5"
    named = "SELECT p.name, ROUND(p.price * 1.2, 2) FROM products p ORDER BY p.price DESC LIMIT 5"
    llm.script(sql_reply(unnamed), sql_reply(named))
    answer = ask(engine, "What are the 5 priciest products, with their price including 20% tax?")
    warning = llm.requests[1]["messages"][-1]["content"]
    assert "each row is one of products, but the query returns only computed values" in warning
    assert "Return p.name before them" in warning
    assert answer.result.rows == shop_rows(shop_file, named)
    schema = engine.schema("shop")
    for fine in [named, "SELECT MAX(price) FROM products", "SELECT ROUND(AVG(price), 2) FROM products",
                 "SELECT COUNT(*) FROM orders o JOIN customers c ON c.id = o.customer_id"]:
        assert not [w for w in warnings_for(fine, "sqlite", schema, [], 5) if "computed values" in w], fine
    one = warnings_for(unnamed.replace("LIMIT 5", "LIMIT 1"), "sqlite", schema, [], 1)
    assert not [w for w in one if "computed values" in w]  # one row: the question said which


def test_a_tie_question_answered_with_limit_1_is_mended_without_a_warning(engine, llm, shop_file):
    top = ("SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id "
           "ORDER BY COUNT(*) DESC LIMIT 1")
    llm.script(sql_reply(top))
    answer = ask(engine, "Which customers placed the most orders? List everyone tied for the most.")
    assert len(llm.requests) == 1 and "LIMIT 1 " not in answer.sql + " " and "HAVING COUNT(*) = (SELECT MAX(n)" in answer.sql
    tied = shop_rows(shop_file, "SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id "
                                "HAVING COUNT(*) = (SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM orders "
                                "GROUP BY customer_id))")
    assert sorted(answer.result.rows) == sorted(tied)


def test_which_table_answered_with_none_of_its_columns_is_a_warning(engine, llm, shop_file):
    from nlquery.planner.asked import asked_entity_warnings

    wrong = ("SELECT p.category FROM customers c JOIN orders o ON o.customer_id = c.id JOIN order_items i "
             "ON i.order_id = o.id JOIN products p ON p.id = i.product_id GROUP BY p.category "
             "ORDER BY SUM(i.quantity) DESC LIMIT 1")
    right = wrong.replace("SELECT p.category", "SELECT c.name").replace("GROUP BY p.category", "GROUP BY c.id")
    llm.script(sql_reply(wrong), sql_reply(right))
    answer = ask(engine, "Which customer bought the most items?")
    warning = llm.requests[1]["messages"][-1]["content"]
    assert "the question asks which customer, but the query returns no column of customers: return c.name" in warning
    assert answer.result.rows == shop_rows(shop_file, right)
    schema = engine.schema("shop")
    for question, sql in [("Which customer bought the most items?", right),
                          ("Which countries have customers?", "SELECT country FROM customers"),  # unqualified
                          ("Which orders are big?", "SELECT * FROM orders"),
                          ("How many customers are there?", "SELECT COUNT(*) FROM customers")]:
        assert asked_entity_warnings(sql, question, "sqlite", schema) == [], question


def test_a_column_missing_in_a_filtering_subquery_is_joined_from_the_query_around_it_when_nearer(engine):
    from nlquery.planner.repair import JoinGraph, explain

    schema = engine.schema("shop")
    sql = ("SELECT SUM(i.quantity) FROM order_items i WHERE i.product_id IN "
           "(SELECT id FROM products WHERE country = 'DE')")
    fix = explain("invalid_query", "Column 'country' could not be resolved", sql, "sqlite", schema, JoinGraph(schema))
    assert "Column 'country' is not in products." in fix.message
    # from products the path runs back through order_items; from the outer order_items it is shorter
    assert ("Join path: order_items JOIN orders ON orders.id = order_items.order_id JOIN customers ON "
            "customers.id = orders.customer_id.") in fix.message
