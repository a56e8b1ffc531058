"""``Engine.stream``: rows go from the connector's fetch loop to the reader chunk by chunk,
with only a few chunks in memory, the reader setting the pace, and the same guard, caps,
audit and errors as ``Engine.query``."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from connectors import base
from connectors.base import FETCH_CHUNK_ROWS, StreamedRows, finish_result, rows_to, take_rows
from nlquery import Engine
from nlquery.errors import QueryTimeout, ResultTooLarge, UnsafeQueryError
from nlquery.streaming import HANDOVER_ROWS, QUEUED_CHUNKS

COUNTING_SQL = "SELECT n FROM numbers"


class _Cursor:
    """Rows with a DB-API description."""

    description = [("n",)]

    def __init__(self, rows):
        self._rows = rows

    def __iter__(self):
        return self._rows


class CountingConnector(base.ClosesOnExit):
    """A connector whose result is an endless sequence it counts as it is fetched."""

    type_name = "counting"
    dialect = "sqlite"
    paramstyle = "qmark"

    def __init__(self, fail_after: int | None = None) -> None:
        self.fetched = 0
        self.fail_after = fail_after
        self.finished = threading.Event()

    def _rows(self):
        for n in itertools.count(1):
            if self.fail_after is not None and n > self.fail_after:
                raise base.QueryExecutionFailed("the source broke mid-read")
            self.fetched = n
            yield (n,)

    def execute(self, sql, params=(), *, max_rows=1000, timeout_s=30.0, convert=True):
        started = time.perf_counter()
        try:
            rows = take_rows(_Cursor(self._rows()), max_rows + 1, 10**12)
            return finish_result(["n"], rows, max_rows, started, convert=convert)
        finally:
            self.finished.set()

    def introspect(self, **_):
        raise NotImplementedError

    def ping(self):
        pass

    def close(self):
        pass


def test_take_rows_hands_chunks_to_the_sink_and_keeps_none():
    chunks = []
    with rows_to(lambda columns, chunk: chunks.append(chunk)):
        rows = take_rows(iter([(n,) for n in range(5000)]), 4001, 10**9)
    assert isinstance(rows, StreamedRows) and rows == [] and rows.taken == 4001
    assert [len(c) for c in chunks][:4] == [1, 8, 64, 512]
    assert [r for c in chunks for r in c] == [(n,) for n in range(4001)]
    # Only the first read of the block streams: later statements of the connector do not.
    with rows_to(lambda columns, chunk: None):
        take_rows(iter([(1,)]), 5, 10**9)
        assert take_rows(iter([(2,)]), 5, 10**9) == [(2,)]


def test_finish_result_counts_a_streamed_read():
    rows = StreamedRows()
    rows.taken = 11
    result = finish_result(["n"], rows, 10, time.perf_counter())
    assert (result.row_count, result.truncated, result.rows) == (10, True, [])


def test_the_reader_sets_the_pace_and_memory_holds_a_few_chunks():
    source = CountingConnector()
    with Engine() as engine:
        with engine.stream(source, COUNTING_SQL, max_rows=200_000) as stream:
            chunks = iter(stream)
            first = next(chunks)
            # One chunk read: the worker is held back by the bounded queue, far from done.
            assert _settled(lambda: source.fetched) <= (HANDOVER_ROWS + FETCH_CHUNK_ROWS) * (QUEUED_CHUNKS + 2)
            assert not source.finished.is_set()
            total = len(first) + sum(len(c) for c in chunks)
        assert total == stream.row_count == 200_000
        assert stream.truncated and stream.columns == ["n"]


def test_a_reader_that_stops_early_releases_the_source():
    source = CountingConnector()
    with Engine() as engine:
        stream = engine.stream(source, COUNTING_SQL, max_rows=1_000_000)
        next(iter(stream))
        stream.close()
        assert source.finished.wait(5), "the worker stopped fetching and the connector's read ended"
        assert source.fetched < 1_000_000


def test_a_reader_slower_than_the_timeout_frees_the_source_and_still_gets_every_row():
    source = CountingConnector()
    with Engine() as engine:
        with engine.stream(source, COUNTING_SQL, max_rows=50_000, timeout_s=0.5) as stream:
            chunks = iter(stream)
            first = next(chunks)
            # Past the deadline the worker reads the rest into memory and the source's read ends
            # while the reader has taken one chunk.
            assert source.finished.wait(5)
            total = len(first) + sum(len(c) for c in chunks)
        assert total == stream.row_count == 50_000 and stream.truncated


def test_an_error_after_the_first_rows_comes_from_the_iteration():
    source = CountingConnector(fail_after=5000)
    with Engine() as engine:
        stream = engine.stream(source, COUNTING_SQL, max_rows=100_000)  # open() saw rows: no error yet
        assert stream.columns == ["n"]
        with pytest.raises(Exception, match="broke mid-read"):
            for _ in stream:
                pass


def test_errors_before_any_row_raise_from_stream(shop_engine):
    with pytest.raises(UnsafeQueryError):
        shop_engine.stream("shop", "DELETE FROM orders")


def test_a_stream_reads_what_query_reads(shop_engine):
    sql = "SELECT id, customer_id, total_amount, created_at FROM orders ORDER BY id"
    native = shop_engine.query("shop", sql, max_rows=57, result="native")
    with shop_engine.stream("shop", sql, max_rows=57) as stream:
        rows = list(stream.rows())
    assert stream.columns == native.columns
    assert [list(r) for r in rows] == [list(r) for r in native.rows]
    assert (stream.row_count, stream.truncated) == (native.row_count, native.truncated) == (57, True)
    assert stream.execution_time_ms is not None


def test_the_byte_cap_still_ends_a_streamed_read(shop_engine, shop_path):
    connector = shop_engine.connect(url=f"sqlite:///{shop_path}?max_result_bytes=200000")
    sql = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) "
           "SELECT i, 'customer-' || i AS label FROM n")
    with shop_engine.stream(connector, sql, max_rows=100_000) as stream:
        with pytest.raises(ResultTooLarge):
            for _ in stream:
                pass
        assert 0 < stream.row_count < 50_000


def _settled(read, *, rounds: int = 50):
    """``read()`` once it stopped changing (the worker is blocked on the full queue)."""
    last = read()
    for _ in range(rounds):
        time.sleep(0.02)
        now = read()
        if now == last:
            return now
        last = now
    return last


@pytest.fixture
def shop_engine(shop_path):
    with Engine() as engine:
        engine.add_source("shop", "sqlite", {"database": str(shop_path)})
        engine.refresh_schema("shop")
        yield engine


def test_a_slow_reader_on_postgresql_gets_every_row_and_frees_the_connection():
    from tests.conftest import scratch_postgres

    backend = scratch_postgres(with_data=False)
    connector = backend.connect()
    try:
        with Engine() as engine:
            sql = "SELECT g AS n, md5(g::text) AS pad FROM generate_series(1, 60000) AS g ORDER BY g"
            with engine.stream(connector, sql, max_rows=100_000, timeout_s=2) as stream:
                chunks = iter(stream)
                first = next(chunks)
                time.sleep(2.5)  # past the timeout: the worker has read the rest into memory
                rest = [row for chunk in chunks for row in chunk]
            assert len(first) + len(rest) == stream.row_count == 60000 and rest[-1][0] == 60000
            assert engine.query(connector, "SELECT 1 AS one").rows == [[1]]
    finally:
        connector.close()
        backend.drop_database()
