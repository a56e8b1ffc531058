"""Results are capped in bytes while they are fetched, not after (issue 16: a
``repeat('x', 100000000)`` of five rows cost the server 1.4 GB)."""

from __future__ import annotations

import pytest

from nlquery import Engine
from nlquery.errors import ResultTooLarge
from tests.conftest import scratch_postgres


def _cap(connector, limit):
    connector.max_result_bytes = limit
    return connector


def test_sqlite_result_over_the_byte_cap_is_result_too_large(shop_path):
    with Engine() as engine:
        connector = _cap(engine.connect("sqlite", database=str(shop_path)), 50_000)
        with pytest.raises(ResultTooLarge) as raised:
            engine.query(connector, "SELECT name, email FROM customers", max_rows=100_000)
        assert raised.value.code == "result_too_large" and raised.value.http_status == 413
        small = engine.query(connector, "SELECT id FROM customers LIMIT 10")
        assert small.row_count == 10


def test_postgresql_stops_reading_a_huge_value_and_the_connection_stays_usable():
    backend = scratch_postgres(with_data=False)
    try:
        with Engine() as engine:
            connector = _cap(engine.connect(url=backend.url), 5_000_000)
            with pytest.raises(ResultTooLarge) as raised:
                engine.query(connector, "SELECT repeat('x', 2000000) AS big FROM generate_series(1, 50)")
            # fetched one row at a time near the cap: 3 rows of 2 MB read, not a chunk of 50
            assert "after 3 rows" in raised.value.message
            assert engine.query(connector, "SELECT 1 AS one").rows == [[1]]
    finally:
        backend.drop_database()


def test_a_source_may_lower_the_cap_but_not_raise_it(shop_path):
    import connectors
    from connectors.base import DEFAULT_MAX_RESULT_BYTES

    lowered = connectors.connect("sqlite", database=str(shop_path), max_result_bytes=1000)
    raised = connectors.connect("sqlite", database=str(shop_path), max_result_bytes=10 * DEFAULT_MAX_RESULT_BYTES)
    assert lowered.max_result_bytes == 1000
    assert raised.max_result_bytes == DEFAULT_MAX_RESULT_BYTES
