"""Issue 16, items 9 and 11: whatever text reaches ``validate_sql`` (random bytes and
text, corpus cases cut, spliced and salted with quotes, comments and brackets), the
guard answers with an NLQueryError or a SafeQuery, never another exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.models import Column, Schema, Table
from nlquery.errors import NLQueryError
from nlquery.guard import Policy, SafeQuery, validate_sql
from tests.guard.corpus import load

DIALECTS = ["postgres", "mysql", "sqlite", "tsql", "duckdb"]
CORPUS = [case.sql for case in load() if case.sql]
SCHEMA = Schema(
    tables=[Table(name=name, schema="public", columns=[Column(c, "text") for c in columns])
            for name, columns in {
                "orders": ("id", "customer_id", "status", "total_amount", "created_at"),
                "customers": ("id", "name", "email", "country", "city", "secret"),
                "t": ("id", "name", "secret"),
            }.items()],
    default_schema="public",
)
POLICY = Policy(denied_columns={"customers.secret", "t.secret"})
SALT = ["(", ")", "[", "]", "{", "}", "'", '"', "`", "$$", "$1", "/*", "*/", "/*!", "/*M!", "/*+", "--",
        "#", ";", "\\", "\x00", "::", ".*", "*", ",", " ", "\n", "é", "\ud800", "NATURAL JOIN t",
        "t.*", "ROW(", "to_json(", "SELECT", "FROM", "WITH", "UNION", "E'", "N'", "x'", "@", "?", ":x"]

settings_ = settings(max_examples=300, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check(sql: str, dialect: str, with_schema: bool) -> None:
    try:
        result = validate_sql(sql, dialect, schema=SCHEMA if with_schema else None,
                              policy=POLICY if with_schema else None, max_rows=100)
    except NLQueryError as exc:
        assert exc.code in {"invalid_query", "query_not_read_only", "access_denied", "invalid_request"}, exc
        assert exc.message and "\n" not in exc.message and "<class" not in exc.message
    else:
        assert isinstance(result, SafeQuery)


@st.composite
def mutated(draw) -> str:
    sql = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        position = draw(st.integers(min_value=0, max_value=len(sql)))
        action = draw(st.sampled_from(["insert", "delete", "cut", "splice", "repeat"]))
        if action == "insert":
            sql = sql[:position] + draw(st.sampled_from(SALT)) + sql[position:]
        elif action == "delete":
            sql = sql[:position] + sql[position + draw(st.integers(min_value=1, max_value=8)):]
        elif action == "cut":
            sql = sql[:position]
        elif action == "splice":
            other = draw(st.sampled_from(CORPUS))
            sql = sql[:position] + other[draw(st.integers(min_value=0, max_value=len(other))):]
        else:
            piece = sql[position:position + draw(st.integers(min_value=1, max_value=6))]
            sql = sql[:position] + piece * draw(st.integers(min_value=2, max_value=300)) + sql[position:]
    return sql


@settings_
@given(st.binary(max_size=400), st.sampled_from(DIALECTS), st.booleans())
def test_random_bytes(data, dialect, with_schema):
    check(data.decode("latin-1"), dialect, with_schema)


@settings_
@given(st.text(max_size=300), st.sampled_from(DIALECTS), st.booleans())
def test_random_text(text, dialect, with_schema):
    check(text, dialect, with_schema)


@settings(max_examples=600, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated(), st.sampled_from(DIALECTS), st.booleans())
def test_mutated_corpus_cases(sql, dialect, with_schema):
    check(sql, dialect, with_schema)


@settings_
@given(st.lists(st.sampled_from(SALT), max_size=60).map("".join), st.sampled_from(DIALECTS))
def test_salt_alone(sql, dialect):
    check(sql, dialect, True)


def test_the_reported_reproducers():
    for sql, dialect in [
        ("SELECT " + "(" * 1000 + "1" + ")" * 1000, "postgres"),
        ("SELECT /*+ a('*/ SLEEP(5), /*') */ 1", "mysql"),
        ("SELECT 1 * FROM t", "postgres"),
    ]:
        check(sql, dialect, False)
        check(sql, dialect, True)
