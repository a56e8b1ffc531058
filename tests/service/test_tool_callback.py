"""The signed, idempotent query_data tool callback."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from nlquery.service import tools
from tests.service.conftest import SECRET

URL = "/api/v1/tools/query_data"


def call(client, payload, *, secret=SECRET, timestamp=None, signature=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    stamp = timestamp or dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")
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
    for body in (b"not json", json.dumps({"parameters": {}}).encode(),
                 json.dumps({"execution_id": "e", "parameters": {"data_source": "shop"}}).encode()):
        response = call(client, None, raw=body)
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
