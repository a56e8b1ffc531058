"""Semantic mappings: PATCH semantics, validation against the schema, files, resolving."""

from __future__ import annotations

import json

import pytest

from connectors.models import Column, Schema, Table
from nlquery import semantic
from nlquery.errors import InvalidRequest
from nlquery.semantic import Resolver, SemanticMapping, merge


@pytest.fixture
def schema():
    return Schema(
        tables=[
            Table("customers", [Column("id", "int"), Column("created_at", "timestamp", comment="Signup time")],
                  schema="public", comment="People who buy"),
            Table("orders", [Column("id", "int"), Column("total_amount", "numeric")], schema="public"),
            Table("orders", [Column("id", "int")], schema="archive"),
        ],
        default_schema="public",
    )


SPEC_EXAMPLE = {
    "customers": {"description": "Customer accounts and profiles", "synonyms": ["users", "clients", "members"]},
    "customers.created_at": {"description": "When the customer signed up",
                             "synonyms": ["signup date", "registration date"]},
    "orders.total_amount": {"description": "Total order value in USD", "synonyms": ["order total"]},
}


def test_keys_merge_and_keep_what_the_patch_leaves_out(schema):
    first = merge({}, SPEC_EXAMPLE, schema)
    second = merge(first, {"customers": {"description": "Accounts"}}, schema)
    assert second["customers"] == SemanticMapping("Accounts", ["users", "clients", "members"])
    assert second["orders.total_amount"] == first["orders.total_amount"]


def test_synonyms_replace_the_list(schema):
    merged = merge(merge({}, SPEC_EXAMPLE, schema), {"customers": {"synonyms": ["patrons"]}}, schema)
    assert merged["customers"].synonyms == ["patrons"]


def test_null_removes_a_key(schema):
    merged = merge(merge({}, SPEC_EXAMPLE, schema), {"customers.created_at": None}, schema)
    assert "customers.created_at" not in merged


def test_keys_are_case_insensitive_and_stored_in_the_schemas_spelling(schema):
    merged = merge({}, {"Customers.Created_At": {"synonyms": ["joined"]}}, schema)
    assert list(merged) == ["customers.created_at"]
    merged = merge(merged, {"CUSTOMERS.created_at": {"description": "x"}}, schema)
    assert list(merged) == ["customers.created_at"]


def test_schema_qualified_keys(schema):
    merged = merge({}, {"archive.orders": {"description": "Old orders"}, "public.orders.id": {"synonyms": ["no"]}},
                   schema)
    assert set(merged) == {"archive.orders", "orders.id"}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"custmers": {"description": "x"}}, "did you mean 'customers'"),
        ({"orders.totl_amount": {"description": "x"}}, "did you mean 'orders.total_amount'"),
        ({"orders": {"descripton": "x"}}, "descripton"),
        ({"orders": {"synonyms": "not a list"}}, "synonyms"),
        ({"orders": "text"}, "orders"),
        ({"": {"description": "x"}}, "non-empty"),
    ],
)
def test_bad_keys_and_values_are_invalid_requests(schema, patch, message):
    with pytest.raises(InvalidRequest, match=message):
        merge({}, patch, schema)


def test_stale_keys_are_reported(schema):
    merged = merge({}, SPEC_EXAMPLE, schema)
    smaller = Schema(tables=[schema.tables[0]], default_schema="public")
    assert semantic.stale_keys(merged, smaller) == ["orders.total_amount"]


def test_comments_become_default_descriptions(schema):
    described = semantic.with_comments(schema, merge({}, {"customers": {"synonyms": ["clients"]}}, schema))
    assert described["customers"] == SemanticMapping("People who buy", ["clients"])
    assert described["customers.created_at"].description == "Signup time"


@pytest.mark.parametrize("fmt, suffix", [("yaml", ".yaml"), ("json", ".json")])
def test_export_then_import_round_trips(schema, tmp_path, fmt, suffix):
    merged = merge({}, SPEC_EXAMPLE, schema)
    path = tmp_path / f"mappings{suffix}"
    path.write_text(semantic.dump(merged, fmt), encoding="utf-8")
    assert merge({}, semantic.load_file(path), schema) == merged


def test_import_accepts_the_api_body_shape(schema, tmp_path):
    path = tmp_path / "body.json"
    path.write_text(json.dumps({"mappings": SPEC_EXAMPLE}))
    assert set(semantic.load_file(path)) == set(SPEC_EXAMPLE)


def test_import_of_a_broken_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("customers: [unclosed")
    with pytest.raises(InvalidRequest, match="broken.yaml is not valid"):
        semantic.load_file(path)


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("clients", "customers"),
        ("client", "customers"),
        ("Users", "customers"),
        ("signup date", "customers.created_at"),
        ("registration dates", "customers.created_at"),
        ("total amount", "orders.total_amount"),
        ("order total", "orders.total_amount"),
        ("orders", "orders"),
    ],
)
def test_resolver_maps_words_people_use(schema, term, expected):
    resolver = Resolver(schema, merge({}, SPEC_EXAMPLE, schema))
    assert resolver.resolve(term)[0].key == expected


def test_resolver_ranks_ambiguous_terms(schema):
    mappings = merge({}, {"customers": {"synonyms": ["accounts"]},
                          "orders": {"description": "Purchases made by accounts"}}, schema)
    candidates = Resolver(schema, mappings).resolve("accounts")
    assert [c.key for c in candidates[:2]] == ["customers", "orders"]
    assert candidates[0].score > candidates[1].score


def test_words_split_names():
    assert semantic.words("createdAt") == ["created", "at"]
    assert semantic.words("total_amount") == ["total", "amount"]


# -- metrics and segments (issue 17) -----------------------------------------------------
@pytest.fixture
def shop_schema():
    from connectors.models import ForeignKey

    return Schema(tables=[
        Table("employees", [Column("id", "int"), Column("title", "varchar")], primary_key=["id"]),
        Table("orders", [Column("id", "int"), Column("total_amount", "numeric")], primary_key=["id"]),
        Table("order_items", [Column("id", "int"), Column("order_id", "int"), Column("unit_price", "numeric"),
                              Column("quantity", "int")], primary_key=["id"],
              foreign_keys=[ForeignKey(["order_id"], "orders", ["id"])]),
    ])


DEFINITIONS = {
    "metric:Revenue": {"sql": "SUM(order_items.unit_price * order_items.quantity)", "synonyms": ["sales"]},
    "segment:account  managers": {"table": "Employees", "where": "title = 'Sales Support Agent'"},
}


def test_metrics_and_segments_merge_with_canonical_names(shop_schema):
    merged = merge({}, DEFINITIONS, shop_schema)
    assert merged["metric:revenue"] == SemanticMapping(None, ["sales"], sql="SUM(order_items.unit_price * "
                                                                           "order_items.quantity)")
    assert merged["segment:account managers"].table == "employees"
    again = merge(merged, {"metric:revenue": {"description": "Money in"}}, shop_schema)
    assert again["metric:revenue"].sql.startswith("SUM(") and again["metric:revenue"].description == "Money in"
    assert "metric:revenue" not in merge(again, {"Metric:REVENUE": None}, shop_schema)


@pytest.mark.parametrize(("patch", "message"), [
    ({"metric:x": {"sql": "SUM(order_items.qty)"}}, "metric:x: .*qty"),
    ({"metric:x": {"sql": "SUM(invoice.total)"}}, "metric:x: unknown table 'invoice'"),
    ({"metric:x": {"sql": "SUM(total_amount)"}}, "qualify its columns"),
    ({"metric:x": {"description": "no sql"}}, "a metric needs sql"),
    ({"segment:x": {"table": "employees", "where": "title IN (SELECT pg_read_file('/etc/passwd'))"}}, "segment:x"),
    ({"segment:x": {"table": "employees", "where": "1 = 1; DELETE FROM employees"}}, "segment:x"),
    ({"segment:x": {"where": "title = 'a'"}}, "a segment needs table and where"),
    ({"orders": {"sql": "SUM(orders.total_amount)"}}, "belong to metric:NAME or segment:NAME"),
])
def test_definitions_are_checked_by_the_guard(shop_schema, patch, message):
    with pytest.raises(InvalidRequest, match=message):
        merge({}, patch, shop_schema)


def test_definitions_round_trip_through_yaml_and_sections(shop_schema, tmp_path):
    merged = merge({}, DEFINITIONS, shop_schema)
    path = tmp_path / "m.yaml"
    path.write_text(semantic.dump(merged))
    assert merge({}, semantic.load_file(path), shop_schema) == merged
    sectioned = tmp_path / "s.yaml"
    sectioned.write_text("mappings:\n  orders: {synonyms: [purchases]}\nmetrics:\n  revenue:\n"
                         "    sql: SUM(order_items.unit_price * order_items.quantity)\n"
                         "segments:\n  account managers: {table: employees, where: \"title = 'Sales Support Agent'\"}\n")
    loaded = merge({}, semantic.load_file(sectioned), shop_schema)
    assert set(loaded) == {"orders", "metric:revenue", "segment:account managers"}


def test_a_definition_whose_table_is_gone_is_stale(shop_schema):
    merged = merge({}, DEFINITIONS, shop_schema)
    shrunk = Schema(tables=[t for t in shop_schema.tables if t.name != "order_items"])
    assert semantic.stale_keys(merged, shrunk) == ["metric:revenue"]


def test_definitions_are_stored_and_patched_over_http_and_the_cli(nlquery_home, shop_path, tmp_path):
    from click.testing import CliRunner

    from nlquery.cli import cli
    from tests.service.conftest import make_client

    runner = CliRunner()
    assert runner.invoke(cli, ["sources", "add", "shop", "--type", "sqlite", "--database", str(shop_path)]).exit_code == 0
    result = runner.invoke(cli, ["map", "set", "shop", "metric:revenue", "--sql",
                                 "SUM(order_items.unit_price * order_items.quantity)", "-s", "sales", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["mappings"]["metric:revenue"]["sql"].startswith("SUM(order_items.unit_price")
    bad = runner.invoke(cli, ["map", "set", "shop", "segment:x", "--table", "orders", "--where", "totl > 1"])
    assert bad.exit_code == 1 and "invalid_request" in bad.output + (bad.stderr if bad.stderr_bytes else "")
    exported = runner.invoke(cli, ["map", "export", "shop"]).output
    assert "metric:revenue" in exported and "sql: SUM(order_items.unit_price" in exported
    with make_client() as client:
        source = client.get("/api/v1/data-sources").json()["data"]["data_sources"][0]["id"]
        url = f"/api/v1/data-sources/{source}/semantic-mappings"
        body = client.patch(url, json={"mappings": {"segment:big orders": {"table": "orders",
                                                                          "where": "total_amount > 500"}}})
        assert body.status_code == 200, body.text
        data = body.json()["data"]["mappings"]
        assert data["segment:big orders"] == {"description": None, "synonyms": [], "table": "orders",
                                              "where": "total_amount > 500"}
        assert "metric:revenue" in data  # PATCH: the others stay
        refused = client.patch(url, json={"mappings": {"metric:x": {"sql": "SUM(orders.nope)"}}})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request"
        assert client.patch(url, json={"mappings": {"metric:revenue": None}}).status_code == 200
    path = tmp_path / "again.yaml"
    path.write_text(exported)
    assert runner.invoke(cli, ["map", "import", "shop", str(path)]).exit_code == 0
    from nlquery import Engine
    with Engine() as engine:
        stored = engine.mappings("shop")["mappings"]
    assert stored["metric:revenue"]["synonyms"] == ["sales"] and stored["segment:big orders"]["table"] == "orders"
