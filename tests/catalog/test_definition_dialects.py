"""Metric and segment definitions are checked by the guard as the source's own queries
are: in its dialect (its connector's facts, the read-only functions its schema
declares), against its schema and its exposure policy. The planner reads them in that
dialect too. On SQLite and on the real PostgreSQL."""

from __future__ import annotations

import pytest

from nlquery import Engine
from nlquery.errors import InvalidRequest
from tests.conftest import scratch_postgres


def refused(engine: Engine, source: str, patch: dict) -> InvalidRequest:
    """The error a refused patch raises; nothing of it is stored."""
    before = engine.mappings(source)
    with pytest.raises(InvalidRequest) as caught:
        engine.update_mappings(source, patch)
    assert caught.value.code == "invalid_request"
    assert caught.value.message.startswith(f"{next(iter(patch))}: "), caught.value.message
    assert engine.mappings(source) == before
    return caught.value


def accepted(engine: Engine, source: str, definitions: dict) -> None:
    """Stored, and not stale (now or after a refresh)."""
    data = engine.update_mappings(source, definitions)
    assert set(definitions) <= set(data["mappings"]) and data["stale"] == []
    assert engine.refresh_schema(source).stale_mappings == []


def answered_as(engine: Engine, source: str, question: str, gold_sql: str) -> str:
    """The rules planner's SQL for ``question``, whose rows are ``gold_sql``'s."""
    answer = engine.ask(source, question, planner="rules")
    assert answer.result.rows == engine.query(source, gold_sql).rows, answer.sql
    return answer.sql


# -- SQLite --------------------------------------------------------------------------------
SQLITE_DEFINITIONS = {
    "segment:weekend orders": {"table": "orders", "where": "strftime('%w', orders.created_at) IN ('0', '6')"},
    "metric:order days": {"sql": "COUNT(DISTINCT date(orders.created_at))"},
}


@pytest.fixture
def sqlite_engine(nlquery_home, shop_path):
    with Engine() as engine:
        engine.add_source("shop", "sqlite", {"database": str(shop_path)})
        engine.add_source("guarded", "sqlite", {"database": str(shop_path)},
                          policy={"denied_columns": ["customers.email"]})
        yield engine


def test_sqlite_functions_are_accepted_in_definitions_and_used(sqlite_engine):
    accepted(sqlite_engine, "shop", SQLITE_DEFINITIONS)
    sql = answered_as(sqlite_engine, "shop", "How many weekend orders are there?",
                      "SELECT COUNT(*) FROM orders WHERE strftime('%w', created_at) IN ('0', '6')")
    assert "strftime" in sql.lower()


@pytest.mark.parametrize(("patch", "says"), [
    ({"segment:x": {"table": "orders", "where": "1 = 1; DELETE FROM orders"}}, ""),
    ({"metric:x": {"sql": "COUNT(load_extension('/tmp/evil.so'))", "table": "orders"}}, "load_extension"),
    ({"segment:x": {"table": "orders", "where": "orders.totl > 5"}}, "totl"),
    ({"segment:x": {"table": "orders", "where": "orders.status ~ 'd'"}}, "parse"),  # PostgreSQL's operator
])
def test_sqlite_refuses_what_its_guard_refuses(sqlite_engine, patch, says):
    assert says in refused(sqlite_engine, "shop", patch).message


def test_a_definition_over_a_column_the_policy_hides_is_refused(sqlite_engine):
    error = refused(sqlite_engine, "guarded", {"metric:mailboxes": {"sql": "COUNT(DISTINCT customers.email)"}})
    assert "email" in error.message
    assert sqlite_engine.update_mappings("guarded", {"metric:people": {"sql": "COUNT(customers.id)"}})["stale"] == []


# -- PostgreSQL ----------------------------------------------------------------------------
POSTGRES_DEFINITIONS = {
    "metric:order days": {"sql": "COUNT(DISTINCT orders.created_at::date)"},
    "segment:example customers": {"table": "customers", "where": "customers.email ILIKE '%@EXAMPLE.COM'"},
    "segment:recent orders": {"table": "orders",
                              "where": "orders.created_at > now() - interval '30 days' AND orders.status ~ '^[a-z]+$'"},
}


@pytest.fixture(scope="module")
def postgres():
    backend = scratch_postgres(with_data=True)
    yield backend
    backend.drop_database()


@pytest.fixture
def pg_engine(nlquery_home, postgres):
    with Engine() as engine:
        engine.add_source("pg", "postgresql", {"url": postgres.url})
        yield engine


def test_postgresql_syntax_is_accepted_in_definitions_and_used(pg_engine):
    accepted(pg_engine, "pg", POSTGRES_DEFINITIONS)
    # the planner links them in PostgreSQL too (a generic parse of `~` fails)
    sql = answered_as(pg_engine, "pg", "How many example customers are there?",
                      "SELECT COUNT(*) FROM customers WHERE email ILIKE '%@EXAMPLE.COM'")
    assert "ILIKE" in sql.upper()
    sql = answered_as(pg_engine, "pg", "How many recent orders?",
                      "SELECT COUNT(*) FROM orders WHERE created_at > now() - interval '30 days'")
    assert "~" in sql


@pytest.mark.parametrize(("patch", "says"), [
    ({"metric:x": {"sql": "MAX(pg_sleep(1)::text)", "table": "orders"}}, "pg_sleep"),
    ({"segment:x": {"table": "customers", "where": "pg_read_file('/etc/passwd') <> ''"}}, "pg_read_file"),
    ({"segment:x": {"table": "orders", "where": "orders.id IN (WITH d AS (DELETE FROM orders RETURNING id) "
                                                "SELECT id FROM d)"}}, ""),
    ({"metric:x": {"sql": "SUM(orders.totl)"}}, "totl"),
    ({"segment:x": {"table": "orders", "where": "strftime('%w', orders.created_at) = '0'"}}, "strftime"),
])
def test_postgresql_refuses_what_its_guard_refuses(pg_engine, patch, says):
    assert says in refused(pg_engine, "pg", patch).message
