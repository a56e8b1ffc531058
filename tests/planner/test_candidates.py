"""Candidates chosen by their results (issue 17): several candidates, each checked and
run, the answer is the result most agree on; errors and empty results lose."""

from __future__ import annotations

import pytest

from nlquery.errors import InvalidQuery, InvalidRequest
from tests.planner.conftest import TODAY, shop_rows
from tests.planner.fake_llm import sql_reply

DE = "SELECT COUNT(*) FROM customers WHERE country = 'DE'"
FR = "SELECT COUNT(*) FROM customers WHERE country = 'FR'"


def ask(engine, question="How many customers are in DE?", **kwargs):
    return engine.ask("shop", question, today=TODAY, **kwargs)


def test_the_majority_result_wins_and_the_disagreement_is_said(engine, llm, shop_file):
    llm.script(sql_reply(FR), sql_reply(DE), sql_reply("SELECT COUNT(id) FROM customers WHERE country = $1", ["DE"]))
    answer = ask(engine, candidates=3)
    assert answer.result.rows == shop_rows(shop_file, DE)
    assert answer.confidence == pytest.approx(0.67)
    assert any("candidates disagree: 2 of 3" in n for n in answer.notes)
    systems = [r["messages"][0]["content"] for r in llm.requests]
    assert len(set(systems)) == 3  # three differently worded prompts
    data = answer.to_dict()
    assert data["confidence"] == pytest.approx(0.67)
    assert [c["agrees"] for c in data["candidates"]] == [False, True, True]
    assert [c["chosen"] for c in data["candidates"]] == [False, True, False]


def test_agreeing_candidates_stop_early_with_full_confidence(engine, llm, shop_file):
    llm.script(sql_reply(DE), sql_reply("SELECT COUNT(*) AS n FROM customers WHERE country = $1", ["DE"]))
    answer = ask(engine, candidates=3)
    assert len(llm.requests) == 2 and answer.confidence == 1.0 and answer.notes == []
    assert answer.result.rows == shop_rows(shop_file, DE)


def test_errors_and_empty_results_lose(engine, llm, shop_file):
    llm.script(sql_reply("SELECT COUNT(*) FROM customers WHERE country = 'DE' GROUP BY city HAVING 1 = 0"),
               sql_reply("SELECT COUNT(*) FROM customer WHERE country = 'DE'"),
               sql_reply(DE))
    answer = ask(engine, candidates=3, max_attempts=1)
    assert answer.result.rows == shop_rows(shop_file, DE) and answer.confidence == pytest.approx(0.33)
    errors = [c["error"]["code"] if c["error"] else None for c in answer.to_dict()["candidates"]]
    assert errors == [None, "invalid_query", None]
    assert any("1 failed" in n for n in answer.notes)


def test_when_every_candidate_fails_the_error_is_raised(engine, llm):
    llm.script(*[sql_reply("SELECT nope FROM customers")] * 2)
    with pytest.raises(InvalidQuery, match="no acceptable query"):
        ask(engine, candidates=2, max_attempts=1)


def test_candidates_are_bounded(engine):
    with pytest.raises(InvalidRequest, match="candidates"):
        ask(engine, candidates=0)


def test_candidates_from_the_cli_and_http(engine, llm, shop_file, monkeypatch):
    from click.testing import CliRunner

    from nlquery.cli import cli
    from tests.service.conftest import make_client

    monkeypatch.setenv("NLQUERY_LLM_BASE_URL", llm.url)
    monkeypatch.setenv("NLQUERY_LLM_MODEL", "test-model")
    llm.script(sql_reply(DE), sql_reply(DE.replace("COUNT(*)", "COUNT(id)")))
    result = CliRunner().invoke(cli, ["ask", "shop", "How many customers are in DE?", "--candidates", "3",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    import json
    assert json.loads(result.output)["confidence"] == 1.0 and len(llm.requests) == 2
    llm.script(sql_reply(FR), sql_reply(DE), sql_reply(DE.replace("COUNT(*)", "COUNT(id)")))
    with make_client() as client:
        body = client.post("/api/v1/data-sources/shop/ask",
                           json={"question": "How many customers are in DE?", "candidates": 3})
    assert body.status_code == 200, body.text
    data = body.json()["data"]
    assert data["rows"] == shop_rows(shop_file, DE) and data["confidence"] == pytest.approx(0.67)
    assert "candidates disagree" in data["notes"][0]
