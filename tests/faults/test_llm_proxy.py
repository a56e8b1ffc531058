"""The LLM endpoint behind a TCP fault proxy (the network between nlquery and the LLM, not
the LLM itself): a stalled link, a reset link and a blackhole each end ``/ask`` with
``llm_unavailable`` (503) within the LLM timeout + 1 s, the whole ``/ask`` included; the
next ``/ask`` after the link heals succeeds."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from nlquery import Engine
from nlquery.planner import LLMConfig
from nlquery.service import Settings, create_app
from tests.faults.harness import FaultProxy, LiveServer
from tests.planner.fake_llm import FakeLLM, sql_reply

TOKEN = "fault-token"
LLM_TIMEOUT_S = 2.0
GRACE_S = 1.0  # the bound: no request past its timeout + 1 s
QUESTION = {"question": "How many customers are there?", "planner": "llm"}


@pytest.fixture
def llm():
    server = FakeLLM()
    yield server
    server.close()


@pytest.mark.parametrize("fault", ["stall", "reset", "blackhole", "cold_stall"])
def test_a_faulty_link_to_the_llm_is_llm_unavailable_within_its_timeout(llm, shop_path, fault):
    port = int(llm.url.rsplit(":", 1)[1].split("/", 1)[0])
    proxy = FaultProxy(port)
    base_url = f"http://127.0.0.1:{proxy.port}/v1"
    engine = Engine(llm=LLMConfig(base_url=base_url, model="m", api_key="k", timeout_s=LLM_TIMEOUT_S,
                                  max_retries=2))
    app = create_app(engine, Settings(tokens=TOKEN, redis_url=None, query_limit=10**6, global_limit=10**6))
    try:
        with LiveServer(app) as base, httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"},
                                                   timeout=LLM_TIMEOUT_S + 20) as client:
            source = client.post("/api/v1/data-sources", json={"name": "shop", "type": "sqlite",
                                                               "connection": {"database": str(shop_path)}})
            assert source.status_code == 201, source.text
            path = "/api/v1/data-sources/shop/ask"
            if fault != "cold_stall":  # cold: the first /ask of the source meets the fault
                llm.script(sql_reply("SELECT COUNT(*) AS n FROM customers"))
                warm = client.post(path, json=QUESTION)  # through the proxy, healthy: schema read, prompt built
                assert warm.status_code == 200, warm.text
            llm.script(*[sql_reply("SELECT COUNT(*) AS n FROM customers")] * 6)
            if fault == "reset":
                proxy.set("reset")  # open connections reset, every new one too
            else:
                proxy.set(fault.removeprefix("cold_"))  # stall: bytes held; blackhole: accepted, never answered
            with ThreadPoolExecutor(1) as pool:
                started = time.monotonic()
                asking = pool.submit(client.post, path, json=QUESTION)
                time.sleep(0.2)
                other = client.post("/api/v1/data-sources/shop/query", json={"query": "SELECT 1"})
                answer = asking.result(timeout=LLM_TIMEOUT_S + 20)
                elapsed = time.monotonic() - started
            assert other.status_code == 200  # other routes keep answering
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"] == "llm_unavailable"
            assert elapsed < LLM_TIMEOUT_S + GRACE_S, f"/ask took {elapsed:.2f} s with a {LLM_TIMEOUT_S} s LLM timeout"
            proxy.set("pass")
            llm.script(sql_reply("SELECT COUNT(*) AS n FROM customers"))
            healed = client.post(path, json=QUESTION)
            assert healed.status_code == 200, healed.text
    finally:
        proxy.close()
