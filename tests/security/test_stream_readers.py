"""Streamed results against readers that fall behind or never read.

A reader behind past its patience gets the rest of its result from memory; what the
process holds that way is bounded for all streams together (a tenant's clients that send
large queries and never read must not grow the server's memory with each request), a
client that takes nothing for the query's timeout is cut (and what its stream held goes),
and the rows held for a reader are handed over one event-loop turn at a time (a client
going away must not make the loop encode the whole rest of its result first)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest

from nlquery import Engine, streaming
from nlquery.errors import ResultTooLarge
from nlquery.service import Settings, create_app
from tests.faults.harness import LiveServer
from tests.test_streaming import COUNTING_SQL, CountingConnector

TOKEN = "stream-readers-token"


def _wait(predicate, bound_s: float = 20.0) -> bool:
    """Whether ``predicate`` came true within ``bound_s`` (a hang guard, not a timing check)."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_what_lagging_readers_hold_is_bounded_for_all_streams(monkeypatch):
    monkeypatch.setattr(streaming, "BUFFER_BYTES", 300_000)
    sources = [CountingConnector() for _ in range(3)]
    with Engine() as engine:
        streams = [engine.stream(source, COUNTING_SQL, max_rows=1_000_000, timeout_s=0.3) for source in sources]
        try:
            for stream in streams:
                next(iter(stream))  # a first chunk, then nothing: every reader is behind
            assert all(source.finished.wait(20) for source in sources), "the reads ended"
            assert streaming._budget.used <= streaming.BUFFER_BYTES
            # Each reader gets what was held for it, then the error that ended its read.
            for stream in streams:
                with pytest.raises(ResultTooLarge, match="NLQUERY_STREAM_BUFFER_BYTES"):
                    for _ in stream:
                        pass
        finally:
            for stream in streams:
                stream.close()
    assert streaming._budget.used == 0


def test_a_closed_stream_gives_its_rows_back(monkeypatch):
    monkeypatch.setattr(streaming, "BUFFER_BYTES", 10**9)
    source = CountingConnector()
    with Engine() as engine:
        stream = engine.stream(source, COUNTING_SQL, max_rows=50_000, timeout_s=0.3)
        next(iter(stream))
        assert source.finished.wait(20)
        assert streaming._budget.used > 0  # the rest of the result, held for its reader
        stream.close()
    assert streaming._budget.used == 0


def test_held_chunks_are_handed_over_one_loop_turn_at_a_time():
    source = CountingConnector()

    async def main() -> tuple[int, int]:
        with Engine() as engine:
            stream = await engine.stream_async(source, COUNTING_SQL, max_rows=40_000, timeout_s=0.3)
            with stream:
                # The whole rest is held in memory now, up to the end's hand-over.
                await asyncio.to_thread(_wait, lambda: any(e[0] == "done" for e in list(stream._queue.queue)))
                turns = 0

                async def other_request() -> None:
                    nonlocal turns
                    while True:
                        turns += 1
                        await asyncio.sleep(0)

                other = asyncio.ensure_future(other_request())
                await asyncio.sleep(0)
                before, chunks = turns, 0
                async for _ in stream.achunks():
                    chunks += 1
                other.cancel()
                return turns - before, chunks

    turns, chunks = asyncio.run(main())
    assert chunks > 5
    assert turns >= chunks - 1, "the held chunks went out without giving the loop a turn"


def test_a_client_that_never_reads_is_cut_and_its_rows_are_given_back(nlquery_home, shop_path):
    engine = Engine(timeout_s=1.0)
    app = create_app(engine, Settings(tokens=TOKEN, callback_secret="s", redis_url=None))
    sql = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 90000) "
           "SELECT i, printf('%.60d', i) AS label FROM n")
    with LiveServer(app) as base:
        port = int(base.rsplit(":", 1)[1])
        import httpx

        created = httpx.post(f"{base}/api/v1/data-sources", headers={"Authorization": f"Bearer {TOKEN}"},
                             json={"name": "shop", "type": "sqlite", "connection": {"database": str(shop_path)}})
        assert created.status_code == 201, created.text
        body = json.dumps({"query": sql, "max_rows": 100_000}).encode()
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", port))
        client.sendall(b"POST /api/v1/data-sources/shop/query?format=jsonl HTTP/1.1\r\nHost: x\r\n"
                       b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Type: application/json\r\n"
                       b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        try:
            # The client reads nothing: the server holds the rest of the result until it
            # gives up on the client, cuts the response and gives the rows back.
            assert _wait(lambda: streaming._budget.used > 0), "the reader fell behind"
            assert _wait(lambda: streaming._budget.used == 0, 30), "the stalled client's rows are still held"
            client.settimeout(30)
            received = b""
            while True:
                data = client.recv(1 << 20)
                if not data:
                    break  # the server closed the connection
                received += data
            assert received.startswith(b"HTTP/1.1 200")
            assert not received.endswith(b"\r\n0\r\n\r\n"), "a cut response must not look complete"
        finally:
            client.close()
    engine.close()


class _Hanging(CountingConnector):
    """A connector whose read waits until released (a stuck driver, a busy worker)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def execute(self, sql, params=(), *, max_rows=1000, timeout_s=30.0, convert=True):
        self.release.wait(20)
        return super().execute(sql, params, max_rows=max_rows, timeout_s=timeout_s, convert=convert)


def test_the_readers_own_timeout_is_an_api_error_not_a_crash(monkeypatch):
    from nlquery.errors import NLQueryError

    monkeypatch.setattr(streaming, "_END_GRACE_S", 0.1)
    source = _Hanging()
    with Engine() as engine:
        try:
            with pytest.raises(NLQueryError) as raised:
                engine.stream(source, COUNTING_SQL, timeout_s=0.2)
            assert raised.value.code == "query_timeout"  # the route answers its status, not a 500
        finally:
            source.release.set()


def test_a_read_that_waited_past_its_deadline_for_a_worker_never_runs(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from nlquery.errors import NLQueryError

    pool = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr(streaming, "_pool", pool)
    busy, late = _Hanging(), CountingConnector()
    with Engine() as engine:
        try:
            first = streaming.ResultStream(lambda left: engine.query(busy, COUNTING_SQL, timeout_s=left),
                                           max_rows=10, timeout_s=30)
            with pytest.raises(NLQueryError) as raised:  # no worker before its deadline (+ a short grace)
                engine.stream(late, COUNTING_SQL, timeout_s=0.2)
            assert raised.value.code == "query_timeout"
        finally:
            busy.release.set()
        first.close()
        pool.shutdown(wait=True)  # the late read's turn came and went
    assert late.fetched == 0, "a read whose caller had given up ran anyway"
