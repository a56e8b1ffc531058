"""A token's overlay hides columns from the schema it is shown, not only from queries."""

from __future__ import annotations

from nlquery import Engine
from nlquery.principal import Principal


def test_get_source_with_tables_leaves_out_what_the_overlay_hides(shop_path):
    with Engine() as engine:
        engine.add_source("shop", "sqlite", {"database": str(shop_path)}, policy={"denied_tables": ["order_items"]})
        token = Principal(tenant="default", overlay={"denied_columns": ["customers.email"]})
        shown = engine.get_source("shop", tables=True, tenant=token)
        operator = engine.get_source("shop", tables=True)
    names = {t["name"] for t in shown["tables"]}
    customers = next(t for t in shown["tables"] if t["name"] == "customers")
    assert "order_items" not in names and "email" not in {c["name"] for c in customers["columns"]}
    assert "order_items" in {t["name"] for t in operator["tables"]}  # the operator sees everything
