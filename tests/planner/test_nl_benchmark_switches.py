"""benchmarks nl (issue 17): the wide suite, linking recall, naive not fitting, and the
candidates / repair / metrics switches, against the scripted LLM server."""

from __future__ import annotations

import datetime as dt
import sqlite3

from benchmarks import nl
from benchmarks.nl_suites import demo_suite
from nlquery.planner import LLMConfig
from tests.planner.fake_llm import sql_reply

TODAY = dt.date(2026, 6, 30)


def test_wide_suite_hides_the_shop_and_reports_recall_and_naive_not_fitting(tmp_path, llm):
    suite = demo_suite(tmp_path, TODAY, wide=600)
    conn = sqlite3.connect(suite.databases["shop"])
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    conn.close()
    assert len(names) == 604 and sum(n.endswith("_customers") for n in names) > 5  # 600 distractors + the shop
    suite.cases = [c for c in suite.cases if c.question == "How many customers are there?"]
    llm.script(sql_reply("SELECT COUNT(*) FROM customers"))
    config = LLMConfig(base_url=llm.url, model="m", api_key="k", timeout_s=5, max_retries=0)
    result = nl.run_suite(suite, ["ours", "naive"], config, TODAY, tmp_path / "home", candidates=1)
    ours, naive = result["summary"]
    assert ours["execution_accuracy"] == 100.0 and ours["linking_recall"] == 100.0
    assert naive["not_fitting"] == 1 and naive["execution_accuracy"] == 0.0
    assert len(llm.requests) == 1  # naive never reached the model
    assert "TABLE customers (" in llm.prompt(0)


def test_switches_reach_the_engine(tmp_path, llm):
    suite = demo_suite(tmp_path, TODAY, metrics=False)
    assert not any(k.startswith(("metric:", "segment:")) for k in suite.mappings["shop"])
    (tmp_path / "again").mkdir()
    suite = demo_suite(tmp_path / "again", TODAY)
    assert "segment:big orders" in suite.mappings["shop"]
    suite.cases = [c for c in suite.cases if c.question == "How many customers are there?"]
    llm.script(sql_reply("SELECT COUNT(*) FROM customer"), sql_reply("SELECT COUNT(*) FROM customers"))
    config = LLMConfig(base_url=llm.url, model="m", api_key="k", timeout_s=5, max_retries=0)
    off = nl.run_suite(suite, ["ours"], config, TODAY, tmp_path / "h1", repair=False)
    assert off["summary"][0]["execution_accuracy"] == 0.0 and len(llm.requests) == 1
    llm.requests.clear()
    llm.script(sql_reply("SELECT COUNT(*) FROM customers"), sql_reply("SELECT COUNT(id) FROM customers"))
    on = nl.run_suite(suite, ["ours"], config, TODAY, tmp_path / "h2", candidates=3)
    assert on["summary"][0]["execution_accuracy"] == 100.0 and on["summary"][0]["mean_confidence"] == 1.0
    assert len(llm.requests) == 2
