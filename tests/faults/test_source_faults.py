"""Source databases that die, stall or vanish, against real scratch servers: every call
ends on time with ``data_source_disconnected``, never a hang, never a 500, and the first
query after the source comes back succeeds."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from nlquery import Engine
from nlquery.errors import NLQueryError
from nlquery.service import Settings, create_app
from tests.faults.harness import LiveServer

TIMEOUT_S = 2.0
GRACE_S = 1.0  # the bound: no call waits past its timeout + 1 s
EXTRACTION_TIMEOUT_S = 3
ONE_ROW = "SELECT name FROM customers WHERE id = $1"
TOKEN = "fault-token"


def with_port(url: str, port: int) -> str:
    head, _, tail = url.rpartition(":")
    return f"{head}:{port}/{tail.split('/', 1)[1]}"


def call_bounded(fn, *args, limit_s: float):
    """Run ``fn`` in a thread; (returned in time, result or NLQueryError). A call still
    running after ``limit_s`` is the failure this file is about."""
    box: dict = {}

    def run():
        started = time.monotonic()
        try:
            box["value"] = fn(*args)
        except NLQueryError as exc:
            box["value"] = exc
        box["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit_s)
    return not thread.is_alive(), box.get("value"), box.get("elapsed")


@pytest.fixture(params=["postgresql", "mysql"])
def source_server(request):
    """(kind, server, shop URL) on a scratch server of each kind."""
    if request.param == "postgresql":
        server = request.getfixturevalue("scratch_pg")
        return request.param, server, request.getfixturevalue("pg_shop")
    server = request.getfixturevalue("scratch_maria")
    return request.param, server, request.getfixturevalue("maria_shop")


def test_a_blackholed_link_ends_every_call_within_its_timeout(source_server, proxy_to):
    kind, server, url = source_server
    proxy = proxy_to(server.port)
    with Engine(timeout_s=TIMEOUT_S) as engine:
        engine.add_source("shop", type=kind, connection={"url": with_port(url, proxy.port)})
        assert engine.query("shop", ONE_ROW, [7]).rows == [["customer 7"]]  # connected through the proxy
        proxy.set("blackhole")  # the open connection: bytes vanish, nothing answers
        with ThreadPoolExecutor(4) as pool:
            outcomes = list(pool.map(lambda _: call_bounded(engine.query, "shop", ONE_ROW, [7],
                                                            limit_s=TIMEOUT_S + GRACE_S), range(4)))
        for returned, value, _ in outcomes:
            assert returned, "a query was still waiting past its timeout + 1 s"
            assert isinstance(value, NLQueryError) and value.code == "data_source_disconnected", value
        # A new connection into the blackhole (accepted, never answered): the connect ends too.
        returned, value, _ = call_bounded(engine.query, "shop", ONE_ROW, [7], limit_s=TIMEOUT_S + GRACE_S)
        assert returned and getattr(value, "code", None) == "data_source_disconnected", value
        proxy.set("pass")
        time.sleep(1.1)  # the breaker's back-off
        assert engine.query("shop", ONE_ROW, [8]).rows == [["customer 8"]]


def test_an_extraction_over_a_blackholed_link_ends_in_error_by_its_own_bound(source_server, proxy_to, monkeypatch):
    kind, server, url = source_server
    proxy = proxy_to(server.port)
    monkeypatch.setenv("NLQUERY_EXTRACTION_TIMEOUT_S", str(EXTRACTION_TIMEOUT_S))
    with Engine(timeout_s=TIMEOUT_S) as engine:
        engine.add_source("shop", type=kind, connection={"url": with_port(url, proxy.port)})
        assert engine.get_source("shop")["schema_status"] == "ready"  # extracted through the proxy
        proxy.set("blackhole")  # the pooled connection: bytes vanish, nothing answers
        assert engine.refresh_schema_later("shop")["schema_status"] == "extracting"  # a background worker has it
        deadline = time.monotonic() + EXTRACTION_TIMEOUT_S + 30  # bounded: the failure is waiting forever
        while engine.get_source("shop")["schema_status"] == "extracting" and time.monotonic() < deadline:
            time.sleep(0.1)
        source = engine.get_source("shop")
        assert source["schema_status"] == "error", source
        assert "no answer from the source within the 3 s timeout of the schema extraction" in source["schema_error"]
        proxy.set("drop")
        proxy.set("pass")
        engine.refresh_schema("shop")  # the link is back: the next extraction succeeds
        assert engine.get_source("shop")["schema_status"] == "ready"


def test_a_stalled_then_released_link_is_a_timeout_not_a_hang(scratch_pg, pg_shop, proxy_to):
    proxy = proxy_to(scratch_pg.port)
    with Engine(timeout_s=TIMEOUT_S) as engine:
        engine.add_source("shop", type="postgresql", connection={"url": with_port(pg_shop, proxy.port)})
        proxy.set("latency", latency_s=0.05)
        assert engine.query("shop", ONE_ROW, [3]).rows == [["customer 3"]]
        proxy.set("stall")
        returned, value, _ = call_bounded(engine.query, "shop", ONE_ROW, [3], limit_s=TIMEOUT_S + GRACE_S)
        assert returned and getattr(value, "code", None) == "data_source_disconnected", value
        proxy.set("pass")
        assert engine.query("shop", ONE_ROW, [4]).rows == [["customer 4"]]


def test_an_idle_connection_killed_with_its_server_is_replaced_silently(source_server):
    kind, server, url = source_server
    with Engine(timeout_s=TIMEOUT_S) as engine:
        engine.add_source("shop", type=kind, connection={"url": url})
        assert engine.query("shop", ONE_ROW, [1]).rows == [["customer 1"]]
        server.crash()
        server.start()
        # The pooled connection died while idle: no stale-connection error reaches the caller.
        assert engine.query("shop", ONE_ROW, [2]).rows == [["customer 2"]]


def test_reset_connections_are_disconnections_and_the_next_call_reconnects(scratch_pg, pg_shop, proxy_to):
    proxy = proxy_to(scratch_pg.port)
    with Engine(timeout_s=TIMEOUT_S) as engine:
        engine.add_source("shop", type="postgresql", connection={"url": with_port(pg_shop, proxy.port)})
        assert engine.query("shop", ONE_ROW, [5]).rows == [["customer 5"]]
        proxy.set("reset")
        proxy.set("pass")  # the open connection was reset while idle; new ones go through
        time.sleep(0.3)  # the proxy's RST reaches the idle socket (a reset racing a query is a disconnection)
        assert engine.query("shop", ONE_ROW, [6]).rows == [["customer 6"]]


def _client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=TIMEOUT_S + 10)


def test_kill_9_mid_load_then_restart_over_http(scratch_pg, pg_shop):
    engine = Engine(timeout_s=TIMEOUT_S)
    app = create_app(engine, Settings(tokens=TOKEN, redis_url=None, query_limit=10**6, global_limit=10**6))
    with LiveServer(app) as base, _client(base) as client:
        source = client.post("/api/v1/data-sources", json={"name": "shop", "type": "postgresql",
                                                           "connection": {"url": pg_shop}}).json()["data"]
        path = f"/api/v1/data-sources/{source['id']}/query"
        stop = time.monotonic() + 6
        results: list[tuple[float, int, str | None, float]] = []  # (sent at, status, code, seconds)
        lock = threading.Lock()

        def load(_):
            with _client(base) as own:
                for _ in range(10_000):  # bounded: ends at ``stop`` long before
                    if time.monotonic() > stop:
                        return
                    sent = time.monotonic()
                    response = own.post(path, json={"query": ONE_ROW, "parameters": [9]})
                    code = response.json().get("error", {}).get("code") if response.status_code != 200 else None
                    with lock:
                        results.append((sent, response.status_code, code, time.monotonic() - sent))

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(load, i) for i in range(8)]
            time.sleep(1.5)
            scratch_pg.crash()
            crashed = time.monotonic()
            time.sleep(1.5)
            scratch_pg.start()
            restarted = time.monotonic()
            for future in futures:
                future.result(timeout=30)
        statuses = {status for _, status, _, _ in results}
        assert 500 not in statuses
        failures = [(status, code) for _, status, code, _ in results if status != 200]
        assert failures, "the crash was not seen"
        assert {code for _, code in failures} == {"data_source_disconnected"}, failures
        assert {status for status, _ in failures} == {503}  # the service cannot reach it: come back later
        assert all(seconds < TIMEOUT_S + GRACE_S for _, _, _, seconds in results)
        assert any(status == 200 and sent < crashed for sent, status, _, _ in results)
        # Recovered by itself: calls sent a breaker back-off after the restart all succeed.
        late = [status for sent, status, _, _ in results if sent > restarted + 1.5]
        assert late and set(late) == {200}, late
        assert client.get("/healthz").status_code == 200


def test_a_failing_source_fails_fast_with_retry_after_then_recovers(scratch_pg, pg_shop):
    engine = Engine(timeout_s=TIMEOUT_S)
    app = create_app(engine, Settings(tokens=TOKEN, redis_url=None, query_limit=10**6, global_limit=10**6))
    with LiveServer(app) as base, _client(base) as client:
        source = client.post("/api/v1/data-sources", json={"name": "shop", "type": "postgresql",
                                                           "connection": {"url": pg_shop}}).json()["data"]
        path = f"/api/v1/data-sources/{source['id']}/query"
        body = {"query": ONE_ROW, "parameters": [1]}
        assert client.post(path, json=body).status_code == 200
        scratch_pg.crash()
        seen = [client.post(path, json=body) for _ in range(3)]  # each one tries and fails
        assert [r.json()["error"]["code"] for r in seen] == ["data_source_disconnected"] * 3
        assert [r.status_code for r in seen] == [503] * 3 and all(int(r.headers["Retry-After"]) >= 1 for r in seen)
        refused = client.post(path, json=body)  # the breaker is open: refused without trying
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "data_source_disconnected"
        assert int(refused.headers["Retry-After"]) >= 1
        scratch_pg.start()
        time.sleep(int(refused.headers["Retry-After"]) + 0.1)
        recovered = client.post(path, json=body)  # the half-open probe
        assert recovered.status_code == 200, recovered.text
        assert client.post(path, json=body).status_code == 200
