"""A streamed answer cut short by an error still leaves its audit record.

Results over 1 MiB stream: their status goes out before the read ends, and an error
after that cuts the response. The client has rows by then (megabytes of them), so the
read must be on record like any other; a tenant must not be able to read without an
audit trail by making its own query fail at its last row."""

from __future__ import annotations

import json
import logging
import time

from fastapi.testclient import TestClient

from nlquery import Engine
from nlquery.service import Settings, create_app
from nlquery.service.routes.query import STREAM_AFTER_BYTES

TOKEN = "audit-stream-token"
# ~3 MB of rows; the byte cap (2 MB, the source's own) ends the read mid-stream.
WIDE = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30000) "
        "SELECT i, printf('%.90d', i) AS label, 'evasion-marker' AS m FROM n")


def _audit(client, request_id: str, timeout_s: float = 10.0) -> dict | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        records = client.get("/api/v1/audit", params={"limit": 50}).json()["data"]
        records = records["records"] if isinstance(records, dict) else records
        for record in records:
            if record.get("request_id") == request_id:
                return record
        time.sleep(0.1)
    return None


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(json.loads(record.getMessage()))
        except ValueError:
            pass


def test_a_stream_cut_by_an_error_is_audited_and_logged(nlquery_home, shop_path):
    app = create_app(Engine(), Settings(tokens=TOKEN, callback_secret="s", redis_url=None))
    logger, seen = logging.getLogger("nlquery.service"), _Lines()
    logger.addHandler(seen)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        _cut_streams_are_on_record(app, shop_path, seen)
    finally:
        logger.removeHandler(seen)
        logger.setLevel(level)


def _cut_streams_are_on_record(app, shop_path, seen: _Lines) -> None:
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}, raise_server_exceptions=False) as client:
        created = client.post("/api/v1/data-sources", json={
            "name": "shop", "type": "sqlite",
            "connection": {"database": str(shop_path), "options": {"max_result_bytes": 2_000_000}}})
        assert created.status_code == 201, created.text
        for fmt in ("jsonl", "csv", "json"):
            request_id = f"cut-stream-{fmt}"
            try:
                response = client.post(f"/api/v1/data-sources/shop/query?format={fmt}",
                                       json={"query": WIDE, "max_rows": 100000},
                                       headers={"X-Client-Request-Id": request_id})
                received = len(response.content)
            except Exception:  # the cut body: what the client library makes of it
                received = STREAM_AFTER_BYTES
            assert received >= STREAM_AFTER_BYTES  # rows left before the error
            record = _audit(client, request_id)
            assert record is not None, f"the cut {fmt} stream left no audit record"
            assert record["outcome"] == "result_too_large" and "evasion-marker" in record["sql"]
            lines = [line for line in seen.lines if line.get("request_id") == request_id]
            assert lines and lines[-1]["error"] == "result_too_large" and lines[-1]["cut"] is True
