"""Both layers against real databases, on the corpus.

* Guard bypassed: every rejected case of the backend's dialect goes straight to the
  read-only session; the data must not change (the second layer holds on its own).
* Guard on: every case goes through Engine.query; the data must not change either.
"""

from __future__ import annotations

import contextlib
import glob
import os

import pytest

import connectors
from nlquery.errors import NLQueryError
from tests.guard.corpus import load

# Statements with server-wide effects outside any transaction (not data, but not ours to
# touch on a shared server): only the guard stops these, and it is tested on them above.
SERVER_WIDE = ("FLUSH", "KILL", "pg_reload_conf", "pg_stat_reset", "DO SLEEP")

FINGERPRINT = [
    "SELECT COUNT(*) FROM customers",
    "SELECT COUNT(*) FROM products",
    "SELECT COUNT(*) FROM orders",
    "SELECT COUNT(*) FROM order_items",
    "SELECT SUM(total_amount) FROM orders",
    "SELECT COUNT(*) FROM orders WHERE status = 'x'",
]


def fingerprint(backend) -> tuple:
    return tuple(backend.scalar(sql) for sql in FINGERPRINT)


def cases_for(backend, verdict=None):
    dialect = backend.corpus_dialect or backend.dialect
    return [c for c in load() if c.dialect == dialect and verdict in (None, c.verdict)]


@pytest.fixture
def cleanup_files():
    yield
    for path in glob.glob("/tmp/nlq_guard_*"):
        with contextlib.suppress(OSError):
            os.remove(path)


def test_rejected_cases_bypassing_the_guard_leave_data_unchanged(backend, cleanup_files):
    before = fingerprint(backend)
    ran = 0
    for case in cases_for(backend, "reject"):
        if any(marker in case.sql for marker in SERVER_WIDE) or not case.sql.strip():
            continue
        connector = backend.connect()  # fresh: USE/SET cannot leak across cases
        try:
            connector.execute(case.sql, timeout_s=1)
        except connectors.ConnectorError:
            pass
        finally:
            connector.close()
        ran += 1
    assert ran >= 20
    assert fingerprint(backend) == before


def test_every_case_through_the_guard_leaves_data_unchanged(backend, engine, cleanup_files):
    before = fingerprint(backend)
    connector = engine.connect(backend.type, **backend.connection)
    refused = executed = 0
    for case in cases_for(backend):
        try:
            count = engine.validate(connector, case.sql).parameter_count
            engine.query(connector, case.sql, ["1"] * count, timeout_s=1)
            executed += 1
        except NLQueryError as exc:
            refused += case.verdict == "reject"
            assert exc.code in {"query_not_read_only", "invalid_query", "invalid_request",
                                "query_execution_failed", "query_timeout"}
    assert refused == len(cases_for(backend, "reject"))
    assert executed >= 5  # allowed reads on shop tables really ran
    assert fingerprint(backend) == before
