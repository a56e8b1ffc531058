"""SIGTERM with schema extractions queued: those running finish, the queued ones stay
``extracting`` in the catalog and run again when the service starts next, to ``ready``."""

from __future__ import annotations

import json
import time

from nlquery import Engine
from tests.faults.harness import FaultProxy, JsonServer
from tests.faults.serving import Served

SOURCES = 8  # twice the service's 4 extraction workers: half of them wait in the queue
ITEMS = json.dumps([{"id": i, "name": f"item {i}"} for i in range(3)]).encode()


def statuses() -> dict[str, str]:
    with Engine() as engine:
        return {s["name"]: s["schema_status"] for s in engine.list_sources()}


def test_queued_extractions_resume_after_a_restart(nlquery_home):
    with JsonServer({"/items": ITEMS}) as upstream:
        proxy = FaultProxy(upstream)
        try:
            served = Served(workers=1).start()
            try:
                with served.client() as client:
                    for i in range(SOURCES):
                        created = client.post("/api/v1/data-sources", json={
                            "name": f"api{i}", "type": "rest_api",
                            "connection": {"base_url": f"http://127.0.0.1:{proxy.port}",
                                           "endpoints": {"items": {"path": "/items", "cache_ttl_s": 0}}}})
                        assert created.status_code == 201, created.text
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline and set(statuses().values()) != {"ready"}:
                        time.sleep(0.2)
                    assert set(statuses().values()) == {"ready"}
                    proxy.set("latency", latency_s=1.0)  # each extraction now takes a few seconds
                    for i in range(SOURCES):
                        refreshed = client.post(f"/api/v1/data-sources/api{i}/refresh-schema")
                        assert refreshed.status_code == 202, refreshed.text
                served.terminate()
                assert served.process.wait(timeout=60) is not None
            finally:
                served.stop()
                served.log.unlink(missing_ok=True)
            left = statuses()
            waiting = sorted(name for name, status in left.items() if status == "extracting")
            assert waiting, f"no extraction was still queued at SIGTERM: {left}"
            assert set(left.values()) <= {"ready", "extracting"}, left  # the running ones finished
            proxy.set("pass")
            with Served(workers=1) as again:  # the restart resumes them
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and set(statuses().values()) != {"ready"}:
                    time.sleep(0.2)
                with again.client() as client:
                    listed = client.get("/api/v1/data-sources").json()["data"]["data_sources"]
                output = again.output()
            assert {s["name"]: s["schema_status"] for s in listed} == {f"api{i}": "ready" for i in range(SOURCES)}
            assert "extraction_failed" not in output, output[-2000:]
        finally:
            proxy.close()
