"""What a connector declares (connectors.Capability) holds on its backend: the
features it promises work, and the introspection facts it does not declare are absent."""

from __future__ import annotations

import connectors
from connectors import Capability, supports


def test_date_buckets_group_a_timestamp_column(backend, connector):
    if not supports(connector, Capability.DATE_BUCKETS):
        assert getattr(connector, "date_buckets", None) is None or connector.capabilities is not None
        return
    for period in ("day", "week", "month", "year"):
        expression = connector.date_buckets[period].format(column="created_at")
        result = connector.execute(f"SELECT {expression} AS p, COUNT(*) AS n FROM orders GROUP BY {expression}",
                                   max_rows=10_000)
        assert result.row_count >= 1 and sum(n for _, n in result.rows) == backend.shop.count("orders"), period


def test_explain_describes_a_query(connector):
    if supports(connector, Capability.EXPLAIN):
        plan = connector.explain("SELECT COUNT(*) FROM orders", [])
        assert isinstance(plan, dict) and plan
    else:
        assert not callable(getattr(connector, "explain", None)) or getattr(connector, "capabilities", None) is not None


def test_distinct_values_read_natively(backend, connector):
    if not supports(connector, Capability.DISTINCT_VALUES):
        return
    found = connector.distinct_values("orders", ["status"], limit=50, sample=10_000, timeout_s=10)
    assert sorted(found["status"]) == sorted({o[2] for o in backend.shop.rows["orders"]})


def test_undeclared_introspection_facts_are_absent(connector, schema):
    if not supports(connector, Capability.ROW_ESTIMATES):
        assert all(t.row_estimate is None for t in schema.tables)
    if not supports(connector, Capability.MATERIALIZED_VIEWS):
        assert all(t.kind != "materialized_view" for t in schema.tables)
    if not supports(connector, Capability.COMMENTS):
        assert all(t.comment is None for t in schema.tables)


def test_capabilities_are_declared(connector):
    declared = getattr(type(connector), "capabilities", None)
    assert isinstance(declared, frozenset) and all(isinstance(c, connectors.Capability) for c in declared)
