"""``/query`` answers small results whole (with their counts in headers) and streams
large ones from the source's cursor, in JSON, CSV and JSON lines alike."""

from __future__ import annotations

import csv
import io
import json

from nlquery.service.routes.query import STREAM_AFTER_BYTES

WIDE = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000) "
        "SELECT i, 'customer-' || i AS label FROM n")


def _query(client, shop, fmt=None, sql=WIDE, max_rows=100000, **headers):
    url = f"/api/v1/data-sources/{shop['id']}/query" + (f"?format={fmt}" if fmt else "")
    return client.post(url, json={"query": sql, "max_rows": max_rows}, headers=headers)


def test_a_small_result_goes_out_whole_with_its_counts(client, shop):
    sql = "SELECT id, status FROM orders ORDER BY id"
    response = _query(client, shop, "csv", sql=sql, max_rows=7)
    assert response.headers["content-length"] == str(len(response.content))
    assert (response.headers["x-row-count"], response.headers["x-truncated"]) == ("7", "true")
    as_json = _query(client, shop, sql=sql, max_rows=7)
    data = as_json.json()["data"]
    assert list(data) == ["columns", "rows", "row_count", "execution_time_ms", "truncated"]
    assert data["row_count"] == 7 and data["truncated"] is True and len(data["rows"]) == 7


def test_a_large_result_streams_in_every_format(client, shop):
    as_json = _query(client, shop)
    assert len(as_json.content) > STREAM_AFTER_BYTES and "content-length" not in as_json.headers
    data = as_json.json()["data"]
    assert data["columns"] == ["i", "label"] and data["row_count"] == 60000 and not data["truncated"]
    assert data["rows"][0] == [1, "customer-1"] and data["rows"][-1] == [60000, "customer-60000"]

    as_csv = _query(client, shop, "csv")
    assert "x-row-count" not in as_csv.headers  # not known when the first bytes leave
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == ["i", "label"] and len(rows) == 60001 and rows[-1] == ["60000", "customer-60000"]

    as_jsonl = _query(client, shop, **{"Accept": "application/x-ndjson"})
    assert as_jsonl.headers["content-type"].startswith("application/x-ndjson")
    lines = as_jsonl.content.splitlines()
    assert len(lines) == 60000 and json.loads(lines[-1]) == {"i": 60000, "label": "customer-60000"}


def test_errors_before_the_first_byte_keep_their_status(client, shop):
    refused = _query(client, shop, "jsonl", sql="DELETE FROM orders")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "query_not_read_only"
    unknown = _query(client, shop, "xml")
    assert unknown.status_code == 422 and "jsonl" in unknown.json()["error"]["message"]
