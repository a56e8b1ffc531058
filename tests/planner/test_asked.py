"""What the question asks, held against the SQL: unasked LIMITs go, missing rounding is named."""

from __future__ import annotations

import pytest

from nlquery.planner.asked import asked_warnings, drop_unasked_limit

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
