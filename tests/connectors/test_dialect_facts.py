"""Dialect facts: declared once per connector (connectors/base.py ``DialectFacts``), read by
the guard (added to its per-dialect lists) and by the planner's prompt."""

from __future__ import annotations

import pytest

import connectors
from connectors.base import DialectFacts, dialect_facts
from nlquery.errors import InvalidRequest, UnsafeQueryError
from nlquery.guard import Policy, cached_validate, validate_sql
from nlquery.planner.prompt import build_messages

BUILTIN = ["mongodb", "mssql", "mysql", "postgresql", "rest_api", "sqlite"]


@pytest.mark.parametrize("type_name", BUILTIN)
def test_every_builtin_connector_declares_its_facts(type_name):
    cls = connectors.registry.connector_class(type_name)
    facts = cls.dialect_facts
    assert isinstance(facts, DialectFacts)
    assert facts.dialect == cls.dialect
    assert facts.prompt_notes  # what the model is told about the dialect's quirks


def test_sqlalchemy_facts_follow_the_urls_database():
    db = connectors.connect("sqlalchemy", url="sqlite://")
    try:
        assert dialect_facts(db) == connectors.registry.connector_class("sqlite").dialect_facts
    finally:
        db.close()
    from connectors.sqlalchemy import facts_for

    assert facts_for("duckdb").dialect == "duckdb" and "DuckDB" in facts_for("duckdb").prompt_notes
    assert facts_for("snowflake") == DialectFacts("snowflake")


def test_a_connector_without_facts_gets_its_dialect_alone():
    class Old:
        dialect = "mysql"

    assert dialect_facts(Old) == DialectFacts("mysql")
    assert dialect_facts(Old()).prompt_notes == ""


def test_names_are_lowercased_and_the_facts_hashable():
    facts = DialectFacts("sqlite", allowed_functions={"Shout"}, denied_functions="Upper LOWER")
    assert facts.allowed_functions == {"shout"} and facts.denied_functions == {"upper", "lower"}
    assert hash(facts) == hash(DialectFacts("sqlite", allowed_functions=["shout"], denied_functions=["upper", "lower"]))


def test_the_guard_adds_the_connectors_functions_to_its_base_lists():
    facts = DialectFacts("sqlite", allowed_functions={"shout"}, denied_functions={"upper"})
    with pytest.raises(UnsafeQueryError, match="shout"):
        validate_sql("SELECT shout(name) FROM t", "sqlite")
    assert validate_sql("SELECT shout(name) FROM t", "sqlite", facts=facts).sql
    assert validate_sql("SELECT upper(name) FROM t", "sqlite").sql  # a modeled built-in
    with pytest.raises(UnsafeQueryError, match="upper"):
        validate_sql("SELECT upper(name) FROM t", "sqlite", facts=facts)
    # the deny list wins over a source's own allowed_functions
    with pytest.raises(UnsafeQueryError, match="upper"):
        validate_sql("SELECT upper(name) FROM t", "sqlite", facts=facts,
                     policy=Policy(allowed_functions=frozenset({"upper"})))
    # the base lists stay: facts never make a denied function allowed
    with pytest.raises(UnsafeQueryError, match="load_extension"):
        validate_sql("SELECT load_extension('x')", "sqlite",
                     facts=DialectFacts("sqlite", allowed_functions={"load_extension"}))


def test_facts_for_another_dialect_are_refused():
    with pytest.raises(InvalidRequest, match="dialect facts"):
        validate_sql("SELECT 1", "postgres", facts=DialectFacts("sqlite"))


def test_the_statement_cache_keys_on_the_facts():
    sql = "SELECT upper(name) FROM cache_key_probe"
    assert cached_validate(sql, "sqlite").sql
    with pytest.raises(UnsafeQueryError):
        cached_validate(sql, "sqlite", facts=DialectFacts("sqlite", denied_functions={"upper"}))


def test_the_prompt_starts_with_the_connectors_notes():
    notes = connectors.registry.connector_class("mssql").dialect_facts.prompt_notes
    system = build_messages("q", "tsql", "TABLE t (id int)", dialect_note=notes)[0]["content"]
    assert notes in system and "TOP n" in system
    assert "for tsql." in build_messages("q", "tsql", "TABLE t (id int)")[0]["content"]
