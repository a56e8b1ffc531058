"""Property-based tests: no generated write is ever allowed; validation is stable."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlquery.errors import NLQueryError
from nlquery.guard import validate_sql

DIALECTS = ["postgres", "mysql", "sqlite", "tsql"]
TABLES = ["orders", "customers", "t1", "audit", "x"]
COLUMNS = ["id", "status", "total", "created_at", "name"]
VALUES = ["1", "'a'", "NULL", "2.5", "'DROP TABLE x'"]

names = st.sampled_from(TABLES)
columns = st.sampled_from(COLUMNS)
values = st.sampled_from(VALUES)


@st.composite
def writes(draw) -> str:
    t, c, v = draw(names), draw(columns), draw(values)
    return draw(st.sampled_from([
        f"INSERT INTO {t} ({c}) VALUES ({v})",
        f"INSERT INTO {t} SELECT * FROM {draw(names)}",
        f"UPDATE {t} SET {c} = {v}",
        f"UPDATE {t} SET {c} = {v} WHERE {draw(columns)} = {draw(values)}",
        f"DELETE FROM {t}",
        f"DELETE FROM {t} WHERE {c} = {v}",
        f"DROP TABLE {t}",
        f"DROP VIEW {t}",
        f"CREATE TABLE {t} ({c} INT)",
        f"CREATE TABLE {t} AS SELECT 1 AS {c}",
        f"ALTER TABLE {t} ADD COLUMN {c} INT",
        f"TRUNCATE TABLE {t}",
        f"GRANT SELECT ON {t} TO someone",
        f"CREATE INDEX ix ON {t} ({c})",
    ]))


def recase(draw, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(ch.upper() if up else ch.lower() for ch, up in zip(text, flips))


def respace(draw, text: str) -> str:
    gaps = st.sampled_from([" ", "  ", "\t", "\n", " \n\t "])
    return "".join(draw(gaps) if ch == " " else ch for ch in text)


@st.composite
def statements_with_a_write(draw) -> tuple[str, str]:
    dialect = draw(st.sampled_from(DIALECTS))
    write = draw(writes())
    wrapper = draw(st.sampled_from([
        "{w}",
        "SELECT 1; {w}",
        "{w}; SELECT 1",
        "/* report */ {w}",
        "-- note\n{w}",
        "SELECT * FROM orders; {w}; SELECT 2",
        "WITH d AS ({w} RETURNING *) SELECT * FROM d",
        "WITH a AS (SELECT 1), d AS ({w} RETURNING 1) SELECT * FROM a",
        "SELECT * FROM ({w} RETURNING *) AS s",
    ]))
    sql = wrapper.format(w=write)
    if draw(st.booleans()):
        sql = recase(draw, sql)
    if draw(st.booleans()):
        sql = respace(draw, sql)
    return dialect, sql


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements_with_a_write())
def test_a_statement_containing_a_write_is_never_allowed(case):
    dialect, sql = case
    try:
        safe = validate_sql(sql, dialect)
    except NLQueryError as exc:
        assert exc.code in {"query_not_read_only", "invalid_query"}, (sql, exc.message)
    else:
        raise AssertionError(f"allowed a write in {dialect}: {sql!r} -> {safe.sql!r}")


@st.composite
def reads(draw) -> tuple[str, str]:
    dialect = draw(st.sampled_from(DIALECTS))
    table = draw(names)
    selected = draw(st.lists(columns, min_size=1, max_size=3, unique=True))
    sql = f"SELECT {', '.join(selected)} FROM {table}"
    if draw(st.booleans()):
        sql += f" WHERE {draw(columns)} {draw(st.sampled_from(['=', '<>', '>', '<=']))} {draw(values)}"
    if draw(st.booleans()):
        sql += f" AND {draw(columns)} = $1" if " WHERE " in sql else f" WHERE {draw(columns)} = $1"
    if draw(st.booleans()):
        sql += f" ORDER BY {selected[0]}"
    if dialect != "tsql" and draw(st.booleans()):
        sql += f" LIMIT {draw(st.integers(min_value=0, max_value=5000))}"
    if draw(st.booleans()):
        sql = f"WITH base AS ({sql}) SELECT * FROM base"
    return dialect, recase(draw, sql) if draw(st.booleans()) and "'" not in sql else sql


@settings(max_examples=300, deadline=None)
@given(reads(), st.sampled_from([None, 10, 1000]))
def test_an_allowed_query_revalidates_to_itself(case, max_rows):
    dialect, sql = case
    first = validate_sql(sql, dialect, max_rows=max_rows)
    second = validate_sql(first.sql, dialect, max_rows=max_rows)
    assert second.sql == first.sql
    assert second.tables == first.tables and second.parameter_count == first.parameter_count
    assert not second.rewrites  # capping is idempotent
