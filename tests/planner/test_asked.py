"""What the question asks, held against the SQL: unasked LIMITs go, missing rounding is named."""

from __future__ import annotations

import pytest

from nlquery.planner.asked import asked_warnings, drop_unasked_limit, undivided_metrics

SQL = "SELECT g.name, COUNT(*) FROM tracks t JOIN genres g ON g.genre_id = t.genre_id GROUP BY g.name LIMIT 10"


@pytest.mark.parametrize("question", ["How many tracks are there in each genre?", "List the albums by Queen.",
                                      "Which guests made a request?"])
def test_a_limit_the_question_gives_no_reason_for_is_dropped(question):
    assert "LIMIT" not in drop_unasked_limit(SQL, question, "sqlite")
    assert "LIMIT" not in drop_unasked_limit(SQL.replace("LIMIT 10", "") .replace("SELECT", "SELECT TOP 10"),
                                             question, "tsql")


@pytest.mark.parametrize("question", ["Which 3 genres have the most tracks?", "Which genre has the most tracks?",
                                      "What are the ten biggest genres?", "Name the longest track.",
                                      "Show the top genres.", "Which is the oldest invoice?"])
def test_a_number_or_a_ranking_keeps_the_limit(question):
    assert drop_unasked_limit(SQL, question, "sqlite") == SQL


def test_inner_limits_offsets_and_unparseable_sql_are_kept():
    inner = "SELECT * FROM (SELECT name FROM tracks ORDER BY milliseconds DESC LIMIT 5) AS t"
    assert drop_unasked_limit(inner, "List the tracks", "sqlite") == inner
    paged = "SELECT name FROM tracks LIMIT 5 OFFSET 10"
    assert drop_unasked_limit(paged, "List the tracks", "sqlite") == paged
    assert drop_unasked_limit("SELEC ((", "List the tracks", "sqlite") == "SELEC (("


@pytest.mark.parametrize(("question", "places"), [
    ("What is the average price, rounded to 2 decimals?", "2"),
    ("Percentage of Rock tracks, rounded to one decimal place", "1"),
    ("Total in minutes (round to 1 decimal)", "1"),
])
def test_rounding_the_sql_lacks_is_named(question, places):
    [warning] = asked_warnings("SELECT AVG(unit_price) FROM tracks", question)
    assert f"ROUND(value, {places})" in warning
    assert asked_warnings(f"SELECT round (AVG(unit_price), {places}) FROM tracks", question) == []


def test_no_rounding_asked_no_warning():
    assert asked_warnings("SELECT AVG(unit_price) FROM tracks", "What is the average price?") == []


@pytest.mark.parametrize("question", ["What is the average price per country, rounded to 2 decimals?",
                                      "How many invoices per country in 2025?"])
def test_decimals_and_years_are_not_row_counts(question):
    assert "LIMIT" not in drop_unasked_limit(SQL, question, "sqlite")


@pytest.mark.parametrize("sql", [
    "SELECT name, ROUND(STRFTIME('%M', milliseconds), 2) FROM tracks ORDER BY milliseconds DESC LIMIT 10",
    "SELECT name, ROUND(milliseconds / 600, 2) FROM tracks ORDER BY milliseconds DESC LIMIT 10",
    "SELECT name, ROUND(milliseconds, 2) FROM tracks ORDER BY milliseconds DESC LIMIT 10",
])
def test_a_unit_asked_from_a_column_in_another_unit_needs_the_factor(sql):
    warnings = asked_warnings(sql, "The 10 longest tracks with their length in minutes?", "sqlite")
    assert warnings == ["milliseconds holds milliseconds, a number, and the question wants minutes: "
                        "minutes = milliseconds / 60000.0 (not a date function)."]


@pytest.mark.parametrize("sql", [
    "SELECT name, ROUND(milliseconds / 60000.0, 2) FROM tracks",
    "SELECT name, milliseconds / 1000.0 / 60 FROM tracks",
    "SELECT name, duration_seconds / 60.0 FROM tracks",
])
def test_the_right_factor_or_no_unit_asked_is_no_warning(sql):
    assert asked_warnings(sql, "Track lengths in minutes", "sqlite") == []
    assert asked_warnings("SELECT name, milliseconds FROM tracks", "The length of each track", "sqlite") == []


def test_a_limit_on_a_question_about_every_row_tied_is_a_warning():
    sql = "SELECT customer_id FROM invoices GROUP BY customer_id ORDER BY COUNT(*) DESC LIMIT 1"
    assert "tied for the top" in asked_warnings(sql, "Which customers placed the most invoices, all tied?")[0]
    assert asked_warnings(sql, "Which customer placed the most invoices?") == []


def test_a_named_metric_or_segment_the_query_does_not_use_is_a_warning():
    from nlquery.semantic import SemanticMapping

    mappings = {"segment:long tracks": SemanticMapping(table="tracks", where="milliseconds > 360000"),
                "metric:revenue": SemanticMapping(sql="SUM(invoice_items.unit_price * invoice_items.quantity)")}
    question = "Revenue of long tracks per genre"
    keys = list(mappings)
    unused = "SELECT g.name, SUM(i.total) FROM genres g JOIN tracks t ON t.genre_id = g.genre_id GROUP BY g.name"
    warnings = asked_warnings(unused, question, "sqlite", keys, mappings)
    assert warnings == [
        "the question names the SEGMENT long tracks = tracks WHERE milliseconds > 360000: the query must keep only "
        "those rows.",
        "the question names the METRIC revenue = SUM(invoice_items.unit_price * invoice_items.quantity): compute it "
        "with exactly that expression."]
    used = ("SELECT g.name, SUM(ii.unit_price * ii.quantity) FROM genres g JOIN tracks t ON t.genre_id = g.genre_id "
            "JOIN invoice_items ii ON ii.track_id = t.track_id WHERE t.milliseconds > 360000 GROUP BY g.name")
    assert asked_warnings(used, question, "sqlite", keys, mappings) == []


def test_one_row_by_the_most_becomes_every_row_tied_for_it_when_the_question_asks_for_ties():
    import sqlite3

    from nlquery.planner.asked import keep_ties

    db = sqlite3.connect(":memory:")
    db.executescript("CREATE TABLE sales (who TEXT, amount INT); INSERT INTO sales VALUES "
                     "('ann', 5), ('ann', 1), ('bob', 3), ('bob', 2), ('cy', 1), ('dee', 9), ('eve', 9);")
    question = "Who made the most sales? List everyone tied for the most."
    grouped = "SELECT who FROM sales GROUP BY who ORDER BY COUNT(*) DESC LIMIT 1"
    assert sorted(db.execute(keep_ties(grouped, question, "sqlite")).fetchall()) == [("ann",), ("bob",)]
    aliased = "SELECT who, SUM(amount) AS total FROM sales WHERE who <> 'cy' GROUP BY who ORDER BY total LIMIT 1"
    assert db.execute(keep_ties(aliased, question, "sqlite")).fetchall() == [("bob", 5)]
    plain = "SELECT who FROM sales ORDER BY amount DESC LIMIT 1"
    assert sorted(db.execute(keep_ties(plain, question, "sqlite")).fetchall()) == [("dee",), ("eve",)]
    for kept, asked in [(grouped, "Who made the most sales?"),  # no ties asked: one row it is
                        (grouped.replace("LIMIT 1", "LIMIT 3"), question),  # top 3 with ties: not ours
                        (grouped.replace("LIMIT 1", "LIMIT 1 OFFSET 1"), question)]:
        assert keep_ties(kept, asked, "sqlite") == kept


def test_a_named_metric_divided_by_another_aggregate_is_kept_whole_unless_a_ratio_is_asked():
    from nlquery.semantic import SemanticMapping

    mappings = {"metric:revenue": SemanticMapping(sql="SUM(invoice_items.unit_price * invoice_items.quantity)")}
    divided = ("SELECT g.name, ROUND(SUM(ii.unit_price * ii.quantity) / COUNT(ii.invoice_id), 2) FROM genres g "
               "JOIN tracks t ON t.genre_id = g.genre_id JOIN invoice_items ii ON ii.track_id = t.track_id "
               "GROUP BY g.name")
    question = "What is the revenue of each genre?"
    assert undivided_metrics(divided, question, "sqlite", list(mappings), mappings) == (
        "SELECT g.name, ROUND(SUM(ii.unit_price * ii.quantity), 2) FROM genres AS g "
        "JOIN tracks AS t ON t.genre_id = g.genre_id JOIN invoice_items AS ii ON ii.track_id = t.track_id "
        "GROUP BY g.name")
    parenthesized = divided.replace("ROUND(SUM", "ROUND((SUM").replace("), 2)", ")), 2)", 1)
    assert "COUNT" not in undivided_metrics(parenthesized, question, "sqlite", list(mappings), mappings)
    unchanged = [
        (divided, "What is the average revenue per invoice in each genre?"),  # a ratio is asked
        (divided.replace("/ COUNT(ii.invoice_id)", "/ 100"), question),  # a unit, not another aggregate
        (divided, "How many invoices are there in each genre?"),  # the metric is not named: not in definitions
    ]
    for sql, asked in unchanged:
        named = list(mappings) if "revenue" in asked else []
        assert undivided_metrics(sql, asked, "sqlite", named, mappings) == sql, asked
