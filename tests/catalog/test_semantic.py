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
