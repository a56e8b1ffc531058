"""Faults of the service's own dependencies, with real servers: the PostgreSQL catalog
restarted, Redis (rate limits) down, the LLM endpoint stalled / failing / answering
garbage, and SIGTERM under load. Never a 500; each ends with its documented code and
recovers without restarting nlquery."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from nlquery import Engine
from nlquery.planner import LLMConfig
from nlquery.service import Settings, create_app
from tests.faults.harness import LiveServer, free_port, wait_for_port
from tests.planner.fake_llm import FakeLLM

TOKEN = "fault-token"
LIMITS = {"query_limit": 10**6, "global_limit": 10**6}


def client_for(base: str, timeout: float = 15) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=timeout)


def add_shop(client: httpx.Client, shop_path) -> str:
    response = client.post("/api/v1/data-sources", json={"name": "shop", "type": "sqlite",
                                                         "connection": {"database": str(shop_path)}})
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


def test_a_restarted_postgresql_catalog_is_503_meanwhile_and_recovers_by_itself(scratch_pg, shop_path):
    scratch_pg.execute('CREATE DATABASE "catalog"')
    engine = Engine(catalog_url=f"postgresql+psycopg://postgres@127.0.0.1:{scratch_pg.port}/catalog")
    app = create_app(engine, Settings(tokens=TOKEN, redis_url=None, **LIMITS))
    with LiveServer(app) as base, client_for(base) as client:
        source_id = add_shop(client, shop_path)
        assert client.get("/api/v1/data-sources").status_code == 200
        scratch_pg.crash()
        during = [client.get("/api/v1/data-sources"), client.get(f"/api/v1/data-sources/{source_id}"),
                  client.get("/readyz")]
        for response in during:
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "catalog_unavailable"
        assert client.get("/healthz").status_code == 200  # the process itself answers
        scratch_pg.start()
        # Recovery without restarting nlquery: the pool's dead connections are replaced.
        after = client.get("/api/v1/data-sources")
        assert after.status_code == 200, after.text
        assert [s["id"] for s in after.json()["data"]["data_sources"]] == [source_id]
        assert client.get("/readyz").status_code == 200


def test_redis_down_fails_open_to_per_process_limits_with_a_warning(shop_path, caplog):
    closed = free_port()  # nothing listens there: Redis is down
    engine = Engine()
    app = create_app(engine, Settings(tokens=TOKEN, redis_url=f"redis://127.0.0.1:{closed}/0",
                                      query_limit=3, global_limit=1000))
    with caplog.at_level(logging.WARNING, logger="nlquery.service"), LiveServer(app) as base, \
            client_for(base) as client:
        logging.getLogger("nlquery.service").propagate = True  # let caplog see the service's lines
        source_id = add_shop(client, shop_path)
        path = f"/api/v1/data-sources/{source_id}/query"
        statuses = [client.post(path, json={"query": "SELECT 1"}).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]  # the limit still holds, per process
    assert any("rate_limit_redis_unavailable" in record.getMessage() for record in caplog.records)


@pytest.fixture
def llm():
    server = FakeLLM()
    yield server
    server.close()


LLM_TIMEOUT_S = 2.0


@pytest.mark.parametrize("fault", ["stall", "http_500", "garbage_body", "not_a_completion"])
def test_a_failing_llm_is_llm_unavailable_within_its_timeout_and_other_routes_answer(llm, shop_path, fault):
    stalled = {"sleep": LLM_TIMEOUT_S + 3, "content": "late"}
    replies = {"stall": [stalled] * 3, "http_500": [{"status": 500}] * 3,
               "garbage_body": [{"raw": b"<html>\x00\xff garbage"}] * 3,
               "not_a_completion": [{"raw": b'{"unexpected": true}'}] * 3}[fault]
    llm.script(*replies)
    engine = Engine(llm=LLMConfig(base_url=llm.url, model="m", api_key="k", timeout_s=LLM_TIMEOUT_S,
                                  max_retries=2))
    app = create_app(engine, Settings(tokens=TOKEN, redis_url=None, **LIMITS))
    with LiveServer(app) as base, client_for(base, timeout=LLM_TIMEOUT_S + 10) as client:
        source_id = add_shop(client, shop_path)
        with ThreadPoolExecutor(2) as pool:
            asking = pool.submit(client.post, f"/api/v1/data-sources/{source_id}/ask",
                                 json={"question": "How many customers are there?", "planner": "llm"})
            time.sleep(0.2)
            # Meanwhile: other routes answer at once.
            other = client.post(f"/api/v1/data-sources/{source_id}/query", json={"query": "SELECT 1"})
            health = client.get("/healthz")
            done_before_llm = not asking.done() or fault != "stall"
            answer = asking.result(timeout=LLM_TIMEOUT_S + 5)
        assert other.status_code == 200 and health.status_code == 200 and done_before_llm
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "llm_unavailable"


def test_sigterm_under_load_lets_in_flight_requests_finish(nlquery_home, shop_path):
    port = free_port()
    env = {**os.environ, "NLQUERY_HOME": str(nlquery_home), "NLQUERY_API_TOKENS": TOKEN,
           "NLQUERY_RATE_LIMIT_QUERIES": "1000000", "NLQUERY_RATE_LIMIT_GLOBAL": "1000000"}
    server = subprocess.Popen([sys.executable, "-m", "nlquery.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 30)
        base = f"http://127.0.0.1:{port}"
        with client_for(base, timeout=30) as client:
            source_id = add_shop(client, shop_path)
            # ~1 s of work each: a join the guard accepts
            slow = {"query": "SELECT COUNT(*) FROM orders a, orders b WHERE a.id < 3000 AND b.id < 3000 "
                             "AND a.total_amount + b.total_amount > 0"}
            path = f"/api/v1/data-sources/{source_id}/query"
            warm = [client_for(base, timeout=30) for _ in range(4)]
            for own in warm:  # connections open before the load: the posts reach the server at once
                assert own.get("/healthz").status_code == 200

            def timed_post(own):
                response = own.post(path, json=slow)
                return response, time.monotonic()

            with ThreadPoolExecutor(4) as pool:
                in_flight = [pool.submit(timed_post, own) for own in warm]
                time.sleep(0.6)
                server.send_signal(signal.SIGTERM)
                terminated = time.monotonic()
                time.sleep(0.2)
                late = httpx.post(f"{base}{path}", json=slow, headers={"Authorization": f"Bearer {TOKEN}"},
                                  timeout=5)
                late_at = time.monotonic()
                finished = [future.result(timeout=30) for future in in_flight]
        assert [r.status_code for r, _ in finished] == [200] * 4, [r.text for r, _ in finished]
        assert any(at > terminated for _, at in finished), "no request was in flight at SIGTERM"
        # A new request while draining is turned away with 503 (not a refused connection), never half-served.
        assert late.status_code == 503 and late.json()["error"]["code"] == "shutting_down", late.text
        assert int(late.headers["Retry-After"]) >= 1
        assert late_at < max(at for _, at in finished)  # it was answered while requests were still in flight
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once drained
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
