"""The one JSON mapping (nlquery.encoding) whichever encoder writes it, and the formats of
HTTP ``POST /query``: JSON, CSV (``Accept: text/csv`` / ``?format=csv``), Arrow IPC."""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import json
import uuid

import pytest

from connectors.values import json_safe
from nlquery import encoding

D = decimal.Decimal
UTC = dt.timezone.utc

VALUES = [
    None, True, False, 0, -7, 2**53 + 1, 1.5, -0.0, "text", "crème ✓", "",
    D("1.50"), D("-0.00"), D("1E+2"), D("1E-7"), D("123456789012345"), D("12345678901234567890.123"),
    D("99999999999999.99"), D("NaN"), D("-Infinity"), D("0E-8"), D("1.5E+20"), D("1E+400"), D("-1E-400"),
    dt.datetime(2026, 1, 15, 10, 0, tzinfo=UTC), dt.datetime(2026, 1, 15, 10, 0, 0, 500),
    dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    dt.date(2026, 1, 15), dt.time(1, 2, 3, 4), dt.timedelta(days=1, hours=2), -dt.timedelta(seconds=1.5),
    uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), ipaddress.ip_address("10.0.0.1"),
    b"\x01\x02", bytearray(b"\xff"), memoryview(b"ab"),
    [1, D("2.5"), None], (1, "a"), {"a": [1, 2], "b": {"c": D("0.1")}}, frozenset({3}),
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_the_fast_encoder_writes_what_json_safe_says(value):
    assert encoding.loads(encoding.dumps([value])) == json.loads(json.dumps([json_safe(value)]))


@pytest.mark.parametrize("value", [2**70, dt.time(1, 2, tzinfo=UTC), {1: "a", None: "b"}], ids=repr)
def test_values_orjson_refuses_take_the_stdlib_path_with_the_same_output(value):
    assert encoding.loads(encoding.dumps({"v": value})) == {"v": json_safe(value)}


def test_stdlib_path_matches_the_fast_path(monkeypatch):
    document = {"rows": [list(VALUES)]}
    fast = encoding.loads(encoding.dumps(document))
    monkeypatch.setattr(encoding, "orjson", None)
    slow = encoding.dumps(document)
    assert json.loads(slow) == fast


@pytest.mark.parametrize("text", ["1E+400", "-1E+400", "1E-400", "2.5E-330"])
def test_decimals_past_a_doubles_range_stay_exact_strings(text, monkeypatch):
    # As a JSON number they would read back as infinity or 0.
    assert encoding.loads(encoding.dumps([D(text)])) == [text]
    monkeypatch.setattr(encoding, "orjson", None)
    assert json.loads(encoding.dumps([D(text)])) == [text]


def test_short_decimals_are_written_as_their_own_digits():
    # The hot path writes the decimal's text as the JSON number: the same value.
    assert encoding.dumps([D("1.250"), D("-0.5"), D("42")]) in (b"[1.250,-0.5,42]", b"[1.25,-0.5,42]")
    assert encoding.loads(encoding.dumps([D("1.250")])) == [1.25]


def test_non_finite_floats_are_null_on_both_paths(monkeypatch):
    values = [float("nan"), float("inf"), -float("inf")]
    assert encoding.loads(encoding.dumps(values)) == [None, None, None]
    monkeypatch.setattr(encoding, "orjson", None)
    assert json.loads(encoding.dumps(values)) == [None, None, None]


def test_jsonl_is_one_object_per_row_in_chunks():
    chunks = list(encoding.jsonl_lines(["a", "b"], [(i, D("1.5")) for i in range(5)], chunk=2))
    assert len(chunks) == 3
    lines = b"".join(chunks).decode().splitlines()
    assert [json.loads(line) for line in lines] == [{"a": i, "b": 1.5} for i in range(5)]


def test_csv_writes_the_json_mapping():
    rows = [(1, None, True, D("1.50"), dt.datetime(2026, 1, 1, tzinfo=UTC), b"\x01", [1, 2], 'say "hi"')]
    text = "".join(encoding.csv_lines(list("abcdefgh"), rows))
    assert text.splitlines() == ["a,b,c,d,e,f,g,h", '1,,true,1.5,2026-01-01T00:00:00Z,AQ==,"[1,2]","say ""hi"""']


def test_arrow_table_types_and_fallbacks():
    pa = pytest.importorskip("pyarrow")
    table = encoding.arrow_table(
        ["i", "d", "t", "j", "mixed"],
        [(1, D("1.50"), dt.datetime(2026, 1, 1), {"a": 1}, 5), (None, D("2.25"), None, {"b": 2}, "x")],
        truncated=True)
    assert table.schema.field("i").type == pa.int64()
    assert pa.types.is_decimal(table.schema.field("d").type)
    assert pa.types.is_timestamp(table.schema.field("t").type)
    assert table.column("j").to_pylist() == ['{"a":1}', '{"b":2}']  # JSON objects as their text
    assert table.column("mixed").to_pylist() == ["5", "x"]  # mixed types (SQLite): text
    assert table.column("d").to_pylist() == [D("1.50"), D("2.25")]
    assert table.schema.metadata[b"nlquery.truncated"] == b"true"


# -- HTTP formats --------------------------------------------------------------------------
@pytest.fixture
def http(nlquery_home, shop_path):
    from tests.service.conftest import make_client, wait_until_extracted

    with make_client() as client:
        created = client.post("/api/v1/data-sources", json={
            "name": "shop", "type": "sqlite", "connection": {"database": str(shop_path)}}).json()["data"]
        wait_until_extracted(client, created["id"])
        yield client, created["id"]


QUERY = {"query": "SELECT id, name, country FROM customers WHERE id <= $1 ORDER BY id", "parameters": [5],
         "max_rows": 3}


def test_http_query_answers_json_by_default(http):
    client, source = http
    response = client.post(f"/api/v1/data-sources/{source}/query", json=QUERY)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    data = response.json()["data"]
    assert data["columns"] == ["id", "name", "country"] and data["row_count"] == 3 and data["truncated"] is True
    assert [row[0] for row in data["rows"]] == [1, 2, 3]


@pytest.mark.parametrize("how", [{"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}])
def test_http_query_answers_csv(http, how):
    client, source = http
    expected = client.post(f"/api/v1/data-sources/{source}/query", json=QUERY).json()["data"]
    response = client.post(f"/api/v1/data-sources/{source}/query", json=QUERY, **how)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["x-row-count"] == "3" and response.headers["x-truncated"] == "true"
    lines = response.text.splitlines()
    assert lines[0] == "id,name,country"
    assert [line.split(",")[0] for line in lines[1:]] == [str(row[0]) for row in expected["rows"]]


def test_http_query_answers_arrow_ipc(http):
    pa = pytest.importorskip("pyarrow")
    client, source = http
    expected = client.post(f"/api/v1/data-sources/{source}/query", json=QUERY).json()["data"]
    response = client.post(f"/api/v1/data-sources/{source}/query", json=QUERY, params={"format": "arrow"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == encoding.ARROW_STREAM
    table = pa.ipc.open_stream(response.content).read_all()
    assert table.column_names == expected["columns"]
    assert [list(row.values()) for row in table.to_pylist()] == expected["rows"]


def test_http_query_refuses_an_unknown_format(http):
    client, source = http
    response = client.post(f"/api/v1/data-sources/{source}/query", json=QUERY, params={"format": "xml"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"


def test_http_query_errors_stay_json_whatever_the_format(http):
    client, source = http
    response = client.post(f"/api/v1/data-sources/{source}/query", params={"format": "csv"},
                           json={"query": "DELETE FROM customers"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "query_not_read_only"


# -- CLI streaming --------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_cli_query_streams_jsonl_and_csv(nlquery_home, shop_path, fmt):
    from click.testing import CliRunner

    from nlquery.cli import cli as main

    sql = "SELECT id, name, country FROM customers WHERE id <= 3 ORDER BY id"
    runner = CliRunner()
    as_json = runner.invoke(main, ["query", "--url", f"sqlite:///{shop_path}", sql, "--json"])
    assert as_json.exit_code == 0, as_json.output
    expected = json.loads(as_json.output)["rows"]
    result = runner.invoke(main, ["query", "--url", f"sqlite:///{shop_path}", sql, "--format", fmt])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    if fmt == "jsonl":
        assert [list(json.loads(line).values()) for line in lines] == expected
        assert list(json.loads(lines[0])) == ["id", "name", "country"]
    else:
        assert lines[0] == "id,name,country" and len(lines) == 4
        assert [line.split(",")[0] for line in lines[1:]] == [str(row[0]) for row in expected]
