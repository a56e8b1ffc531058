"""The statement cache: a hit is the same verdict; anything the verdict depends on is in the key."""

from __future__ import annotations

import gc

import pytest

from connectors.models import Column, Schema, Table
from nlquery import errors
from nlquery.guard import Policy, StatementCache

SQL = "SELECT name FROM customers WHERE id = $1"


def _schema(*columns: str) -> Schema:
    return Schema(tables=[Table(name="customers", schema="public", kind="table",
                                columns=[Column(name=c, type="text") for c in columns])],
                  default_schema="public")


def test_the_same_statement_is_validated_once():
    cache = StatementCache()
    first = cache.validate(SQL, "postgres", max_rows=11)
    assert cache.validate(SQL, "postgres", max_rows=11) is first
    assert (cache.hits, cache.misses) == (1, 1)
    assert first.bind([7], "format") == cache.validate(SQL, "postgres", max_rows=11).bind([7], "format")


@pytest.mark.parametrize("other", [
    {"sql": SQL + " "}, {"dialect": "mysql"}, {"max_rows": 12}, {"policy": Policy(allowed_functions={"f"})},
])
def test_anything_the_verdict_depends_on_is_in_the_key(other):
    cache = StatementCache()
    base = {"sql": SQL, "dialect": "postgres", "max_rows": 11, "policy": None}
    first = cache.validate(base["sql"], base["dialect"], max_rows=base["max_rows"], policy=base["policy"])
    changed = {**base, **other}
    again = cache.validate(changed["sql"], changed["dialect"], max_rows=changed["max_rows"],
                           policy=changed["policy"])
    assert again is not first and cache.misses == 2


def test_equal_policies_share_entries_and_a_changed_policy_is_refused():
    cache = StatementCache()
    schema = _schema("id", "name")
    open_policy = Policy(denied_columns={"customers.email"})
    cache.validate(SQL, "postgres", policy=open_policy, schema=schema)
    assert cache.validate(SQL, "postgres", policy=Policy(denied_columns={"CUSTOMERS.EMAIL"}), schema=schema)
    assert cache.hits == 1
    with pytest.raises(errors.AccessDenied):
        cache.validate(SQL, "postgres", policy=Policy(denied_columns={"customers.name"}), schema=schema)


def test_a_refreshed_schema_is_a_miss():
    cache = StatementCache()
    cache.validate(SQL, "postgres", schema=_schema("id", "name"))
    with pytest.raises(errors.InvalidQuery):  # the new snapshot has no `name` column
        cache.validate(SQL, "postgres", schema=_schema("id", "email"))


def test_a_dropped_schema_never_matches_an_object_reusing_its_id():
    cache = StatementCache()
    cache.validate(SQL, "postgres", schema=_schema("id", "name"))
    gc.collect()
    for _ in range(50):  # ids of freed objects get reused: none may inherit the verdict
        with pytest.raises(errors.InvalidQuery):
            cache.validate(SQL, "postgres", schema=_schema("id", "email"))


def test_an_explicit_schema_version_keys_the_entry():
    cache = StatementCache()
    first = cache.validate(SQL, "postgres", schema=_schema("id", "name"), schema_version=("src", 1))
    assert cache.validate(SQL, "postgres", schema=_schema("id", "name"), schema_version=("src", 1)) is first
    assert cache.validate(SQL, "postgres", schema=_schema("id", "name"), schema_version=("src", 2)) is not first


def test_rejections_are_not_cached_and_the_size_is_bounded():
    cache = StatementCache(maxsize=3)
    for _ in range(2):
        with pytest.raises(errors.UnsafeQueryError):
            cache.validate("DELETE FROM customers", "postgres")
    assert len(cache) == 0
    for n in range(10):
        cache.validate(f"SELECT {n}", "postgres")
    assert len(cache) == 3
    cache.validate("SELECT 9", "postgres")
    assert cache.hits == 1
