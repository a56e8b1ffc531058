"""The first guard: one read-only statement, $n placeholders bound through the AST."""

import pytest

from nlquery import validate_sql
from nlquery.errors import InvalidQuery, InvalidRequest, UnsafeQueryError


@pytest.mark.parametrize("dialect", ["postgres", "mysql", "sqlite"])
def test_dollar_parameters_become_driver_placeholders_in_order(dialect):
    safe = validate_sql("SELECT * FROM t WHERE a = $2 AND b = $1 AND c = $2", dialect)
    assert safe.parameter_count == 2
    sql, params = safe.bind(["one", "two"], "qmark")
    assert sql == "SELECT * FROM t WHERE a = ? AND b = ? AND c = ?"
    assert params == ["two", "one", "two"]


def test_format_style_escapes_percent_signs_when_binding():
    sql, params = validate_sql("SELECT * FROM t WHERE a LIKE 'x%' AND b = $1", "postgres").bind([1], "format")
    assert sql == "SELECT * FROM t WHERE a LIKE 'x%%' AND b = %s" and params == [1]


def test_format_style_without_parameters_leaves_percent_alone():
    sql, params = validate_sql("SELECT 'x%' AS p", "mysql").bind([], "format")
    assert sql == "SELECT 'x%' AS p" and params == []


def test_quoted_identifier_that_looks_like_a_parameter_is_a_column():
    assert validate_sql('SELECT "$1" FROM t', "sqlite").parameter_count == 0


@pytest.mark.parametrize("params", [[], [1, 2]])
def test_wrong_parameter_count_is_invalid_request(params):
    with pytest.raises(InvalidRequest, match="1 parameter"):
        validate_sql("SELECT * FROM t WHERE a = $1", "postgres").bind(params, "format")


@pytest.mark.parametrize("sql", ["SELECT * FROM t WHERE a = ?", "SELECT * FROM t WHERE a = :a"])
def test_other_placeholder_styles_are_refused(sql):
    with pytest.raises(InvalidRequest, match=r"\$1"):
        validate_sql(sql, "sqlite")


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM t",
        "UPDATE t SET a = 1",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "SELECT 1; DROP TABLE t",
        "SELECT * INTO copy FROM t",
        "SELECT * FROM t FOR UPDATE",
        "SELECT pg_sleep(10)",
        "CALL p()",
    ],
)
def test_writes_and_side_effects_are_not_read_only(sql):
    with pytest.raises(UnsafeQueryError):
        validate_sql(sql, "postgres")


@pytest.mark.parametrize("sql", ["", "   ", "SELEC 1", "SELECT (1"])
def test_unparseable_or_empty_sql_is_invalid(sql):
    with pytest.raises(InvalidQuery):
        validate_sql(sql, "postgres")


def test_oversized_sql_is_rejected_before_parsing():
    with pytest.raises(InvalidQuery, match="byte limit"):
        validate_sql("SELECT 1 " + "-" * 200_000, "postgres")


@pytest.mark.parametrize(
    ("sql", "dialect", "expected"),
    [
        ("SELECT a FROM t", "postgres", "SELECT a FROM t LIMIT 100"),
        ("SELECT a FROM t LIMIT 5000", "mysql", "SELECT a FROM t LIMIT 100"),
        ("SELECT a FROM t UNION SELECT b FROM u", "sqlite", "SELECT a FROM t UNION SELECT b FROM u LIMIT 100"),
        ("SELECT a FROM t LIMIT $1", "postgres", "SELECT * FROM (SELECT a FROM t LIMIT $1) AS nlquery_capped LIMIT 100"),
    ],
)
def test_row_cap_is_set_in_the_ast(sql, dialect, expected):
    safe = validate_sql(sql, dialect, max_rows=100)
    assert safe.sql == expected and safe.rewrites


def test_a_smaller_limit_is_kept():
    safe = validate_sql("SELECT a FROM t LIMIT 5", "postgres", max_rows=100)
    assert safe.sql == "SELECT a FROM t LIMIT 5" and safe.rewrites == ()


def test_tables_are_reported():
    safe = validate_sql("SELECT * FROM sales.orders o JOIN customers c ON c.id = o.customer_id", "postgres")
    assert safe.tables == ("sales.orders", "customers")
