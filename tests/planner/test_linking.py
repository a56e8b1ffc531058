"""Schema linking on real-sized schemas: right tables, join paths, within budget."""

from __future__ import annotations

import pytest

from connectors.models import Column, ForeignKey, Schema, Table
from nlquery.planner.linking import SchemaLinker, table_tokens, terms
from nlquery.semantic import merge


def big_schema(extra: int = 2000) -> Schema:
    tables = [
        Table("customers", [Column("id", "int"), Column("name", "text"), Column("created_at", "timestamp")],
              primary_key=["id"]),
        Table("orders", [Column("id", "int"), Column("cust_id", "int"), Column("total_amt", "numeric")],
              primary_key=["id"], foreign_keys=[ForeignKey(["cust_id"], "customers", ["id"])]),
        Table("order_lines", [Column("id", "int"), Column("ord_id", "int"), Column("sku_id", "int")],
              foreign_keys=[ForeignKey(["ord_id"], "orders", ["id"]), ForeignKey(["sku_id"], "skus", ["id"])]),
        Table("skus", [Column("id", "int"), Column("label", "text")], primary_key=["id"]),
    ]
    tables += [Table(f"telemetry_{i}", [Column("id", "int"), Column(f"sensor_reading_{i}", "float")])
               for i in range(extra)]
    return Schema(tables=tables)


@pytest.fixture(scope="module")
def linker():
    schema = big_schema()
    mappings = merge({}, {"customers": {"synonyms": ["clients"]}, "skus": {"synonyms": ["products"]}}, schema)
    return SchemaLinker(schema, mappings, {"orders.status": ["shipped", "pending"]})


def test_words_are_split_and_abbreviations_expanded():
    assert terms("cust_id") == ["customer", "id"] and terms("qtyOrdered") == ["quantity", "ordered"]


def test_synonym_finds_the_table_among_thousands(linker):
    linked = linker.link("How many clients do we have?")
    assert linked.names[0] == "customers"
    assert not any(n.startswith("telemetry_") for n in linked.names)


def test_abbreviated_columns_are_found(linker):
    assert linker.link("total amount of orders").names[0] == "orders"


def test_join_path_between_chosen_tables_is_added(linker):
    linked = linker.link("products bought by clients")
    assert {"customers", "skus"} <= set(linked.names)
    assert {"orders", "order_lines"} <= set(linked.names)  # the path between them


def test_value_hints_point_at_their_table(linker):
    linked = linker.link("how many shipped?")
    assert linked.names[0] == "orders" and linked.matched_values == {"orders.status": ["shipped"]}


def test_the_budget_is_respected(linker):
    linked = linker.link("telemetry sensor reading", budget_tokens=200)
    assert sum(table_tokens(t) for t in linked.tables) <= 200


def test_an_unmatched_question_falls_back_to_hub_tables(linker):
    linked = linker.link("xyzzy plugh")
    assert linked.tables and linked.names[0] in {"orders", "customers", "order_lines", "skus"}
