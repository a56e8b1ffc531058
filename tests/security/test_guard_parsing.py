"""Issue 16, item 9 (parsing): any input gives an NLQueryError with a message in the
user's terms, and MySQL optimizer hints never reach the server."""

from __future__ import annotations

import pytest

from nlquery.errors import InvalidQuery, NLQueryError, UnsafeQueryError
from nlquery.guard import validate_sql

DIALECTS = ["postgres", "mysql", "sqlite", "tsql", "duckdb"]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", [
    "SELECT " + "(" * 1000 + "1" + ")" * 1000,
    "SELECT 1 FROM t WHERE " + "(" * 5000 + "a = 1" + ")" * 5000,
    "SELECT " + "(" * 1000,
])
def test_deep_nesting_is_invalid_query(dialect, sql):
    with pytest.raises(InvalidQuery, match="nest"):
        validate_sql(sql, dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_deep_brackets_are_invalid_query(dialect):
    # [ opens an array in PostgreSQL and DuckDB, a quoted name in SQLite and T-SQL.
    with pytest.raises(InvalidQuery):
        validate_sql("SELECT ARRAY" + "[" * 1000 + "1" + "]" * 1000, dialect)


@pytest.mark.parametrize("sql", [
    "SELECT " + "NOT " * 3000 + "true",
    "SELECT 1" + "::int" * 3000,
    "SELECT " + "- " * 3000 + "1",
])
def test_deep_trees_without_brackets_are_invalid_query(sql):
    try:
        validate_sql(sql, "postgres")
    except NLQueryError as exc:
        assert exc.code == "invalid_query" and exc.message
    # (a parser that copes with the depth may accept it: then it was a read)


@pytest.mark.parametrize("sql", [
    "SELECT /*+ a('*/ SLEEP(5), /*') */ 1",
    "SELECT 'unterminated",
    'SELECT "unterminated',
    "SELECT `unterminated",
    "SELECT 1 /* unterminated",
])
def test_tokenizer_errors_are_invalid_query(sql):
    with pytest.raises(InvalidQuery) as caught:
        validate_sql(sql, "mysql")
    assert "\n" not in caught.value.message and "sqlglot" not in caught.value.message


@pytest.mark.parametrize("sql,where", [
    ("SELECT 1 * FROM t", "line 1, column 15"),
    ("SELECT a FROM t WHERE", "line 1, column 21"),
    ("SELECT (((1) FROM t", "line 1"),
    ("SELECT CAST(1 AS) FROM t", "line 1"),
    ("SELECT FROM WHERE", "line 1"),
])
def test_syntax_errors_say_where_in_user_terms(sql, where):
    with pytest.raises(InvalidQuery) as caught:
        validate_sql(sql, "postgres")
    message = caught.value.message
    assert where in message
    for internal in ("<class", "sqlglot", "Required keyword", "<Token", "expressions."):
        assert internal not in message, message
    assert "\n" not in message


def test_incomplete_expression_message():
    with pytest.raises(InvalidQuery, match=r"near line 1, column 15.*incomplete expression"):
        validate_sql("SELECT 1 * FROM t", "postgres")


@pytest.mark.parametrize("hint", [
    "MAX_EXECUTION_TIME(100000000)",
    "SET_VAR(max_execution_time=0)",
    "SET_VAR(sql_mode='')",
    "RESOURCE_GROUP(rg)",
    "BKA(t) NO_ICP(t)",
])
def test_mysql_optimizer_hints_are_dropped(hint):
    safe = validate_sql(f"SELECT /*+ {hint} */ id FROM t", "mysql")
    assert safe.sql == "SELECT id FROM t"
    assert "MAX_EXECUTION_TIME" not in safe.bind([], "format")[0]
    assert safe.changed and any("hint" in r for r in safe.rewrites)


def test_hints_are_dropped_in_subqueries_too():
    safe = validate_sql("SELECT x FROM (SELECT /*+ SET_VAR(max_execution_time=0) */ 1 AS x) AS s", "mysql")
    assert "SET_VAR" not in safe.sql and "/*" not in safe.sql


@pytest.mark.parametrize("sql", [
    "SELECT 1 /*M! , SLEEP(5) */",
    "SELECT 1 /*M!100000 , SLEEP(5) */",
    "SELECT id FROM t WHERE 1 = 1 /*m! AND SLEEP(5) */",
    "SELECT 1 /*!50000 , SLEEP(5) */",
    "SELECT 1 /* ! , SLEEP(5) */",
])
def test_mysql_and_mariadb_executable_comments_are_refused(sql):
    with pytest.raises(UnsafeQueryError, match="executable comments"):
        validate_sql(sql, "mysql")


def test_ordinary_comments_still_pass():
    assert validate_sql("SELECT 1 /* M is for month */ -- note", "mysql").sql == "SELECT 1"
