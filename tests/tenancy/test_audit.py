"""The audit trail: a record for success, refusal and error, with the request's ids and
redacted parameters; GET /api/v1/audit (admin, filters, cursor); nothing lost on a clean
shutdown; retention; the CLI."""

from __future__ import annotations

import datetime as dt
import json
import time

from click.testing import CliRunner

from nlquery import Engine, audit
from nlquery.catalog import Catalog
from nlquery.service import Settings, create_app

API = "/api/v1"


def test_success_refusal_and_error_are_recorded(world):
    sid = world.sources["a"]["id"]
    ok = world.client.post(f"{API}/data-sources/{sid}/query", headers=world.auth("a"),
                           json={"query": "SELECT id FROM customers WHERE email = $1 OR id = $2",
                                 "parameters": ["ann@example.com", 7]})
    assert ok.status_code == 200
    refused = world.client.post(f"{API}/data-sources/{sid}/query", headers=world.auth("a_ask"),
                                json={"query": "SELECT 1"})
    failed = world.client.post(f"{API}/data-sources/{sid}/query", headers=world.auth("a"),
                               json={"query": "DELETE FROM orders"})
    unknown = world.client.get(f"{API}/data-sources", headers={"Authorization": "Bearer nope"})
    by_request = {r["request_id"]: r for r in world.records()}

    record = by_request[ok.headers["x-request-id"]]
    assert record["action"] == "query" and record["outcome"] == "ok" and record["status"] == 200
    assert record["tenant"] == "acme" and record["token_id"].startswith("tok_") and record["source"] == sid
    assert record["sql"].startswith("SELECT id FROM customers WHERE email = $1") and record["row_count"] == 1
    assert record["parameters"] == [audit.REDACTED, 7]  # an email column: redacted; an id: kept
    assert record["trace_id"] == ok.headers["x-trace-id"] and record["duration_ms"] > 0
    assert world.tokens["a"] not in json.dumps(list(by_request.values()))  # never the token

    record = by_request[refused.headers["x-request-id"]]
    assert (record["outcome"], record["status"], record["tenant"]) == ("access_denied", 403, "acme")
    record = by_request[failed.headers["x-request-id"]]
    assert (record["outcome"], record["status"], record["sql"]) == ("query_not_read_only", 400,
                                                                     "DELETE FROM orders")
    record = by_request[unknown.headers["x-request-id"]]
    assert (record["outcome"], record["status"], record["tenant"]) == ("unauthorized", 401, None)


def test_source_changes_and_asks_are_recorded(world):
    sid = world.sources["b"]["id"]
    world.client.put(f"{API}/data-sources/{sid}", headers=world.auth("b"), json={"description": "Beta shop"})
    world.client.post(f"{API}/data-sources/{sid}/ask", headers=world.auth("b"),
                      json={"question": "How many customers?"})
    world.client.delete(f"{API}/data-sources/{sid}", headers=world.auth("b"))
    records = world.records(tenant="beta")
    actions = [r["action"] for r in reversed(records)]
    assert actions[0] == "source.create"
    assert actions[-3:] == ["source.update", "ask", "source.delete"]
    asked = next(r for r in records if r["action"] == "ask")
    assert asked["question"] == "How many customers?" and asked["sql"].startswith("SELECT COUNT(*)")


def test_the_audit_route_is_admin_only_filters_and_pages(world):
    for _ in range(5):
        world.client.post(f"{API}/data-sources/shop/query", headers=world.auth("b"), json={"query": "SELECT 1"})
    world.engine.flush_audit()
    assert world.client.get(f"{API}/audit", headers=world.auth("a")).status_code == 403
    first = world.client.get(f"{API}/audit", params={"tenant": "beta", "outcome": "ok", "limit": 3},
                             headers=world.auth("admin")).json()["data"]
    assert len(first["records"]) == 3 and first["next_cursor"]
    second = world.client.get(f"{API}/audit", params={"tenant": "beta", "outcome": "ok", "limit": 3,
                                                      "cursor": first["next_cursor"]},
                              headers=world.auth("admin")).json()["data"]
    ids = [r["id"] for r in first["records"] + second["records"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert {r["tenant"] for r in first["records"] + second["records"]} == {"beta"}
    by_source = world.client.get(f"{API}/audit", params={"source": world.sources["a"]["id"]},
                                 headers=world.auth("admin")).json()["data"]["records"]
    assert by_source and {r["source"] for r in by_source} == {world.sources["a"]["id"]}
    future = world.client.get(f"{API}/audit", params={"since": "2999-01-01T00:00:00Z"},
                              headers=world.auth("admin")).json()["data"]
    assert future == {"records": [], "next_cursor": None}
    bad = world.client.get(f"{API}/audit", params={"since": "yesterday"}, headers=world.auth("admin"))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"


def test_a_clean_shutdown_loses_no_record(nlquery_home, shop_path, monkeypatch):
    from fastapi.testclient import TestClient

    slow = Catalog.insert_audit

    def insert_slowly(self, rows):  # a writer far behind the requests
        time.sleep(0.2)
        slow(self, rows)

    monkeypatch.setattr(Catalog, "insert_audit", insert_slowly)
    engine = Engine()
    engine.add_source("shop", type="sqlite", connection={"database": str(shop_path)})
    app = create_app(engine, Settings(tokens="t", redis_url=None))
    sent = []
    with TestClient(app, headers={"Authorization": "Bearer t"}) as client:
        for i in range(30):
            response = client.post(f"{API}/data-sources/shop/query", json={"query": "SELECT $1", "parameters": [i]})
            sent.append(response.headers["x-request-id"])
    monkeypatch.setattr(Catalog, "insert_audit", slow)
    with Engine() as reader:
        stored = {r["request_id"] for r in reader.audit_log(limit=1000)["records"]}
    assert set(sent) <= stored


def test_retention_prunes_old_records(nlquery_home, monkeypatch):
    monkeypatch.setenv("NLQUERY_AUDIT_RETENTION_DAYS", "7")
    with Engine() as engine:
        old = audit.utcnow() - dt.timedelta(days=8)
        engine.audit(audit.new_entry(at=old, request_id="old"))
        engine.audit(audit.new_entry(request_id="new"))
    with Engine() as engine:
        engine.audit(audit.new_entry(request_id="newer"))  # a new writer prunes when it starts
        engine.flush_audit()
        kept = {r["request_id"] for r in engine.audit_log()["records"]}
    assert kept == {"new", "newer"}


def test_audit_off(nlquery_home, monkeypatch, shop_path):
    monkeypatch.setenv("NLQUERY_AUDIT", "off")
    with Engine() as engine:
        engine.add_source("shop", type="sqlite", connection={"database": str(shop_path)})
        engine.query("shop", "SELECT 1")
        assert engine.audit_log()["records"] == []


def test_redaction_rule():
    sql = ("SELECT id FROM users WHERE email = $1 AND id > $2 AND lower(name) = $3 AND phone IN ($4, $5) "
           "AND country = $6 LIMIT $7")
    assert audit.redact(sql, ["a@b", 3, "ann", "1", "2", "FR", 10]) == [
        audit.REDACTED, 3, audit.REDACTED, audit.REDACTED, audit.REDACTED, "FR", 10]
    assert audit.redact("not sql at all (", ["x"]) == [audit.REDACTED]  # cannot tell: redacted
    assert audit.redact("SELECT * FROM t WHERE note = $1", ["x" * 500])[0].endswith("...")


def test_the_cli_lists_follows_nothing_and_exports(nlquery_home, shop_path, tmp_path):
    from nlquery.cli import cli

    with Engine() as engine:
        engine.add_source("shop", type="sqlite", connection={"database": str(shop_path)})
        engine.query("shop", "SELECT name FROM customers WHERE id = $1", [3])
    runner = CliRunner()
    listed = runner.invoke(cli, ["audit", "--json", "--source", "shop"])
    assert listed.exit_code == 0, listed.output
    records = json.loads(listed.output)["records"]
    assert [r["action"] for r in records] == ["query", "source.create"] and records[0]["parameters"] == [3]
    target = tmp_path / "trail.jsonl"
    exported = runner.invoke(cli, ["audit", "--export", str(target)])
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["action"] for r in lines] == ["source.create", "query"]  # oldest first
    bad = runner.invoke(cli, ["audit", "--since", "soon"])
    assert bad.exit_code == 1 and "error[invalid_request]" in bad.output
