"""The default SQLite catalog under ``nlquery serve --workers 4``: many clients writing at
once (registering, updating, refreshing, mapping patches, tool-call results, audit
records of every request) through four processes sharing one file. No ``database is
locked`` and no 5xx reaches a caller; every write lands."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from nlquery import Engine
from tests.faults.serving import Served, tool_call

CLIENTS = 12
ROUNDS = int(__import__("os").environ.get("NLQ_ROUNDS", 6))


def test_concurrent_writes_through_four_workers_never_surface_a_locked_catalog(nlquery_home, shop_path):
    problems: list[tuple[str, int, str]] = []
    ok: list[str] = []
    lock = threading.Lock()

    def check(what: str, response, *expected: int) -> dict:
        body = response.text
        with lock:
            if response.status_code not in expected or "locked" in body.lower():
                problems.append((what, response.status_code, body[:300]))
            else:
                ok.append(what)
        return response.json() if response.headers.get("content-type", "").startswith("application/json") else {}

    with Served(workers=4) as served:
        with served.client() as client:  # a source every client reads and annotates
            check("add shop", client.post("/api/v1/data-sources", json={
                "name": "shop", "type": "sqlite", "connection": {"database": str(shop_path)}}), 201)

        def work(worker: int) -> None:
            with served.client(timeout=60) as client:
                for round_ in range(ROUNDS):  # bounded
                    name = f"s{worker}_{round_}"
                    created = check("create", client.post("/api/v1/data-sources", json={
                        "name": name, "type": "sqlite", "connection": {"database": str(shop_path)},
                        "description": "first"}), 201)
                    source = (created.get("data") or {}).get("id", name)
                    check("update", client.put(f"/api/v1/data-sources/{source}",
                                               json={"description": f"round {round_}"}), 200)
                    check("refresh", client.post(f"/api/v1/data-sources/{source}/refresh-schema"), 202)
                    check("mappings", client.patch("/api/v1/data-sources/shop/semantic-mappings", json={
                        "mappings": {"customers": {"description": f"buyers {worker}.{round_}",
                                                   "synonyms": [f"client{worker}"]}}}), 200)
                    check("tool call", tool_call(client, {"data_source": "shop",
                                                          "sql": "SELECT COUNT(*) AS n FROM customers"},
                                                 f"exec_{worker}_{round_}"), 200)
                    check("query", client.post("/api/v1/data-sources/shop/query",
                                               json={"query": "SELECT 1 AS one"}), 200)
                    check("list", client.get("/api/v1/data-sources"), 200)
                    if round_ % 2:
                        check("delete", client.delete(f"/api/v1/data-sources/{source}"), 200)

        with ThreadPoolExecutor(CLIENTS) as pool:
            for future in [pool.submit(work, i) for i in range(CLIENTS)]:
                future.result(timeout=300)
        with served.client() as client:  # the background refreshes end (ready), none stuck
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                listed = client.get("/api/v1/data-sources").json()["data"]["data_sources"]
                if all(s["schema_status"] != "extracting" for s in listed):
                    break
                time.sleep(0.2)
        output = served.output()
    assert not problems, problems[:10]
    assert "database is locked" not in output, output[-3000:]
    assert len(ok) == 1 + CLIENTS * ROUNDS * 7 + CLIENTS * (ROUNDS // 2)
    with Engine() as engine:  # every write landed, audit records included (flushed on shutdown)
        kept = {s["name"]: s for s in engine.list_sources()}
        assert set(kept) == {"shop"} | {f"s{w}_{r}" for w in range(CLIENTS) for r in range(0, ROUNDS, 2)}
        assert all(s["schema_status"] == "ready" and s["description"].startswith("round") for n, s in kept.items()
                   if n != "shop"), [s for s in kept.values() if s["schema_status"] != "ready"]
        assert all(engine.stored_tool_result(f"exec_{w}_{r}") for w in range(CLIENTS) for r in range(ROUNDS))
        records, cursor = [], None
        for _ in range(100):  # bounded pages
            page = engine.audit_log(limit=1000, cursor=cursor)
            records += page["records"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len([r for r in records if r["channel"] in ("http", "callback")]) >= len(ok)


OPEN_AT_ONCE = """
import sys, time
from pathlib import Path
start = float(sys.argv[2])
from nlquery.catalog import Catalog
while time.time() < start:
    time.sleep(0.001)
try:
    catalog = Catalog(Path(sys.argv[1]))
    catalog.list_sources()
    catalog.close()
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
    sys.exit(1)
"""


def test_processes_creating_a_new_catalog_at_once_all_open_it(tmp_path):
    """What ``serve --workers 4`` does on a fresh NLQUERY_HOME: every worker opens (and
    would create) the catalog at the same moment. One upgrades, the others wait for it."""
    for round_ in range(3):  # the race is narrow: a few fresh catalogs
        home = tmp_path / f"home{round_}"
        start = time.time() + 2.0  # after every interpreter has imported nlquery
        processes = [subprocess.Popen([sys.executable, "-c", OPEN_AT_ONCE, str(home), str(start)],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                     for _ in range(6)]
        outputs = [(p.wait(timeout=60), p.stdout.read()) for p in processes]
        assert all(code == 0 for code, _ in outputs), [out for code, out in outputs if code]
