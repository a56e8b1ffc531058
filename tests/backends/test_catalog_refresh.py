"""Registered sources on every backend: refresh diffs after real DDL, stale mappings,
value hints, queries by name with the exposure policy."""

from __future__ import annotations

import contextlib

import pytest

from nlquery import Engine
from nlquery.errors import AccessDenied
from tests.backends.markers import cannot
from tests.backends.nonsql import NOT_SQL

NO_DDL = "no DDL: collections, endpoints and CSV files cannot be altered by SQL"


@pytest.fixture
def engine(nlquery_home):
    with Engine() as instance:
        yield instance


@contextlib.contextmanager
def probe(backend):
    """A table this test owns inside the shared scratch database."""
    backend.admin(["CREATE TABLE diff_probe (id INT PRIMARY KEY, a VARCHAR(10), b INT)"])
    try:
        yield
    finally:
        backend.admin(["DROP TABLE diff_probe"])


@cannot([*NOT_SQL, "csvdir"], raises=NotImplementedError, reason=NO_DDL)
def test_refresh_reports_tables_and_columns_added_and_removed(backend, engine):
    with probe(backend):
        engine.add_source("db", backend.type, backend.connection)
        engine.update_mappings("db", {"diff_probe.b": {"description": "soon gone"}})
        backend.admin(["ALTER TABLE diff_probe ADD COLUMN c INT", "ALTER TABLE diff_probe DROP COLUMN b"])
        result = engine.refresh_schema("db")
    assert result.version == 2
    assert result.diff["columns_added"] == ["diff_probe.c"]
    assert result.diff["columns_removed"] == ["diff_probe.b"]
    assert result.stale_mappings == ["diff_probe.b"]
    assert "diff_probe.b" in engine.mappings("db")["mappings"]  # kept, reported, not dropped


@cannot([*NOT_SQL, "csvdir"], raises=NotImplementedError, reason=NO_DDL)
def test_refresh_reports_a_new_table(backend, engine):
    engine.add_source("db", backend.type, backend.connection)
    backend.admin(["CREATE TABLE diff_new (id INT PRIMARY KEY)"])
    try:
        assert engine.refresh_schema("db").diff["tables_added"] == ["diff_new"]
    finally:
        backend.admin(["DROP TABLE diff_new"])
    assert engine.refresh_schema("db").diff["tables_removed"] == ["diff_new"]


@cannot(["sqlite"], raises=TypeError, reason="SQLite cannot change a column's type (widen_column_sql is None)")
@cannot(["duckdb"], raises=ValueError, reason="DuckDB keeps no VARCHAR length: widening changes nothing it reports")
@cannot([*NOT_SQL, "csvdir"], raises=NotImplementedError, reason=NO_DDL)
def test_refresh_reports_a_changed_type(backend, engine):
    with probe(backend):
        engine.add_source("db", backend.type, backend.connection)
        backend.admin([backend.widen_column_sql])
        (change,) = engine.refresh_schema("db").diff["columns_changed"]
    assert change["column"] == "diff_probe.a" and "50" in change["after"]["type"]


def test_value_hints_sample_low_cardinality_text(backend, engine):
    engine.add_source("db", backend.type, backend.connection)
    hints = engine.value_hints("db")
    assert hints["orders.status"] == sorted({o[2] for o in backend.shop.rows["orders"]})
    assert "customers.email" not in hints and "customers.name" not in hints


def test_value_hints_respect_opt_outs_and_the_policy(backend, engine):
    engine.add_source("db", backend.type, backend.connection,
                      policy={"denied_columns": ["orders.status"]},
                      value_hints={"exclude_columns": ["products.category"]})
    hints = engine.value_hints("db")
    assert "orders.status" not in hints and "products.category" not in hints
    assert "customers.country" in hints
    engine.update_source("db", value_hints={"enabled": False})
    assert engine.refresh_schema("db").value_hints == 0


def test_queries_by_name_apply_the_policy_and_schema(backend, engine):
    engine.add_source("db", backend.type, backend.connection, policy={"denied_columns": ["customers.email"]})
    assert engine.query("db", "SELECT COUNT(*) FROM customers").rows == [[backend.shop.count("customers")]]
    with pytest.raises(AccessDenied):
        engine.query("db", "SELECT * FROM customers")
