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


def _server_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` (every thread), from /proc; None elsewhere."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _load(base: str, source_id: str, clients: int, requests: int, seconds: float | None,
          cpus: set[int] | None) -> dict[str, Any]:
    """The load generator, run in its own process (see :func:`_run_http`): ``clients``
    threads, each with one keep-alive ``http.client`` connection (a thin client, so its
    own cost stays small), each sending its share of one-row ``POST /query`` requests."""
    import http.client
    import json
    import threading
    from urllib.parse import urlsplit

    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)
    url = urlsplit(base)
    body = json.dumps(QUERY).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    path = f"/api/v1/data-sources/{source_id}/query"
    per_client = max(1, requests // clients)
    deadline = time.monotonic() + seconds if seconds else None
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)

    def worker(index: int) -> None:
        own = latencies[index]
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        start.wait()
        sent = 0
        while (time.monotonic() < deadline) if deadline else sent < per_client:
            sent += 1
            started = time.perf_counter()
            try:
                connection.request("POST", path, body, headers)
                response = connection.getresponse()
                response.read()
                errors[index] += response.status != 200
            except (OSError, http.client.HTTPException):
                errors[index] += 1  # a lost request counts as an error
                connection.close()
                connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            own.append((time.perf_counter() - started) * 1000)
        connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    cpu_before = os.times()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu_after = os.times()
    return {"latencies": [x for own in latencies for x in own], "errors": sum(errors), "elapsed_s": elapsed,
            "client_cpu_s": (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)}


def _run_http(base: str, source_id: str, clients: int, requests: int, seconds: float | None, *,
              server_pid: int | None = None, client_cpus: set[int] | None = None) -> dict[str, Any]:
    """``clients`` concurrent callers of ``POST /query``, generated in a separate process
    (spawned: a fresh interpreter, none of this process's threads), optionally pinned to
    ``client_cpus``; with ``server_pid``, the server's CPU time over the run too."""
    import multiprocessing

    server_before = _server_cpu_s(server_pid)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        measured = pool.apply(_load, (base, source_id, clients, requests, seconds, client_cpus))
    server_after = _server_cpu_s(server_pid)
    latencies = measured["latencies"]
    result = {"requests": len(latencies), "errors": measured["errors"],
              "req_per_s": len(latencies) / measured["elapsed_s"],
              "p50_ms": statistics.median(latencies), "p99_ms": _percentile(latencies, 0.99),
              "client_cpu_ms_per_req": measured["client_cpu_s"] * 1000 / len(latencies)}
    if server_before is not None and server_after is not None:
        result["server_cpu_ms_per_req"] = (server_after - server_before) * 1000 / len(latencies)
    return result


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
@click.option("--pin/--no-pin", default=True, show_default=True,
              help="Pin the server to CPU 0 and the load generator to CPU 1 (when there are 2+ CPUs).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def main(count: int, seconds: float | None, postgres: bool, pin: bool, as_json: bool) -> None:
    """/query requests/s and p50/p99 at 1, 8, 32 clients vs direct Engine.query."""
    with contextlib.ExitStack() as stack:
        postgres_url = None
        if postgres:
            postgres_url = stack.enter_context(scratch_database("postgresql"))
            conn = admin_connection("postgresql", postgres_url)
            load_shop(conn, "postgres", "format", generate_shop())
            conn.close()
        _measure(count, seconds, postgres_url, pin, as_json)


def _server_stack() -> str:
    """The event loop and HTTP parser uvicorn picks here (``auto``: uvloop, httptools when installed)."""
    import importlib.util

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"{loop} + {parser}"


def _measure(count: int, seconds: float | None, postgres_url: str | None, pin: bool, as_json: bool) -> None:
    pinned = pin and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
    cpus = sorted(os.sched_getaffinity(0)) if pinned else []
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
        if pinned:
            os.sched_setaffinity(server.pid, {cpus[0]})  # its threads start later and inherit it
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
                        result = _run_http(base, created["id"], clients, count, seconds, server_pid=server.pid,
                                           client_cpus={cpus[1]} if pinned else None)
                        result["overhead_p50_ms"] = result["p50_ms"] - direct["p50_ms"]
                        rows.append({"source": name, "mode": "HTTP /query", "clients": clients, **result})
                        print(f"  {name}: {clients} clients done", file=sys.stderr)
        finally:
            server.terminate()
            server.wait(timeout=10)
    placement = (f"server pinned to CPU {cpus[0]}, load generator (own process) to CPU {cpus[1]}" if pinned
                 else "load generator in its own process, unpinned")
    report(f"HTTP /query vs Engine.query (one-row result; server {_server_stack()}; {placement}; "
           f"load average {os.getloadavg()[0]:.1f})", rows,
           ["source", "mode", "clients", "requests", "errors", "req_per_s", "p50_ms", "p99_ms", "overhead_p50_ms",
            "client_cpu_ms_per_req", "server_cpu_ms_per_req"],
           as_json=as_json)
