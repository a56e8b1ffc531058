"""Verified examples: validated on add, few-shot in the prompt, reused on a repeat."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from nlquery import Engine
from nlquery.errors import InvalidQuery, UnsafeQueryError
from tests.planner.conftest import TODAY
from tests.planner.fake_llm import sql_reply

TOP_SQL = "SELECT status, COUNT(*) AS n FROM orders GROUP BY status ORDER BY n DESC"


def test_examples_are_validated_on_add(engine):
    with pytest.raises(UnsafeQueryError):
        engine.add_example("shop", "clean up", "DELETE FROM orders")
    with pytest.raises(InvalidQuery, match="did you mean"):
        engine.add_example("shop", "typo", "SELECT statuss FROM orders")


def test_a_repeat_reuses_the_sql_without_calling_the_llm(engine, llm):
    engine.add_example("shop", "How are orders split by status?", TOP_SQL)
    answer = engine.ask("shop", "how are orders split by status", today=TODAY)
    assert answer.cached and answer.planner == "example" and llm.requests == []
    assert answer.result.rows[0][0] == "delivered"


def test_similar_examples_join_the_prompt(engine, llm):
    engine.add_example("shop", "How are orders split by status?", TOP_SQL)
    llm.script(sql_reply("SELECT status, COUNT(*) FROM orders WHERE created_at >= $1 GROUP BY status",
                         ["2026-06-01"]))
    answer = engine.ask("shop", "How are this month's orders split by status?", today=TODAY)
    assert not answer.cached
    assert TOP_SQL in llm.prompt()


def test_list_and_remove(engine):
    added = engine.add_example("shop", "q", "SELECT 1")
    assert [e["id"] for e in engine.list_examples("shop")] == [added["id"]]
    engine.remove_example("shop", added["id"])
    assert engine.list_examples("shop") == []


def test_a_version_1_catalog_is_upgraded_in_place(nlquery_home):
    from nlquery.catalog import store

    with Engine() as engine:
        engine.list_sources()  # creates the catalog at the current version
    path = nlquery_home / "catalog.db"
    db = sa.create_engine(f"sqlite:///{path}")
    with db.begin() as conn:  # make it look like a version-1 catalog
        conn.execute(sa.text("DROP TABLE nlq_examples"))
        conn.execute(sa.text("UPDATE nlq_meta SET value = '1' WHERE key = 'schema_version'"))
    db.dispose()
    with Engine() as engine:
        engine.list_sources()
    db = sa.create_engine(f"sqlite:///{path}")
    with db.connect() as conn:
        version = conn.execute(sa.text("SELECT value FROM nlq_meta WHERE key = 'schema_version'")).scalar()
        assert int(version) == store.SCHEMA_VERSION and sa.inspect(conn).has_table("nlq_examples")
    db.dispose()
