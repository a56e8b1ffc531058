"""HTTP overhead: ``POST /query`` through a real uvicorn process vs ``Engine.query``
in this process, same source, same one-row query, same run."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click
import httpx

from benchmarks.harness import report
from benchmarks.scratch import admin_connection, scratch_database
from nlquery import Engine
from nlquery.demo import demo_database
from nlquery.shop import generate_shop, load_shop

TOKEN = "bench-token"
QUERY = {"query": "SELECT name FROM customers WHERE id = $1", "parameters": [7]}


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def _run_http(base: str, source_id: str, clients: int, requests: int, seconds: float | None) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    per_client = max(1, requests // clients)
    deadline = time.monotonic() + seconds if seconds else None

    def worker(_: int) -> None:
        nonlocal errors
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
            sent = 0
            while (time.monotonic() < deadline) if deadline else sent < per_client:
                sent += 1
                started = time.perf_counter()
                try:
                    response = client.post(f"/api/v1/data-sources/{source_id}/query", json=QUERY)
                    errors += response.status_code != 200
                except httpx.HTTPError:
                    errors += 1  # a lost request counts as an error
                latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(worker, range(clients)))
    elapsed = time.perf_counter() - started
    return {"requests": len(latencies), "errors": errors, "req_per_s": len(latencies) / elapsed,
            "p50_ms": statistics.median(latencies), "p99_ms": _percentile(latencies, 0.99)}


def _run_direct(engine: Engine, name: str, requests: int) -> dict[str, Any]:
    latencies = []
    for _ in range(requests):
        started = time.perf_counter()
        engine.query(name, QUERY["query"], QUERY["parameters"])
        latencies.append((time.perf_counter() - started) * 1000)
    return {"requests": requests, "errors": 0, "req_per_s": 1000 / statistics.mean(latencies),
            "p50_ms": statistics.median(latencies), "p99_ms": _percentile(latencies, 0.99)}


@click.command()
@click.option("--requests", "count", type=click.IntRange(min=10), default=2000, show_default=True,
              help="Requests per concurrency level.")
@click.option("--seconds", type=click.FloatRange(min=1), default=None,
              help="Run each concurrency level for this long instead of a fixed request count.")
@click.option("--postgres/--no-postgres", default=True, show_default=True,
              help="Also measure the demo shop loaded into a scratch PostgreSQL database.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def main(count: int, seconds: float | None, postgres: bool, as_json: bool) -> None:
    """/query requests/s and p50/p99 at 1, 8, 32 clients vs direct Engine.query."""
    with contextlib.ExitStack() as stack:
        postgres_url = None
        if postgres:
            postgres_url = stack.enter_context(scratch_database("postgresql"))
            conn = admin_connection("postgresql", postgres_url)
            load_shop(conn, "postgres", "format", generate_shop())
            conn.close()
        _measure(count, seconds, postgres_url, as_json)


def _measure(count: int, seconds: float | None, postgres_url: str | None, as_json: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        # Sources are registered over HTTP: the operator lets them reach this machine.
        env = {**os.environ, "NLQUERY_HOME": str(home), "NLQUERY_API_TOKENS": TOKEN,
               "NLQUERY_RATE_LIMIT_QUERIES": "100000000", "NLQUERY_RATE_LIMIT_GLOBAL": "100000000",
               "NLQUERY_DATA_DIRS": str(home), "NLQUERY_EGRESS_ALLOW": "127.0.0.1,::1,localhost"}
        os.environ["NLQUERY_HOME"] = str(home)
        os.environ["NLQUERY_EGRESS_ALLOW"] = env["NLQUERY_EGRESS_ALLOW"]  # the direct peer opens the same sources
        shop, _ = demo_database()
        sources = {"sqlite": {"url": f"sqlite:///{shop}"}}
        if postgres_url:
            sources["postgresql"] = {"url": postgres_url}
        port = _port()
        server = subprocess.Popen([sys.executable, "-m", "nlquery.cli", "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        rows = []
        try:
            for _ in range(100):
                try:
                    httpx.get(f"{base}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            with Engine(home=home) as engine:
                for name, connection in sources.items():
                    created = httpx.post(f"{base}/api/v1/data-sources", json={
                        "name": name, "type": name, "connection": connection},
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60).json()["data"]
                    for _ in range(600):  # measure only once the background extraction is done
                        status = httpx.get(f"{base}/api/v1/data-sources/{created['id']}", timeout=10,
                                           headers={"Authorization": f"Bearer {TOKEN}"}).json()["data"]
                        if status["schema_status"] != "extracting":
                            break
                        time.sleep(0.1)
                    direct = _run_direct(engine, name, count)
                    rows.append({"source": name, "mode": "Engine.query (direct)", "clients": 1, **direct})
                    for clients in (1, 8, 32):
                        result = _run_http(base, created["id"], clients, count, seconds)
                        result["overhead_p50_ms"] = result["p50_ms"] - direct["p50_ms"]
                        rows.append({"source": name, "mode": "HTTP /query", "clients": clients, **result})
                        print(f"  {name}: {clients} clients done", file=sys.stderr)
        finally:
            server.terminate()
            server.wait(timeout=10)
    report("HTTP /query vs Engine.query (one-row result)", rows,
           ["source", "mode", "clients", "requests", "errors", "req_per_s", "p50_ms", "p99_ms", "overhead_p50_ms"],
           as_json=as_json)
