"""Slow or huge upstreams never block other requests: with many calls stuck on a stalled
REST upstream (a fault proxy holding its bytes), one over-sized REST answer and a schema
extraction stuck on the same link, ``/healthz``, listing and reading sources and
``/query`` on a healthy source all answer, before the stuck calls end. One source
cannot take every worker thread: past its share, calls to it are refused at once
(``data_source_disconnected``, 503, ``Retry-After``)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from nlquery import Engine
from nlquery.service import Settings, create_app
from tests.faults.harness import FaultProxy, JsonServer, LiveServer

TOKEN = "fault-token"
TIMEOUT_S = 6.0  # the stuck calls end by this deadline
STUCK_CALLS = 48  # more than anyio's 40 worker threads

ITEMS = json.dumps([{"id": i, "name": f"item {i}"} for i in range(3)]).encode()
HUGE = b"[" + b",".join(b'{"id": %d, "pad": "%s"}' % (i, b"x" * 200) for i in range(60_000)) + b"]"  # ~13 MB


def _client(base: str, timeout: float = 30) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=timeout)


def rest_source(name: str, port: int, path: str) -> dict:
    return {"name": name, "type": "rest_api",
            "connection": {"base_url": f"http://127.0.0.1:{port}",
                           "endpoints": {"items": {"path": path, "cache_ttl_s": 0}}}}


def test_a_stalled_rest_upstream_and_a_stuck_extraction_leave_the_rest_of_the_api_answering(shop_path):
    engine = Engine(timeout_s=TIMEOUT_S)
    app = create_app(engine, Settings(tokens=TOKEN, redis_url=None, query_limit=10**6, global_limit=10**6))
    with JsonServer({"/items": ITEMS, "/huge": HUGE}) as upstream, LiveServer(app) as base, \
            _client(base) as client:
        proxy = FaultProxy(upstream)
        try:
            for body in (rest_source("slow", proxy.port, "/items"), rest_source("huge", upstream, "/huge"),
                         {"name": "shop", "type": "sqlite", "connection": {"database": str(shop_path)}}):
                created = client.post("/api/v1/data-sources", json=body)
                assert created.status_code == 201, created.text
            items = {"query": "SELECT COUNT(*) AS n FROM items"}
            assert client.post("/api/v1/data-sources/slow/query", json=items).json()["data"]["rows"] == [[3]]
            proxy.set("stall")  # from now on every call to "slow" waits for bytes that never come

            stuck: list[tuple[int, dict, float, str | None]] = []
            lock = threading.Lock()

            def call_stuck(_):
                with _client(base) as own:
                    response = own.post("/api/v1/data-sources/slow/query", json=items)
                with lock:
                    stuck.append((response.status_code, response.json(), time.monotonic(),
                                  response.headers.get("Retry-After")))

            with ThreadPoolExecutor(STUCK_CALLS + 1) as pool:
                futures = [pool.submit(call_stuck, i) for i in range(STUCK_CALLS)]
                huge = pool.submit(lambda: _client(base).post("/api/v1/data-sources/huge/query", json=items))
                time.sleep(0.5)
                refresh = client.post("/api/v1/data-sources/slow/refresh-schema")  # its extraction stalls too
                time.sleep(1.5)  # every stuck call is in (or refused); the extraction is waiting
                others = {
                    "healthz": client.get("/healthz"),
                    "list": client.get("/api/v1/data-sources"),
                    "get": client.get("/api/v1/data-sources/shop"),
                    "query": client.post("/api/v1/data-sources/shop/query",
                                         json={"query": "SELECT COUNT(*) AS n FROM customers"}),
                    "readyz": client.get("/readyz"),
                }
                answered = time.monotonic()
                for future in futures:
                    future.result(timeout=TIMEOUT_S + 30)
                huge_response = huge.result(timeout=60)
        finally:
            proxy.close()
        assert refresh.status_code == 202, refresh.text
        assert {name: r.status_code for name, r in others.items()} == {name: 200 for name in others}, \
            {name: r.text[:200] for name, r in others.items() if r.status_code != 200}
        assert others["query"].json()["data"]["rows"][0][0] > 0
        # They answered while the stuck calls were still waiting on the upstream.
        waited = [at for status, _, at, _ in stuck if status != 503]
        assert waited and answered < min(waited), "other requests waited for the stuck ones"
        # The stuck calls end by their deadline; those past the source's share were refused at once.
        outcomes = {(status, body["error"]["code"]) for status, body, _, _ in stuck}
        assert outcomes <= {(400, "query_timeout"), (503, "data_source_disconnected")}, outcomes
        refused = [retry for status, _, _, retry in stuck if status == 503]
        assert refused and all(retry and int(retry) >= 1 for retry in refused)
        assert huge_response.status_code == 413, huge_response.text[:300]
        assert huge_response.json()["error"]["code"] == "result_too_large"


def test_a_full_bulkhead_queues_callers_while_calls_end_and_refuses_them_once_none_does():
    from nlquery.breaker import Bulkhead, SourceBusy

    bulkhead = Bulkhead(limit=2, stall_s=0.5)
    # A busy, healthy source: 12 callers through 2 slots, each call short; nobody refused.
    def short_call(_):
        bulkhead.enter()
        try:
            time.sleep(0.05)
        finally:
            bulkhead.leave()

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(short_call, range(12)))
    assert bulkhead.refused == 0 and bulkhead.in_flight == 0
    # A stuck source: both slots held, nothing ends -> a newcomer is refused within the stall window.
    bulkhead.enter(), bulkhead.enter()
    started = time.monotonic()
    try:
        bulkhead.enter()
    except SourceBusy as exc:
        assert exc.code == "data_source_disconnected" and exc.http_status == 503 and exc.retry_after == 1
    else:
        raise AssertionError("a call was let into a full, stuck source")
    assert time.monotonic() - started < 0.5 + 1.0
    started = time.monotonic()  # the next one is refused at once: the source is known stuck
    try:
        bulkhead.enter()
    except SourceBusy:
        pass
    assert time.monotonic() - started < 0.2
    bulkhead.leave()  # a call ends: room again
    bulkhead.enter()
    assert bulkhead.in_flight == 2


@pytest.mark.parametrize("fault", ["reset", "drop", "blackhole"])
def test_a_broken_link_to_a_rest_upstream_ends_on_time_and_heals(shop_path, fault):
    engine = Engine(timeout_s=2.0)
    app = create_app(engine, Settings(tokens=TOKEN, redis_url=None, query_limit=10**6, global_limit=10**6))
    with JsonServer({"/items": ITEMS}) as upstream, LiveServer(app) as base, _client(base) as client:
        proxy = FaultProxy(upstream)
        try:
            assert client.post("/api/v1/data-sources", json=rest_source("api", proxy.port, "/items")).status_code == 201
            path, items = "/api/v1/data-sources/api/query", {"query": "SELECT COUNT(*) AS n FROM items"}
            assert client.post(path, json=items).status_code == 200
            deadline = time.monotonic() + 30
            while client.get("/api/v1/data-sources/api").json()["data"]["schema_status"] != "ready":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            proxy.set(fault)
            # An extraction on the broken link holds the source's fetch lock (a longer deadline
            # than a query's): the query still ends by its own deadline.
            assert client.post("/api/v1/data-sources/api/refresh-schema").status_code == 202
            time.sleep(0.3)
            started = time.monotonic()
            broken = client.post(path, json=items)
            elapsed = time.monotonic() - started
            proxy.set("drop")  # the blackholed connections end (the extraction's too)
            proxy.set("pass")
            time.sleep(1.1)  # a breaker's back-off, should it have opened
            healed = client.post(path, json=items)
        finally:
            proxy.close()
    assert elapsed < 2.0 + 1.0, f"{fault}: {elapsed:.2f} s"
    expected = {"reset": "data_source_disconnected", "drop": "data_source_disconnected",
                "blackhole": "query_timeout"}[fault]
    assert broken.json()["error"]["code"] == expected, broken.text
    assert broken.status_code == (503 if expected == "data_source_disconnected" else 400)
    assert healed.status_code == 200, healed.text
