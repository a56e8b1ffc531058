"""``Engine.query_arrow`` on PostgreSQL reads through ADBC (binary COPY decoded in C++):
the same guard, read-only session, statement timeout and byte cap as ``execute``, the
same values, and idle connections that survive a server-side kill."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from connectors.errors import QueryExecutionFailed, QueryTimeout, ResultTooLarge
from nlquery import Engine
from nlquery.errors import UnsafeQueryError
from tests.conftest import scratch_postgres

pa = pytest.importorskip("pyarrow")
pytest.importorskip("adbc_driver_postgresql")


@pytest.fixture(scope="module")
def backend():
    backend = scratch_postgres(with_data=True)
    yield backend
    backend.drop_database()


@pytest.fixture
def connector(backend):
    conn = backend.connect()
    yield conn
    conn.close()


@pytest.fixture
def engine():
    with Engine() as engine:
        yield engine


def test_query_arrow_reads_through_adbc_with_the_psycopg_paths_types(connector, engine):
    sql = ("SELECT 12.50::numeric(10, 2) AS amount, 'NaN'::numeric AS odd, "
           "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id, INTERVAL '1 month 2 hours' AS span, "
           "'{\"a\": 1}'::jsonb AS doc, DATE '2026-01-15' AS day, $1::int AS n")
    table = engine.query_arrow(connector, sql, [7])
    native = engine.query(connector, sql, [7], result="native")
    assert connector._arrow._idle, "the read went through ADBC and left its connection idle"
    types = dict(zip(table.column_names, table.schema.types))
    assert pa.types.is_decimal(types["amount"]) and pa.types.is_string(types["odd"])
    assert pa.types.is_string(types["id"]) and pa.types.is_duration(types["span"])
    row = table.to_pylist()[0]
    assert row["amount"] == Decimal("12.50") == native.rows[0][0]
    assert row["id"] == str(native.rows[0][2])
    assert row["span"] == native.rows[0][3] == dt.timedelta(days=30, hours=2)
    assert row["day"] == native.rows[0][5] and row["n"] == 7
    assert table.schema.metadata[b"nlquery.truncated"] == b"false"


def test_caps_and_truncation_match_execute(connector, engine):
    sql = "SELECT g AS n FROM generate_series(1, 50) AS g ORDER BY g"
    table = engine.query_arrow(connector, sql, max_rows=20)
    assert table.column("n").to_pylist() == list(range(1, 21))
    assert table.schema.metadata[b"nlquery.truncated"] == b"true"
    empty = engine.query_arrow(connector, "SELECT g AS n FROM generate_series(1, 5) AS g WHERE g < 0")
    assert empty.column_names == ["n"] and empty.num_rows == 0


def test_the_session_is_read_only_even_past_the_guard(connector):
    with pytest.raises(QueryExecutionFailed, match="read-only"):
        connector.execute_arrow("CREATE TABLE adbc_probe (a int)")
    # The failed statement was rolled back: the next read on the same connection works.
    assert connector.execute_arrow("SELECT 1 AS one").column("one").to_pylist() == [1]


def test_the_guard_still_decides(connector, engine):
    with pytest.raises(UnsafeQueryError):
        engine.query_arrow(connector, "DELETE FROM orders")


def test_statement_timeout_applies_and_does_not_outlive_the_call(connector):
    with pytest.raises(QueryTimeout):
        connector.execute_arrow("SELECT pg_sleep(3)", timeout_s=0.3)
    # Each call sets its own (transaction-local) timeout on the reused connection.
    setting = connector.execute_arrow("SELECT current_setting('statement_timeout') AS t", timeout_s=7)
    assert setting.column("t").to_pylist() == ["7s"]


def test_byte_cap_ends_the_read(backend):
    import connectors

    small = connectors.connect(type="postgresql", url=backend.url, max_result_bytes=100_000)
    try:
        with pytest.raises(ResultTooLarge):
            small.execute_arrow("SELECT repeat('x', 1000) AS v FROM generate_series(1, 5000)", max_rows=10_000)
        assert small.execute_arrow("SELECT 2 AS two").column("two").to_pylist() == [2]
    finally:
        small.close()


def test_an_idle_connection_killed_by_the_server_is_replaced(backend, connector):
    connector.execute_arrow("SELECT 1 AS one")
    assert connector._arrow._idle
    killed = backend.scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()")
    assert killed >= 1
    assert connector.execute_arrow("SELECT 3 AS three").column("three").to_pylist() == [3]
