"""Audit overhead: ``POST /query`` p50 through a real uvicorn process with the audit trail
on vs ``NLQUERY_AUDIT=off``, same source, same one-row query, same run (alternating
rounds so drift on a shared machine hits both); and the audit records written vs sent."""

from __future__ import annotations

import os
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
from benchmarks.http import TOKEN, _port, _run_http
from nlquery import Engine
from nlquery.demo import demo_database


def _serve(home: Path, audit: bool) -> tuple[subprocess.Popen, str]:
    port = _port()
    env = {**os.environ, "NLQUERY_HOME": str(home), "NLQUERY_API_TOKENS": TOKEN,
           "NLQUERY_AUDIT": "on" if audit else "off",
           "NLQUERY_RATE_LIMIT_QUERIES": "100000000", "NLQUERY_RATE_LIMIT_GLOBAL": "100000000"}
    server = subprocess.Popen([sys.executable, "-m", "nlquery.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    return server, base


@click.command()
@click.option("--requests", "count", type=click.IntRange(min=10), default=1000, show_default=True,
              help="Requests per round and mode.")
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--clients", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def main(count: int, rounds: int, clients: int, as_json: bool) -> None:
    """/query p50 with and without the audit trail (ratio), and records written."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["NLQUERY_HOME"] = str(home)
        shop, _ = demo_database()
        with Engine(home=home) as engine:
            source_id = engine.add_source("shop", type="sqlite", connection={"url": f"sqlite:///{shop}"})["id"]
        samples: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
        sent = 0  # requests to the audited server, warm-up included
        for _ in range(rounds):
            for audit in (False, True):
                server, base = _serve(home, audit)
                try:
                    warm = _run_http(base, source_id, clients, min(100, count), None)
                    samples[audit].append(_run_http(base, source_id, clients, count, None))
                    if audit:
                        sent += warm["requests"] + samples[audit][-1]["requests"]
                finally:
                    server.terminate()
                    server.wait(timeout=30)
        with Engine(home=home) as engine:
            os.environ["NLQUERY_AUDIT"] = "off"  # reading the trail adds nothing to it
            written = 0
            after = 0
            while True:
                batch = engine.audit_log(after=after, limit=1000, source=source_id)["records"]
                written += sum(r["action"] == "query" for r in batch)
                if len(batch) < 1000:
                    break
                after = batch[-1]["id"]
    rows = []
    for audit in (False, True):
        p50 = statistics.median(s["p50_ms"] for s in samples[audit])
        rows.append({"mode": "audit on" if audit else "audit off", "clients": clients,
                     "requests": sum(s["requests"] for s in samples[audit]),
                     "errors": sum(s["errors"] for s in samples[audit]), "p50_ms": p50,
                     "p99_ms": statistics.median(s["p99_ms"] for s in samples[audit]),
                     "req_per_s": statistics.median(s["req_per_s"] for s in samples[audit])})
    rows[1]["p50_ratio"] = rows[1]["p50_ms"] / rows[0]["p50_ms"]
    rows[1]["records_written"] = f"{written}/{sent}"
    report("POST /query with and without the audit trail (one-row result)", rows,
           ["mode", "clients", "requests", "errors", "p50_ms", "p99_ms", "req_per_s", "p50_ratio",
            "records_written"], as_json=as_json)
