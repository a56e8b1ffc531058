"""One execute path: :func:`connectors.base.finish_result` ends every connector's
``execute`` (DB-API, MongoDB, REST) and :func:`connectors.sqlite.read_only_rows` is the
one SQLite session (deadline, read-only authorizer, byte cap) of ``sqlite`` and
``rest_api``."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from decimal import Decimal

import pytest

import connectors
from connectors import base, mongodb, rest_api, sqlite as sqlite_connector
from connectors.base import finish_result
from connectors.errors import ResultTooLarge
from connectors.sqlite import read_only_rows
from tests.backends.nonsql import MongomockConnector, _shared_mock_client
from tests.connectors.test_rest_api import api, source  # noqa: F401 - the module's HTTP server fixture


def test_finish_result_caps_converts_and_says_it_truncated():
    rows = [[Decimal("1.5"), dt.date(2026, 1, 2)], [Decimal("2"), None], [Decimal("3"), None]]
    result = finish_result(["a", "b"], rows, 2, time.perf_counter())
    assert result.rows == [[1.5, "2026-01-02"], [2, None]]
    assert (result.row_count, result.truncated, result.columns) == (2, True, ["a", "b"])
    assert result.execution_time_ms >= 0


def test_finish_result_keeps_native_values_when_asked():
    rows = [(Decimal("1.5"),)]
    result = finish_result(["a"], rows, 5, time.perf_counter(), convert=False)
    assert result.rows == [(Decimal("1.5"),)] and result.truncated is False and result.row_count == 1


def test_finish_result_with_a_zero_cap_keeps_only_the_truncation():
    result = finish_result(["a"], [[1]], 0, time.perf_counter())
    assert (result.rows, result.row_count, result.truncated) == ([], 0, True)


def _spy(monkeypatch, module):
    calls = []

    def spy(*args, **kwargs):
        calls.append(args[2])  # max_rows
        return finish_result(*args, **kwargs)

    monkeypatch.setattr(module, "finish_result", spy)
    return calls


def test_dbapi_connectors_end_in_finish_result(monkeypatch, shop_path):
    calls = _spy(monkeypatch, base)
    with connectors.connect("sqlite", database=str(shop_path)) as db:
        result = db.execute("SELECT id FROM orders ORDER BY id", max_rows=3)
    assert calls == [3] and result.row_count == 3 and result.truncated


def test_mongodb_ends_in_finish_result(monkeypatch):
    calls = _spy(monkeypatch, mongodb)
    database = "nlq_execpath"
    _shared_mock_client()[database]["things"].insert_many([{"n": i, "price": 1.5} for i in range(5)])
    try:
        conn = MongomockConnector(connectors.ConnectionConfig(url=f"mongodb://localhost/{database}",
                                                              database=database))
        result = conn.execute("SELECT n, price FROM things ORDER BY n", max_rows=2)
        constant = conn.execute("SELECT 1 AS one", max_rows=0)
    finally:
        _shared_mock_client().drop_database(database)
    assert calls == [2, 0]
    assert result.rows == [[0, 1.5], [1, 1.5]] and result.truncated
    assert constant.rows == [] and constant.truncated


def test_rest_api_ends_in_finish_result(monkeypatch, api):  # noqa: F811
    calls = _spy(monkeypatch, rest_api)
    with connectors.connect("rest_api", **source(api)) as rest:
        result = rest.execute("SELECT id FROM users ORDER BY id", max_rows=4)
    assert calls == [4] and result.row_count == 4 and result.truncated


def test_rest_api_results_have_the_byte_cap_of_every_connector(api):  # noqa: F811
    with connectors.connect("rest_api", **source(api, options={"max_result_bytes": 2000})) as rest:
        assert rest.execute("SELECT name FROM users LIMIT 2").row_count == 2
        with pytest.raises(ResultTooLarge):
            rest.execute("SELECT a.name, b.name FROM users AS a, users AS b")


def test_rest_api_runs_its_sql_in_the_sqlite_session(monkeypatch, api):  # noqa: F811
    seen = []

    def session(conn, sql, params, **kwargs):
        seen.append((sql, kwargs["fetch_limit"]))
        return read_only_rows(conn, sql, params, **kwargs)

    monkeypatch.setattr(rest_api, "read_only_rows", session)
    with connectors.connect("rest_api", **source(api)) as rest:
        rest.execute("SELECT COUNT(*) FROM users", max_rows=7)
    assert seen == [("SELECT COUNT(*) FROM users", 8)]


@pytest.fixture
def memory_db():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (s TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [("x" * 100,)] * 50)
    yield conn
    conn.close()


def test_sqlite_session_reads(memory_db):
    columns, rows = read_only_rows(memory_db, "SELECT s FROM t WHERE length(s) = ?", [100], fetch_limit=3,
                                   deadline=time.monotonic() + 10, max_bytes=10**6)
    assert columns == ["s"] and len(rows) == 3


@pytest.mark.parametrize("statement", ["INSERT INTO t VALUES ('y')", "ATTACH ':memory:' AS other",
                                       "PRAGMA query_only = OFF", "DELETE FROM t"])
def test_sqlite_session_refuses_everything_but_reading(memory_db, statement):
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        read_only_rows(memory_db, statement, (), fetch_limit=1, deadline=time.monotonic() + 10, max_bytes=10**6)
    # the authorizer is the statement's only: the connection is writable again afterwards
    memory_db.execute("INSERT INTO t VALUES ('after')")


def test_sqlite_session_interrupts_past_its_deadline(memory_db):
    endless = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r"
    with pytest.raises(sqlite3.OperationalError, match="interrupted"):
        read_only_rows(memory_db, endless, (), fetch_limit=1, deadline=time.monotonic() - 1, max_bytes=10**6)
    assert memory_db.execute("SELECT COUNT(*) FROM t").fetchone() == (50,)  # the handler is gone


def test_sqlite_session_stops_at_the_byte_cap(memory_db):
    with pytest.raises(ResultTooLarge):
        read_only_rows(memory_db, "SELECT s FROM t", (), fetch_limit=100, deadline=time.monotonic() + 10,
                       max_bytes=1000)


def test_the_sqlite_connector_uses_the_session(monkeypatch, shop_path):
    seen = []

    def session(conn, sql, params, **kwargs):
        seen.append(sql)
        return read_only_rows(conn, sql, params, **kwargs)

    monkeypatch.setattr(sqlite_connector, "read_only_rows", session)
    with connectors.connect("sqlite", database=str(shop_path)) as db:
        db.execute("SELECT 1")
    assert seen == ["SELECT 1"]
