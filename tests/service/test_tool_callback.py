"""The signed, idempotent query_data tool callback."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from nlquery.service import tools
from tests.service.conftest import SECRET

URL = "/api/v1/tools/query_data"


def now(delta_s=0):
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=delta_s)).isoformat().replace("+00:00", "Z")


def call(client, payload, *, secret=SECRET, timestamp=None, body_timestamp=None, signature=None, raw=None):
    """POST a signed call; the body carries ``timestamp`` (the header's unless told)."""
    stamp = timestamp or now()
    if raw is None and payload is not None and "timestamp" not in payload:
        payload = {**payload, "timestamp": body_timestamp or stamp}
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {"X-Interactor-Signature": signature or tools.sign(body, secret), "X-Interactor-Timestamp": stamp,
               "Content-Type": "application/json", "Authorization": ""}
    return client.post(URL, content=body, headers=headers)


def payload(execution_id="exec_1", **parameters):
    return {"tool_name": "query_data", "execution_id": execution_id, "room_id": "room_1",
            "parameters": {"data_source": "shop", **parameters}}


def test_a_signed_call_runs_sql(client, shop):
    response = call(client, payload(sql="SELECT COUNT(*) AS n FROM orders WHERE status = $1",
                                    parameters=["paid"]))
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["columns"] == ["n"] and result["rows"][0][0] > 0


def test_a_signed_call_answers_a_question(client, shop):
    result = call(client, payload(question="How many orders?")).json()["result"]
    assert result["rows"] == [[10_000]] and result["sql"].startswith("SELECT COUNT(*)")


@pytest.mark.parametrize("signature", ["sha256=" + "0" * 64, "", "sha256=abc"])
def test_a_bad_signature_is_refused(client, shop, signature):
    response = call(client, payload(sql="SELECT 1"), signature=signature or " ")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_a_signature_with_another_secret_is_refused(client, shop):
    assert call(client, payload(sql="SELECT 1"), secret="other").status_code == 401


def test_a_stale_timestamp_is_refused(client, shop):
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=301)).isoformat()
    response = call(client, payload(sql="SELECT 1"), timestamp=old)
    assert response.status_code == 401 and "window" in response.json()["error"]["message"]


def test_a_replay_returns_the_stored_result_without_running_again(client, shop, monkeypatch):
    first = call(client, payload("exec_replay", sql="SELECT COUNT(*) FROM orders")).json()
    engine = client.app.state.engine
    monkeypatch.setattr(engine, "query", lambda *a, **k: pytest.fail("ran again"))
    assert call(client, payload("exec_replay", sql="SELECT COUNT(*) FROM orders")).json() == first


def test_a_write_is_refused_through_the_tool(client, shop):
    response = call(client, payload(sql="DELETE FROM orders"))
    assert response.status_code == 400 and response.json()["error"]["code"] == "query_not_read_only"


def test_bad_bodies_are_invalid_requests(client, shop):
    stamp = now()
    for body in (b"not json", json.dumps({"parameters": {}}).encode(),
                 json.dumps({"execution_id": "e", "parameters": {"data_source": "shop"}, "timestamp": stamp}).encode()):
        response = call(client, None, raw=body, timestamp=stamp)
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"


def test_large_results_are_trimmed_under_64_kb(client, shop):
    result = call(client, payload(sql="SELECT * FROM customers")).json()["result"]
    assert len(json.dumps(result).encode()) <= 64 * 1024
    assert result["truncated"] is True and "trimmed" in result["note"] and result["row_count"] == len(result["rows"])


def test_tool_definition_is_printable():
    from click.testing import CliRunner

    from nlquery.cli import cli

    output = CliRunner().invoke(cli, ["tool-definition"]).output
    assert json.loads(output)["name"] == "query_data"


def test_an_old_signed_body_with_a_fresh_header_is_refused(client, shop, monkeypatch):
    engine = client.app.state.engine
    monkeypatch.setattr(engine, "query", lambda *a, **k: pytest.fail("ran a replayed call"))
    response = call(client, payload("exec_old", sql="SELECT 1"), body_timestamp=now(-3600))  # signed an hour ago
    assert response.status_code == 401, response.text
    assert "does not match X-Interactor-Timestamp" in response.json()["error"]["message"]


def test_a_signed_body_without_a_timestamp_is_refused(client, shop):
    body = json.dumps(payload("exec_no_ts", sql="SELECT 1")).encode()  # no "timestamp" in it
    response = call(client, None, raw=body)
    assert response.status_code == 401 and "no timestamp" in response.json()["error"]["message"]


def test_a_reused_execution_id_with_another_call_is_a_conflict(client, shop, monkeypatch):
    first = call(client, payload("exec_twice", sql="SELECT COUNT(*) AS n FROM orders"))
    assert first.status_code == 200, first.text
    engine = client.app.state.engine
    monkeypatch.setattr(engine, "query", lambda *a, **k: pytest.fail("ran the second call"))
    other = call(client, payload("exec_twice", sql="SELECT name FROM customers"))
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "execution_id_conflict"
    # the same call again (a retry, signed anew) still gets the stored result
    assert call(client, payload("exec_twice", sql="SELECT COUNT(*) AS n FROM orders")).json() == first.json()


def test_the_request_id_header_must_name_the_execution(client, shop):
    body = json.dumps({**payload("exec_hdr", sql="SELECT 1"), "timestamp": now()}).encode()
    stamp = json.loads(body)["timestamp"]
    response = client.post(URL, content=body, headers={
        "X-Interactor-Signature": tools.sign(body, SECRET), "X-Interactor-Timestamp": stamp,
        "X-Interactor-Request-Id": "exec_other", "Content-Type": "application/json", "Authorization": ""})
    assert response.status_code == 422 and "execution_id" in response.json()["error"]["message"]


def test_malformed_json_says_where(client, shop):
    body = b'{\n  "execution_id": "e",\n  "parameters" {}\n}'
    response = call(client, None, raw=body)
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "body: invalid JSON at line 3, column 16: Expecting ':' delimiter"


def test_the_engine_runs_off_the_event_loop(client, shop, monkeypatch):
    import asyncio

    engine = client.app.state.engine
    on_loop = []

    def spy(name):
        real = getattr(engine, name)

        def wrapper(*args, **kwargs):
            try:
                asyncio.get_running_loop()
                on_loop.append(name)  # called from the event loop's thread
            except RuntimeError:
                pass
            return real(*args, **kwargs)
        monkeypatch.setattr(engine, name, wrapper)

    for name in ("query", "ask", "stored_tool_result", "store_tool_result"):
        spy(name)
    assert call(client, payload("exec_thread_1", sql="SELECT 1")).status_code == 200
    assert call(client, payload("exec_thread_2", question="How many orders?")).status_code == 200
    assert call(client, payload("exec_thread_1", sql="SELECT 1")).status_code == 200
    assert on_loop == []


def test_an_unsigned_call_is_refused_before_its_body_is_read(client, shop):
    chunks = []

    def body():
        for _ in range(50):
            chunks.append(1)
            yield b"x" * 10_000

    response = client.post(URL, content=body(), headers={"Authorization": ""})
    assert response.status_code == 401
    assert chunks == []  # the test client pulls the body only when the app asks for it
