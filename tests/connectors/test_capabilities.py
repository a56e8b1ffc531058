"""Declared capabilities: every built-in connector declares what it offers, the
declarations agree with the members they promise, and nlquery asks ``supports()``
instead of probing for attributes (third-party connectors that declare nothing keep
working as before)."""

from __future__ import annotations

import pytest

import connectors
from connectors import Capability, supports
from connectors.registry import BUILTIN, connector_class
from connectors.sqlite import SQLiteConnector
from nlquery import Engine
from nlquery.errors import QuestionNotAnswerable
from tests.backends.nonsql import MongomockConnector

# the member a capability promises (the others are facts about introspection)
MEMBERS = {Capability.EXPLAIN: "explain", Capability.DATE_BUCKETS: "date_buckets",
           Capability.DISTINCT_VALUES: "distinct_values", Capability.ARROW: "execute_arrow"}

EXPECTED = {
    "sqlite": {Capability.DATE_BUCKETS, Capability.ROW_ESTIMATES},
    "postgresql": {Capability.DATE_BUCKETS, Capability.COMMENTS, Capability.MATERIALIZED_VIEWS,
                   Capability.ROW_ESTIMATES, Capability.ARROW},
    "mysql": {Capability.DATE_BUCKETS, Capability.COMMENTS, Capability.ROW_ESTIMATES},
    "mssql": {Capability.DATE_BUCKETS, Capability.COMMENTS, Capability.ROW_ESTIMATES},
    "sqlalchemy": {Capability.COMMENTS, Capability.MATERIALIZED_VIEWS},
    "mongodb": {Capability.EXPLAIN, Capability.DISTINCT_VALUES, Capability.ROW_ESTIMATES},
    "rest_api": {Capability.DATE_BUCKETS},
}


def _class(type_name: str) -> type:
    try:
        return connector_class(type_name)
    except connectors.DriverNotInstalled as exc:  # pragma: no cover - every driver is installed here
        pytest.skip(str(exc))


@pytest.mark.parametrize("type_name", sorted(BUILTIN))
def test_every_builtin_connector_declares_its_capabilities(type_name):
    cls = _class(type_name)
    assert isinstance(cls.__dict__.get("capabilities"), frozenset), f"{type_name} declares no capabilities"
    assert set(cls.capabilities) == EXPECTED[type_name]
    assert all(isinstance(c, Capability) for c in cls.capabilities)


@pytest.mark.parametrize("type_name", sorted(BUILTIN))
def test_declared_capabilities_agree_with_the_members_they_promise(type_name):
    cls = _class(type_name)
    for capability, member in MEMBERS.items():
        has_member = getattr(cls, member, None) is not None
        assert supports(cls, capability) == has_member, (type_name, capability)


def test_supports_takes_a_name_or_a_member_and_refuses_unknown_ones():
    assert supports(MongomockConnector, "explain") and supports(MongomockConnector, Capability.EXPLAIN)
    assert not supports(SQLiteConnector, "comments")
    with pytest.raises(ValueError):
        supports(SQLiteConnector, "time_travel")


class _Undeclared:
    """A third-party connector written before capabilities existed: plain duck typing."""

    type_name = "undeclared"
    dialect = "sqlite"
    paramstyle = "qmark"

    def __init__(self, inner: SQLiteConnector, *, explain: bool = False, buckets: bool = False) -> None:
        self.inner = inner
        if explain:
            self.explain = lambda sql, params: {"steps": ["scan"], "sql": sql}
        if buckets:
            self.date_buckets = SQLiteConnector.date_buckets

    def execute(self, sql, params=(), *, max_rows=1000, timeout_s=30.0):
        return self.inner.execute(sql, params, max_rows=max_rows, timeout_s=timeout_s)

    def introspect(self, *, schemas=None, progress=None):
        return self.inner.introspect(schemas=schemas, progress=progress)

    def ping(self) -> None:
        self.inner.ping()

    def close(self) -> None:
        self.inner.close()


def test_a_connector_that_declares_nothing_supports_what_its_members_offer(shop_path):
    inner = SQLiteConnector(connectors.ConnectionConfig(database=str(shop_path)))
    bare, rich = _Undeclared(inner), _Undeclared(inner, explain=True, buckets=True)
    assert isinstance(bare, connectors.Connector)
    assert not any(supports(bare, c) for c in Capability)
    assert supports(rich, Capability.EXPLAIN) and supports(rich, Capability.DATE_BUCKETS)
    # introspection facts are never guessed from members
    assert not supports(rich, Capability.COMMENTS) and not supports(rich, Capability.ROW_ESTIMATES)


def test_a_declaration_wins_over_members(shop_path):
    class Quiet(SQLiteConnector):
        capabilities = frozenset()  # has date_buckets, but does not offer them

    quiet = Quiet(connectors.ConnectionConfig(database=str(shop_path)))
    assert not supports(quiet, Capability.DATE_BUCKETS)
    assert supports(SQLiteConnector, Capability.DATE_BUCKETS)


def test_engine_explain_asks_supports(shop_path):
    inner = SQLiteConnector(connectors.ConnectionConfig(database=str(shop_path)))
    with Engine() as engine:
        plain = engine.explain(_Undeclared(inner), "SELECT COUNT(*) FROM orders")
        planned = engine.explain(_Undeclared(inner, explain=True), "SELECT COUNT(*) FROM orders")

        class Declared(SQLiteConnector):
            capabilities = frozenset({Capability.EXPLAIN})

            def explain(self, sql, params):
                return {"declared": True}

        declared = engine.explain(Declared(connectors.ConnectionConfig(database=str(shop_path))),
                                  "SELECT COUNT(*) FROM orders")
    assert "plan" not in plain
    assert planned["plan"]["steps"] == ["scan"]
    assert declared["plan"] == {"declared": True}


def test_rules_planner_gets_date_buckets_only_where_declared(shop_path):
    question = "How many orders per month?"
    with Engine() as engine:
        engine.add_source("shop", type="sqlite", connection={"database": str(shop_path)})
        answer = engine.ask("shop", question, planner="rules")
        assert "strftime('%y-%m'" in answer.sql.lower()

        class NoBuckets(SQLiteConnector):
            capabilities = SQLiteConnector.capabilities - {Capability.DATE_BUCKETS}

        connectors.register("sqlite-nobuckets", NoBuckets)
        try:
            engine.add_source("plain", type="sqlite-nobuckets", connection={"database": str(shop_path)})
            with pytest.raises(QuestionNotAnswerable):  # no way to group by month: declined
                engine.ask("plain", question, planner="rules")
        finally:
            connectors.registry._extra.pop("sqlite-nobuckets", None)
