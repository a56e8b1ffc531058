"""The NL benchmark's loaders, hardness, scoring and a whole run against a scripted model."""

import json
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from benchmarks import nl
from benchmarks.nl_suites import bird_suite, spider_hardness, spider_suite
from tests.planner.fake_llm import FakeLLM, sql_reply

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def llm(monkeypatch):
    server = FakeLLM()
    monkeypatch.setenv("NLQUERY_LLM_BASE_URL", server.url)
    monkeypatch.setenv("NLQUERY_LLM_MODEL", "scripted")
    monkeypatch.setenv("NLQUERY_LLM_API_KEY", "k")
    yield server
    server.close()


def test_spider_loader_reads_questions_and_databases():
    suite = spider_suite(FIXTURES / "spider")
    assert len(suite.cases) == 12
    assert set(suite.databases) == {"concert_singer", "pets_1"}
    assert all(path.is_file() for path in suite.databases.values())
    first = suite.cases[0]
    assert (first.db_id, first.gold_sql, first.evidence) == ("concert_singer", "SELECT count(*) FROM singer", "")


def test_bird_loader_keeps_evidence_and_difficulty():
    suite = bird_suite(FIXTURES / "bird")
    case = suite.cases[0]
    assert case.difficulty == "simple"
    assert case.prompt == "How many senior singers are there?\nHint: senior refers to age > 40"
    assert {c.difficulty for c in suite.cases} == {"simple", "moderate", "challenging"}


def test_loaders_name_what_is_missing(tmp_path):
    with pytest.raises(click.UsageError, match="tables.json is missing"):
        spider_suite(tmp_path)
    broken = tmp_path / "spider"
    shutil.copytree(FIXTURES / "spider", broken)
    (broken / "database" / "pets_1" / "pets_1.sqlite").unlink()
    with pytest.raises(click.UsageError, match="pets_1.sqlite"):
        spider_suite(broken)
    (broken / "dev.json").write_text('[{"db_id": "nope", "question": "q", "query": "SELECT 1"}]')
    with pytest.raises(click.UsageError, match="'nope' is not in tables.json"):
        spider_suite(broken)


@pytest.mark.parametrize(("sql", "level"), [
    ("SELECT count(*) FROM singer", "easy"),
    ("SELECT name FROM singer WHERE country = 'France' ORDER BY age DESC", "medium"),
    ("SELECT avg(age), min(age), max(age) FROM singer WHERE country = 'France'", "medium"),
    ("SELECT name FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM concert)", "hard"),
    ("SELECT a FROM t WHERE x = 1 AND y = 2 GROUP BY a, b ORDER BY count(*) LIMIT 3", "extra"),
    ("SELECT name FROM t1 JOIN t2 ON t1.id = t2.id WHERE y = 1 INTERSECT SELECT name FROM t3", "extra"),
])
def test_spider_hardness(sql, level):
    assert spider_hardness(sql) == level


def test_results_compare_as_multisets_unless_gold_orders():
    gold = [[1, "a"], [2, "b"]]
    assert nl.same_result(gold, [[2, "b"], [1, "a"]])
    assert not nl.same_result(gold, [[2, "b"], [1, "a"]], ordered=True)
    assert nl.same_result(gold, [["a", 1, "extra"], ["b", 2, "extra"]])  # columns reordered, one extra
    assert not nl.same_result(gold, [[1, "a"]])
    assert not nl.same_result(gold, [[1, "a"], [1, "a"], [2, "b"]])  # duplicates count
    assert nl.same_result([[0.333333]], [[0.33]])
    assert not nl.same_result([], [[1]])
    assert nl.same_result([], [])


def _run(*args: str) -> dict:
    result = CliRunner().invoke(nl.main, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_model_answering_gold_sql_scores_full_marks_for_every_contender(llm):
    cases = spider_suite(FIXTURES / "spider").cases
    llm.script(*[sql_reply(case.gold_sql) for case in cases for _ in ("ours", "naive")])
    report = _run("--spider", str(FIXTURES / "spider"), "--planners", "ours,naive")
    summary = {row["planner"]: row for row in report["results"]}
    assert summary["ours"]["execution_accuracy"] == summary["naive"]["execution_accuracy"] == 100.0
    assert summary["ours"]["by_difficulty"] == {"easy": "3/3", "extra": "1/1", "hard": "2/2", "medium": "6/6"}
    assert summary["naive"]["prompt_tokens_per_q"] == 100  # the fake server's usage figure
    assert report["failures"] == []
    # the naive prompt carries the whole schema; ours links (both have all 4 tables here)
    assert "singer_in_concert" in llm.prompt(1)


def test_wrong_answers_are_listed_with_predicted_and_gold_sql(llm):
    llm.script(sql_reply("SELECT count(*) FROM stadium"), sql_reply("SELECT 'x' FROM missing_table"),
               {"status": 500})
    report = _run("--bird", str(FIXTURES / "bird"), "--planners", "naive", "--limit", "3")
    assert report["results"][0]["execution_accuracy"] == 0.0
    assert report["results"][0]["by_difficulty"] == {"moderate": "0/1", "simple": "0/2"}
    first, second = report["failures"][:2]
    assert first["predicted_sql"] == "SELECT count(*) FROM stadium"
    assert first["gold_sql"] == "SELECT COUNT(*) FROM singer WHERE age > 40"
    assert second["error"].startswith("table_not_allowed") or second["error"].startswith("invalid_query")
    # BIRD's evidence reached the model
    assert "senior refers to age > 40" in llm.prompt(0)


def test_twice_reports_identical_predictions(llm):
    gold = [case.gold_sql for case in spider_suite(FIXTURES / "spider").cases[:2]]
    llm.script(*map(sql_reply, gold), *map(sql_reply, reversed(gold)))  # second run answers differently
    report = _run("--spider", str(FIXTURES / "spider"), "--planners", "naive", "--limit", "2", "--twice")
    assert report["identical_predictions"] == {"naive": "0/2"}


def test_llm_contenders_need_an_endpoint():
    result = CliRunner().invoke(nl.main, ["--planners", "ours"])
    assert result.exit_code == 2
    assert "NLQUERY_LLM_BASE_URL" in result.output


def test_rules_planner_runs_offline_on_the_demo_suite():
    report = _run("--planners", "rules", "--limit", "5")
    row = report["results"][0]
    assert row["questions"] == 5
    assert row["declined"] + sum(int(v.split("/")[0]) for v in row["by_difficulty"].values()) >= 1
    assert report["suite"] == "demo"
