"""The guard's single walk and its reused parser state (issue 19): what the speed-ups
must not change."""

from __future__ import annotations

import threading

import pytest

from nlquery.errors import InvalidQuery, UnsafeQueryError
from nlquery.guard import validate_sql

GOOD = "SELECT name FROM customers WHERE id = $1 AND status IN ($2, $1)"


def _outcome(sql: str, dialect: str = "postgres") -> tuple:
    safe = validate_sql(sql, dialect, max_rows=100)
    return safe.sql, safe.parameter_order, safe.tables, safe.columns, safe.bind([7, "x"], "format")


def test_a_failed_parse_leaves_nothing_behind_for_the_next_statement_on_the_thread():
    expected = _outcome(GOOD)
    with pytest.raises(InvalidQuery):
        validate_sql("SELECT 'unclosed FROM t", "postgres")  # the tokenizer gives up
    with pytest.raises(InvalidQuery):
        validate_sql("SELECT FROM WHERE (", "postgres")  # the parser gives up
    assert _outcome(GOOD) == expected


def test_threads_validating_at_once_agree():
    expected = _outcome(GOOD)
    results: list[tuple] = []

    def work() -> None:
        for _ in range(50):
            results.append(_outcome(GOOD))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 200 and all(r == expected for r in results)


def test_a_literal_shaped_like_a_placeholder_marker_is_left_alone():
    sql = "SELECT 'nlqparam0123abcdx0_1' AS s, name FROM customers WHERE id = $1"
    text, params = validate_sql(sql, "postgres").bind([7], "qmark")
    assert "'nlqparam0123abcdx0_1'" in text and text.count("?") == 1 and params == [7]
    assert validate_sql(sql, "postgres").sql.endswith("WHERE id = $1")


def test_columns_read_inside_ordered_aggregates_are_listed():
    safe = validate_sql("SELECT customer_id, STRING_AGG(status, ',' ORDER BY created_at) FROM orders "
                        "GROUP BY customer_id", "postgres")
    assert set(safe.columns) == {"customer_id", "status", "created_at"}


@pytest.mark.parametrize("sql", [
    "SELECT 1 /*! ; DROP TABLE t */",
    "SELECT 1 /*M!100000 , sleep(5) */",
    "SELECT 1 -- !\nFROM t",
])
def test_mysql_executable_comments_are_still_refused(sql):
    with pytest.raises(UnsafeQueryError):
        validate_sql(sql, "mysql")


def test_into_outfile_and_deep_nesting_are_still_found_by_the_token_pass():
    with pytest.raises(UnsafeQueryError):
        validate_sql("SELECT * FROM t INTO OUTFILE '/tmp/x'", "mysql")
    with pytest.raises(UnsafeQueryError):  # the unsafe verdict wins over the nesting one
        validate_sql("SELECT " + "(" * 120 + "1" + ")" * 120 + " INTO DUMPFILE '/tmp/x'", "mysql")
    with pytest.raises(InvalidQuery, match="nests brackets"):
        validate_sql("SELECT " + "(" * 120 + "1" + ")" * 120, "postgres")


def test_a_hint_is_dropped_but_a_forbidden_call_elsewhere_in_the_same_query_is_refused():
    assert "SET_VAR" not in validate_sql("SELECT /*+ SET_VAR(sort_buffer_size = 16M) */ name FROM customers",
                                         "mysql").sql
    with pytest.raises(UnsafeQueryError):
        validate_sql("SELECT /*+ MAX_EXECUTION_TIME(1) */ SLEEP(5) FROM customers", "mysql")
