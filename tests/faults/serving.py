"""A real ``nlquery serve`` process for the fault tests: started on a free port with its own
environment, its stderr kept in a file (read after), stopped (SIGTERM, then kill) after."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from nlquery.service import tools
from tests.faults.harness import free_port

TOKEN = "fault-token"
SECRET = "fault-callback-secret"


class Served:
    """``nlquery serve --workers N`` as a subprocess (``with Served(...) as served:``)."""

    def __init__(self, *, workers: int = 1, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.workers, self.port = workers, port or free_port()
        self.env = {**os.environ, "NLQUERY_API_TOKENS": TOKEN, "NLQUERY_CALLBACK_SECRET": SECRET,
                    "NLQUERY_RATE_LIMIT_QUERIES": "1000000", "NLQUERY_RATE_LIMIT_GLOBAL": "1000000",
                    "NLQUERY_AUTH_FAILURE_LIMIT": "1000000", **(env or {})}
        self.env.pop("NLQUERY_RATE_LIMIT_REDIS_URL", None)
        self.log = Path(tempfile.mkstemp(prefix="nlq_serve_", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60) -> Served:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "nlquery.cli", "serve", "--port", str(self.port),
                 "--workers", str(self.workers)], env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nlquery serve exited ({self.process.returncode}):\n{self.output()[-3000:]}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"nlquery serve not ready after {timeout_s:g} s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def client(self, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=timeout)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float = 30) -> int | None:
        if self.process is None:
            return None
        self.terminate()
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)

    def __enter__(self) -> Served:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.log.unlink(missing_ok=True)


def tool_call(client: httpx.Client, parameters: dict[str, Any], execution_id: str) -> httpx.Response:
    """A signed ``query_data`` tool callback."""
    stamp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    body = json.dumps({"tool_name": "query_data", "execution_id": execution_id, "timestamp": stamp,
                       "parameters": parameters}).encode()
    return client.post("/api/v1/tools/query_data", content=body, headers={
        "X-Interactor-Signature": tools.sign(body, SECRET), "X-Interactor-Timestamp": stamp,
        "X-Interactor-Request-Id": execution_id, "Content-Type": "application/json", "Authorization": ""})
