"""Issue 16, items 6 and 10 (functions): user-defined functions behind a built-in's name,
DuckDB replacement scans, query-string runners, and built-ins no longer refused."""

from __future__ import annotations

import pytest

from connectors.models import Column, Schema, Table
from nlquery.errors import UnsafeQueryError
from nlquery.guard import Policy, validate_sql

SCHEMA = Schema(tables=[Table(name="t", schema="public", columns=[Column("name", "text"), Column("j", "jsonb")])],
                default_schema="public")


@pytest.mark.parametrize("sql,dialect", [
    ("SELECT rt_app.md5(name) FROM t", "postgres"),
    ("SELECT public.lower(name) FROM t", "postgres"),
    ("SELECT rt_app.count(name) FROM t", "postgres"),
    ("SELECT rt_app.jsonb_array_length(j) FROM t", "postgres"),
    ("SELECT mydb.rt_app.md5(name) FROM t", "postgres"),
    ("SELECT dbo.upper(name) FROM t", "tsql"),
    ("SELECT app.md5(name) FROM t", "mysql"),
])
def test_schema_qualified_functions_need_allowed_functions(sql, dialect):
    with pytest.raises(UnsafeQueryError, match="allowed_functions"):
        validate_sql(sql, dialect)


def test_allowed_functions_admit_a_qualified_user_function():
    policy = Policy(allowed_functions={"rt_app.md5"})
    assert validate_sql("SELECT rt_app.md5(name) FROM t", "postgres", policy=policy).sql
    with pytest.raises(UnsafeQueryError):  # another schema's md5 is another function
        validate_sql("SELECT other.md5(name) FROM t", "postgres", policy=policy)


@pytest.mark.parametrize("sql,dialect", [
    ("SELECT pg_catalog.md5(name) FROM t", "postgres"),
    ("SELECT pg_catalog.jsonb_array_length(j) FROM t", "postgres"),
    ("SELECT sys.fn_varbintohexstr(0x01)", "tsql"),
])
def test_system_schema_functions_are_checked_like_unqualified_ones(sql, dialect):
    try:
        validate_sql(sql, dialect)
    except UnsafeQueryError as exc:  # an unknown system function is refused as unknown, not as user-defined
        assert "user-defined" not in exc.message


def test_denied_functions_stay_denied_when_qualified():
    with pytest.raises(UnsafeQueryError, match="side effects"):
        validate_sql("SELECT pg_catalog.pg_sleep(1)", "postgres", policy=Policy(allowed_functions={"pg_sleep"}))


@pytest.mark.parametrize("sql", [
    "SELECT * FROM 'data.csv'",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM \"data.parquet\"",
    "SELECT * FROM 's3://bucket/key.parquet'",
    "SELECT * FROM 'https://example.com/x.csv'",
    "SELECT * FROM '~/x.json'",
    "SELECT * FROM 'logs/*.csv'",
    "SELECT * FROM t JOIN 'other.csv' AS o ON true",
    "SELECT (SELECT count(*) FROM 'x.csv')",
    "FROM 'data.csv'",
    "SELECT * FROM read_csv('data.csv')",
    "SELECT * FROM read_csv_auto('data.csv')",
    "SELECT * FROM read_parquet('x.parquet')",
    "SELECT * FROM query('SELECT 1')",
    "SELECT * FROM query_table('t')",
    "SELECT * FROM glob('*')",
])
def test_duckdb_file_reads_and_replacement_scans_are_refused(sql):
    with pytest.raises(UnsafeQueryError):
        validate_sql(sql, "duckdb")


def test_a_known_duckdb_table_with_a_dot_in_its_name_is_not_a_file():
    schema = Schema(tables=[Table(name="v1.2", schema="main", columns=[Column("a", "int")])], default_schema="main")
    assert validate_sql('SELECT a FROM "v1.2"', "duckdb", schema=schema).sql


@pytest.mark.parametrize("sql", [
    "SELECT query_to_xml('SELECT * FROM t', true, true, '')",
    "SELECT table_to_xml('t', true, true, '')",
    "SELECT database_to_xml(true, true, '')",
    "SELECT schema_to_xml('public', true, true, '')",
    "SELECT cursor_to_xml('c', 1, true, true, '')",
    "SELECT * FROM ts_stat('SELECT to_tsvector(name) FROM t')",
])
def test_query_string_runners_are_always_denied(sql):
    names = {"query_to_xml", "table_to_xml", "database_to_xml", "schema_to_xml", "cursor_to_xml", "ts_stat"}
    with pytest.raises(UnsafeQueryError, match="side effects"):
        validate_sql(sql, "postgres", policy=Policy(allowed_functions=names))


@pytest.mark.parametrize("sql,dialect", [
    ("SELECT jsonb_array_length(j) FROM t", "postgres"),
    ("SELECT jsonb_path_query_first(j, '$.a'), jsonb_extract_path_text(j, 'a') FROM t", "postgres"),
    ("SELECT string_to_table('a,b', ','), array_ndims(ARRAY[1])", "postgres"),
    ("SELECT ROW(1, 'a')", "postgres"),
    ("SELECT list_sum([1, 2, 3])", "duckdb"),
    ("SELECT list_avg([1, 2]), list_unique([1, 1]), strlen('x'), json_array_length('[1]')", "duckdb"),
    ("SELECT {'a': 1, 'b': 2} AS s", "duckdb"),
    ("SELECT unix_timestamp(), json_storage_size('[]')", "mysql"),
    ("SELECT jsonb_extract('{}', '$.a'), octet_length('x')", "sqlite"),
    ("SELECT datalength('x'), varp(1)", "tsql"),
])
def test_common_read_only_builtins_are_accepted(sql, dialect):
    assert validate_sql(sql, dialect).sql
