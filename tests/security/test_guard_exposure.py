"""Issue 16, item 6: a hidden column is unreachable through any expression.

Whole-row references (``t.*`` or a table alias as a value, inside any function, cast,
operator or constructor), DuckDB's positional and pattern column selection, NATURAL
JOIN and USING expansions, renamed columns, and a restricted source without a schema.
"""

from __future__ import annotations

import pytest

from connectors.models import Column, Schema, Table
from nlquery.errors import AccessDenied, NLQueryError
from nlquery.guard import Policy, validate_sql


def _table(name, *columns, schema="public"):
    return Table(name=name, schema=schema, columns=[Column(c, "text") for c in columns])


SCHEMA = Schema(
    tables=[
        _table("t", "id", "name", "secret"),
        _table("u", "id", "t_id", "note"),
        _table("v", "id", "secret"),
    ],
    default_schema="public",
)
POLICY = Policy(denied_columns={"t.secret"})


def refused(sql: str, dialect: str = "postgres", policy: Policy = POLICY) -> AccessDenied:
    with pytest.raises(AccessDenied) as caught:
        validate_sql(sql, dialect, schema=SCHEMA, policy=policy)
    return caught.value


def allowed(sql: str, dialect: str = "postgres", policy: Policy = POLICY):
    return validate_sql(sql, dialect, schema=SCHEMA, policy=policy)


@pytest.mark.parametrize("function", ["to_json", "to_jsonb", "json_agg", "jsonb_agg", "array_agg", "row_to_json",
                                      "json_build_array", "hstore", "my_schema.my_func", "md5", "concat"])
@pytest.mark.parametrize("argument", ["t.*", "t", "x.*", "x", "(x.*)", "ROW(x.*)"])
def test_whole_row_inside_any_function(function, argument):
    table = "t" if argument.startswith("t") else "t AS x"
    policy = Policy(denied_columns={"t.secret"}, allowed_functions={"hstore", "my_schema.my_func"})
    with pytest.raises(AccessDenied):
        validate_sql(f"SELECT {function}({argument}) FROM {table}", "postgres", schema=SCHEMA, policy=policy)


@pytest.mark.parametrize("sql", [
    "SELECT (t.*)::text FROM t",
    "SELECT t.*::text FROM t",
    "SELECT CAST(t.* AS text) FROM t",
    "SELECT CAST(q AS text) FROM t AS q",
    "SELECT q::jsonb FROM t q",
    "SELECT length(q::text) FROM t q",
    "SELECT (t.*).secret FROM t",
    "SELECT (q).secret FROM t AS q",
    "SELECT ROW(t.*) FROM t",
    "SELECT ROW(t.*)::text FROM t",
])
def test_whole_row_in_casts_and_field_access(sql):
    refused(sql)


@pytest.mark.parametrize("sql", [
    "SELECT t FROM t",
    "SELECT q FROM t AS q",
    "SELECT id FROM t WHERE t::text LIKE '%a%'",
    "SELECT id FROM t AS q ORDER BY q",
    "SELECT count(DISTINCT q) FROM t AS q",
    "SELECT id FROM t WHERE (t.*) = ROW('1', 'a', 's')",
    "SELECT u.id FROM u WHERE EXISTS (SELECT 1 FROM t WHERE to_json(t.*)::text LIKE '%s%')",
    "SELECT (SELECT json_agg(x.*) FROM u) FROM t AS x",
    "SELECT id FROM t GROUP BY id, t.* ",
])
def test_table_alias_used_as_a_value_anywhere(sql):
    refused(sql)


def test_row_constructor_with_a_hidden_column_is_refused_and_without_is_allowed():
    refused("SELECT ROW(id, secret) FROM t")
    assert allowed("SELECT ROW(id, name) FROM t").columns


@pytest.mark.parametrize("sql", [
    "SELECT struct_pack(t.*) FROM t",
    "SELECT {'row': t.*} FROM t",
    "SELECT [t.*] FROM t",
    "SELECT list_value(*) FROM t",
    "SELECT coalesce(*) FROM t",
    "SELECT COLUMNS(*) FROM t",
    "SELECT COLUMNS('sec.*') FROM t",
    "SELECT min(COLUMNS(*)) FROM t",
    "SELECT * LIKE 'sec%' FROM t",
    "SELECT #3 FROM t",
    "SELECT t FROM t",
    "SELECT to_json(q) FROM t AS q",
])
def test_duckdb_row_positional_and_pattern_references(sql):
    refused(sql, "duckdb")


def test_duckdb_star_exclude_expands_to_the_visible_columns():
    safe = allowed("SELECT * EXCLUDE (secret) FROM t", "duckdb")
    assert set(safe.columns) == {"t.id", "t.name"}
    refused("SELECT * EXCLUDE (id) FROM t", "duckdb")


def test_natural_join_on_a_hidden_column_is_refused():
    # t and v share id and secret: the join compares t.secret = v.secret.
    refused("SELECT v.id FROM t NATURAL JOIN v")
    refused("SELECT v.id FROM v NATURAL JOIN t")
    refused("SELECT * FROM t NATURAL JOIN u")  # the star expands to t.secret


def test_natural_join_on_visible_columns_only_is_allowed():
    safe = allowed("SELECT u.note FROM t NATURAL JOIN u")  # t and u share only id
    assert "u.note" in safe.columns


def test_using_on_a_hidden_column_is_refused():
    refused("SELECT v.id FROM t JOIN v USING (secret)")
    refused("SELECT v.id FROM t JOIN v USING (id, secret)", "duckdb")
    assert allowed("SELECT u.note FROM t JOIN u USING (id)")


@pytest.mark.parametrize("sql", ["SELECT c FROM t AS x(a, b, c)", "SELECT x.c FROM t AS x(a, b, c)",
                                 "SELECT * FROM t AS x(a, b, c)"])
def test_renamed_columns_cannot_hide_a_hidden_column(sql):
    refused(sql)


@pytest.mark.parametrize("dialect", ["postgres", "duckdb", "mysql", "sqlite", "tsql"])
def test_count_star_and_plain_columns_still_pass(dialect):
    allowed("SELECT COUNT(*) FROM t", dialect)
    allowed("SELECT id, name FROM t WHERE name = 'a'", dialect)
    allowed("SELECT s.id FROM (SELECT id FROM t) AS s", dialect)


def test_whole_rows_of_unrestricted_tables_and_visible_subqueries_pass():
    allowed("SELECT to_json(u.*) FROM u")
    allowed("SELECT json_agg(s) FROM (SELECT id, name FROM t) AS s")
    allowed("SELECT to_json(t.*) FROM t", policy=Policy(denied_columns={"u.note"}))


def test_a_policy_name_the_snapshot_does_not_know_still_hides_whole_rows():
    # The snapshot predates the column: t.* must still not be readable as a whole.
    refused("SELECT to_json(t.*) FROM t", policy=Policy(denied_columns={"t.added_later"}))


@pytest.mark.parametrize("policy", [Policy(denied_columns={"t.secret"}), Policy(denied_tables={"v"}),
                                    Policy(allowed_tables={"t"})])
@pytest.mark.parametrize("dialect", ["postgres", "mysql", "duckdb"])
def test_a_restricted_source_without_a_schema_is_refused(policy, dialect):
    with pytest.raises(AccessDenied, match="schema of this source is not known"):
        validate_sql("SELECT secret FROM t", dialect, policy=policy)


def test_an_unrestricted_source_without_a_schema_still_answers():
    assert validate_sql("SELECT secret FROM t", "postgres", policy=Policy(allowed_functions={"f"})).sql
    assert validate_sql("SELECT secret FROM t", "postgres").sql


def test_refusals_are_nlquery_errors_with_a_message():
    error = refused("SELECT to_json(t.*) FROM t")
    assert isinstance(error, NLQueryError) and error.code == "access_denied" and "t" in error.message


@pytest.mark.parametrize("sql", [
    "VALUES ((SELECT secret FROM t LIMIT 1))",
    "VALUES ((SELECT q FROM t AS q LIMIT 1)::text)",
    "VALUES (1), ((SELECT max(secret) FROM t))",
])
def test_a_bare_values_root_does_not_skip_the_policy(sql):
    refused(sql)


def test_a_bare_values_root_with_visible_columns_passes():
    assert allowed("VALUES ((SELECT name FROM t LIMIT 1))").sql
