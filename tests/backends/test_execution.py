"""Read-only, parameterized execution on every backend."""

from __future__ import annotations

import pytest

import connectors
from nlquery import errors
from tests.backends.backends import transpile
from tests.backends.markers import cannot
from tests.backends.nonsql import MONGO, NOT_SQL


def sql_for(backend, postgres_sql: str) -> str:
    (statement,) = transpile(postgres_sql, backend.dialect)
    return statement


def test_parameters_bind_by_number(backend, connector, engine):
    customer = backend.shop.rows["customers"][41]
    result = engine.query(connector, "SELECT name, email FROM customers WHERE id = $1", [customer[0]])
    assert result.rows == [[customer[1], customer[2]]]
    assert result.columns == ["name", "email"]
    assert result.row_count == 1 and result.execution_time_ms >= 0


def test_parameters_can_repeat_and_come_out_of_order(backend, connector, engine):
    result = engine.query(
        connector,
        "SELECT id FROM customers WHERE (id BETWEEN $2 AND $1 OR id = $2) AND email LIKE '%example%' ORDER BY id",
        [7, 5],
    )
    assert [r[0] for r in result.rows] == [5, 6, 7]


def test_placeholder_text_inside_a_string_literal_is_left_alone(connector, engine):
    result = engine.query(connector, "SELECT '$1 and 100%' AS t, name FROM customers WHERE id = $1", [3])
    assert result.rows[0][0] == "$1 and 100%"


def test_parameter_count_mismatch_is_invalid_request(connector, engine):
    with pytest.raises(errors.InvalidRequest):
        engine.query(connector, "SELECT * FROM customers WHERE id = $1 AND name = $2", [1])


def test_nulls_come_back_as_none(backend, connector, engine):
    expected = sum(1 for c in backend.shop.rows["customers"] if c[4] is None)
    assert expected > 0
    result = engine.query(connector, "SELECT id, city FROM customers WHERE city IS NULL", max_rows=5000)
    assert result.row_count == expected
    assert all(row[1] is None for row in result.rows)


def test_values_are_json_safe(backend, connector):
    for expression, expected in backend.typed_values:
        result = connector.execute(f"SELECT {expression} AS v")
        assert result.rows[0][0] == expected, expression


def test_aggregates_match_the_generated_data(backend, connector, engine):
    result = engine.query(connector, "SELECT COUNT(*), MIN(id), MAX(id) FROM orders")
    assert result.rows == [[backend.shop.count("orders"), 1, backend.shop.count("orders")]]


def test_row_cap_truncates_and_says_so(connector, engine):
    result = engine.query(connector, "SELECT id FROM orders ORDER BY id", max_rows=10)
    assert result.row_count == 10 and result.truncated is True
    assert [r[0] for r in result.rows] == list(range(1, 11))


def test_result_under_the_cap_is_complete(backend, connector, engine):
    result = engine.query(connector, "SELECT id FROM orders", max_rows=20_000)
    assert result.row_count == backend.shop.count("orders") and result.truncated is False


def test_connector_caps_rows_without_the_guard(connector):
    result = connector.execute("SELECT id FROM order_items", max_rows=3)
    assert result.row_count == 3 and result.truncated is True
    assert connector.execute("SELECT 1 AS one").rows == [[1]]  # the connection is still usable


@cannot(MONGO, raises=AssertionError, reason="the odd-names schema is SQL DDL: no such collection, so no rows")
@cannot(["rest_api"], raises=errors.QueryExecutionFailed, reason="the odd-names schema is SQL DDL: no such endpoint")
def test_odd_names_can_be_queried(backend, connector, engine):
    sql = sql_for(backend, 'SELECT "café", "dot.ted" FROM "Odd Parent" WHERE "select" = $1')
    assert engine.query(connector, sql, [2]).rows == [["crème", 3]]


@cannot(["mongomock"], raises=pytest.fail.Exception,
        reason="the mongomock stand-in ignores maxTimeMS (a real server honours it)")
def test_timeout_cancels_a_long_statement(backend, connector):
    with pytest.raises(connectors.QueryTimeout):
        connector.execute(backend.slow_sql, timeout_s=0.5)
    assert connector.execute("SELECT 1 AS one").rows == [[1]]


WRITES = [
    "INSERT INTO customers (id, name, email, country, created_at) VALUES (999999, 'x', 'x@x', 'XX', '2026-01-01')",
    "UPDATE orders SET status = 'hacked'",
    "DELETE FROM order_items",
    "CREATE TABLE intruder (id INT)",
    "DROP TABLE order_items",
]


@pytest.mark.parametrize("statement", WRITES, ids=lambda s: s.split()[0].lower())
def test_the_session_itself_refuses_writes(backend, connector, statement):
    """Second layer: with the guard bypassed, the read-only session still holds."""
    before = backend.scalar("SELECT COUNT(*) FROM order_items"), backend.scalar(
        "SELECT COUNT(*) FROM orders WHERE status = 'hacked'")
    with pytest.raises(connectors.QueryExecutionFailed):
        connector.execute(sql_for(backend, statement))
    after = backend.scalar("SELECT COUNT(*) FROM order_items"), backend.scalar(
        "SELECT COUNT(*) FROM orders WHERE status = 'hacked'")
    assert after == before
    assert backend.scalar("SELECT COUNT(*) FROM customers WHERE id = 999999") == 0


def test_the_guard_refuses_writes_before_they_reach_the_database(backend, connector, engine):
    with pytest.raises(errors.UnsafeQueryError):
        engine.query(connector, "DELETE FROM order_items")
    assert backend.scalar("SELECT COUNT(*) FROM order_items") == backend.shop.count("order_items")


@cannot(MONGO, raises=errors.InvalidQuery,
        reason="an unknown field is invalid_query: the translation refuses it before MongoDB")
def test_sql_errors_carry_the_database_message(connector, engine):
    with pytest.raises(errors.QueryExecutionFailed) as caught:
        engine.query(connector, "SELECT no_such_column FROM customers")
    assert "no_such_column" in caught.value.message


@cannot(["sqlite", "duckdb", "csvdir", *NOT_SQL], raises=pytest.fail.Exception,
        reason="no passwords: files, the mongomock stand-in, a REST API's headers "
               "(tested in tests/connectors/test_rest_api.py)")
def test_bad_credentials_never_echo_the_password(backend):
    secret = "Sup3r-s3cret-pw"
    conn = backend.connect(backend.bad_password_url(secret))
    with pytest.raises(connectors.DataSourceDisconnected) as caught:
        conn.execute("SELECT 1")
    assert secret not in str(caught.value)
    assert secret not in repr(conn.config)


def test_unreachable_source_is_disconnected(backend):
    with pytest.raises(connectors.DataSourceDisconnected):
        backend.connect(backend.unreachable_url()).execute("SELECT COUNT(*) FROM orders")


def test_engine_maps_connector_errors(backend, engine):
    connector = backend.connect(backend.unreachable_url())
    try:
        with pytest.raises(errors.DataSourceDisconnected):
            engine.query(connector, "SELECT COUNT(*) FROM orders")
    finally:
        connector.close()


def test_ping(connector):
    connector.ping()
