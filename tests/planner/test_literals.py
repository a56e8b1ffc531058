"""Values in the model's SQL become bound parameters; syntax stays SQL."""

from __future__ import annotations

import pytest

from nlquery.guard import validate_sql
from nlquery.planner.literals import bind_literals


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql", "tsql", "duckdb"])
def test_compared_values_become_parameters_in_text_order(dialect):
    sql, values = bind_literals(
        "SELECT name FROM t WHERE country = 'Canada' AND total > 5.5 AND id IN (1, 2) "
        "AND name LIKE '%a%' AND n BETWEEN 3 AND 4 AND k <> 'x' ORDER BY name LIMIT 10", [], dialect)
    assert values == ["Canada", 5.5, 1, 2, "%a%", 3, 4, "x"]
    assert "'Canada'" not in sql and "$8" in sql and "10" in sql  # LIMIT stays
    checked = validate_sql(sql, dialect, max_rows=100)
    assert checked.parameter_count == 8 and checked.parameter_order == tuple(range(1, 9))


def test_function_arguments_negative_numbers_and_typed_literals_stay():
    sql, values = bind_literals(
        "SELECT ROUND(AVG(x), 2), strftime('%Y', d) FROM t WHERE strftime('%Y', d) = '2024' "
        "AND y > -5 AND d >= DATE '2026-01-01' GROUP BY 2", [], "sqlite")
    assert values == ["2024"]
    assert "ROUND(AVG(x), 2)" in sql and "'%Y'" in sql and "-5" in sql


def test_sql_with_placeholders_or_parameters_is_left_alone():
    assert bind_literals("SELECT * FROM t WHERE a = $1 AND b = 'x'", [], "sqlite") == (
        "SELECT * FROM t WHERE a = $1 AND b = 'x'", [])
    assert bind_literals("SELECT * FROM t WHERE b = 'x'", ["y"], "sqlite") == ("SELECT * FROM t WHERE b = 'x'", ["y"])


def test_no_values_or_unparseable_sql_is_unchanged():
    assert bind_literals("SELECT COUNT(*) FROM t", [], "sqlite") == ("SELECT COUNT(*) FROM t", [])
    assert bind_literals("SELEC nonsense ((", [], "sqlite") == ("SELEC nonsense ((", [])


def test_a_quote_in_a_value_is_data_not_sql():
    sql, values = bind_literals("SELECT * FROM t WHERE name = 'O''Toole; DROP TABLE t'", [], "sqlite")
    assert values == ["O'Toole; DROP TABLE t"] and "DROP" not in sql


def test_question_mark_placeholders_are_numbered_in_text_order():
    from nlquery.planner.literals import numbered_placeholders

    assert numbered_placeholders("SELECT '?' FROM t WHERE a = ? AND b IN (SELECT b FROM u WHERE c > ?)", "sqlite") == (
        "SELECT '?' FROM t WHERE a = $1 AND b IN (SELECT b FROM u WHERE c > $2)")
    unchanged = ["SELECT a FROM t WHERE a = $1 AND b = ?", "SELECT 'why?' FROM t", "SELEC ? nonsense (("]
    assert [numbered_placeholders(sql, "sqlite") for sql in unchanged] == unchanged


def test_a_placeholder_without_a_value_gets_the_stored_value_the_question_names():
    from nlquery.planner.literals import with_named_values

    named = {"playlists.name": ["Grunge"], "customers.country": ["Canada"]}
    sql = "SELECT COUNT(*) FROM playlist_track WHERE playlist_id = (SELECT playlist_id FROM playlists WHERE name = $1)"
    assert with_named_values(sql, [], "sqlite", named) == ["Grunge"]
    assert with_named_values("SELECT 1 FROM c WHERE c.name = $1 AND c.country = $2", ["x"], "sqlite", named) == [
        "x", "Canada"]
    # a value the question names for no such column, two candidates, or a placeholder not
    # compared with a column: left as given, for the guard to say what is missing
    assert with_named_values("SELECT 1 FROM c WHERE city = $1", [], "sqlite", named) == []
    assert with_named_values("SELECT 1 FROM c WHERE name = $1", [], "sqlite",
                             {"a.name": ["Grunge"], "b.name": ["Rock"]}) == []
    assert with_named_values("SELECT 1 FROM c WHERE name = $1 AND total > $2", [], "sqlite", named) == []
