"""The exposure policy and schema checks: resolved through aliases, stars and subqueries."""

from __future__ import annotations

import pytest

from connectors.models import Column, Schema, Table
from nlquery.errors import AccessDenied, InvalidQuery, UnsafeQueryError
from nlquery.guard import Policy, validate_sql


@pytest.fixture(scope="module")
def schema():
    def table(name, *columns, schema="public"):
        return Table(name=name, schema=schema, columns=[Column(c, "text") for c in columns])

    return Schema(
        tables=[
            table("users", "id", "name", "email", "password_hash"),
            table("orders", "id", "user_id", "total_amount", "created_at"),
            table("audit_log", "id", "entry"),
            table("orders", "id", "note", schema="archive"),
        ],
        default_schema="public",
    )


HIDDEN = Policy(denied_columns={"users.password_hash"}, denied_tables={"audit_log"})


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT password_hash FROM users",
        "SELECT * FROM users",
        "SELECT u.* FROM users AS u",
        "SELECT x.p FROM (SELECT password_hash AS p FROM users) AS x",
        "WITH c AS (SELECT * FROM users) SELECT id FROM c",
        "SELECT id FROM users WHERE password_hash LIKE 'a%'",
        "SELECT to_json(u) FROM users AS u",
        "SELECT COUNT(*) FROM orders JOIN users ON users.id = orders.user_id WHERE users.password_hash IS NULL",
    ],
)
def test_denied_columns_are_unreachable(schema, sql):
    with pytest.raises(AccessDenied, match="password_hash|whole rows"):
        validate_sql(sql, "postgres", schema=schema, policy=HIDDEN)


@pytest.mark.parametrize("sql", ["SELECT * FROM audit_log", "SELECT id FROM public.audit_log",
                                 "SELECT 1 FROM orders WHERE id IN (SELECT id FROM AUDIT_LOG)"])
def test_denied_tables_are_unreachable(schema, sql):
    with pytest.raises(AccessDenied, match="audit_log"):
        validate_sql(sql, "postgres", schema=schema, policy=HIDDEN)


def test_allowed_tables_narrow_everything_else(schema):
    policy = Policy(allowed_tables={"orders"})
    validate_sql("SELECT total_amount FROM orders", "postgres", schema=schema, policy=policy)
    with pytest.raises(AccessDenied):
        validate_sql("SELECT name FROM users", "postgres", schema=schema, policy=policy)


def test_visible_columns_pass_and_are_reported(schema):
    safe = validate_sql(
        "SELECT u.name, SUM(o.total_amount) FROM users u JOIN orders o ON o.user_id = u.id GROUP BY u.name",
        "postgres", schema=schema, policy=HIDDEN,
    )
    assert safe.tables == ("users", "orders")
    assert set(safe.columns) == {"users.name", "orders.total_amount", "orders.user_id", "users.id"}


def test_other_schema_table_is_resolved_by_qualified_name(schema):
    safe = validate_sql("SELECT note FROM archive.orders", "postgres", schema=schema)
    assert safe.tables == ("archive.orders",) and safe.columns == ("archive.orders.note",)


def test_unknown_column_suggests_the_closest(schema):
    with pytest.raises(InvalidQuery, match="did you mean orders.total_amount"):
        validate_sql("SELECT total_amont FROM orders", "postgres", schema=schema)


def test_unknown_table_suggests_the_closest(schema):
    with pytest.raises(InvalidQuery, match="unknown table order.*did you mean orders"):
        validate_sql("SELECT * FROM order_s", "postgres", schema=schema)


def test_suggestions_never_reveal_hidden_tables(schema):
    with pytest.raises(InvalidQuery) as caught:
        validate_sql("SELECT * FROM audit_logs", "postgres", schema=schema, policy=HIDDEN)
    assert "audit_log" not in caught.value.message.replace("audit_logs", "")


def test_cte_names_are_not_unknown_tables(schema):
    validate_sql("WITH recent AS (SELECT id FROM orders) SELECT id FROM recent", "postgres", schema=schema)


def test_identifiers_are_case_insensitive_when_unquoted(schema):
    validate_sql("SELECT Name FROM Users", "postgres", schema=schema)


def test_source_allow_list_admits_a_user_function_but_never_a_denied_one(schema):
    policy = Policy(allowed_functions={"fiscal_quarter", "pg_sleep"})
    validate_sql("SELECT fiscal_quarter(created_at) FROM orders", "postgres", schema=schema, policy=policy)
    with pytest.raises(UnsafeQueryError):
        validate_sql("SELECT pg_sleep(1)", "postgres", schema=schema, policy=policy)


def test_size_limit_comes_from_the_policy():
    with pytest.raises(InvalidQuery, match="byte limit"):
        validate_sql("SELECT " + "1 + " * 50 + "1", "postgres", policy=Policy(max_sql_bytes=100))
