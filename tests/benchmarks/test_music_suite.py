"""The music suite: its store builds with declared keys, every gold SQL answers something
worth comparing, its mappings import through the Engine, and the CLI runs it offline."""

import datetime as dt
import json
import sqlite3

import pytest
import sqlglot
from click.testing import CliRunner
from sqlglot import exp

from benchmarks import nl
from benchmarks.music import TABLES, build_music, generate
from benchmarks.music_questions import DEFINITIONS, MAPPINGS, QUESTIONS
from benchmarks.nl_suites import music_suite
from nlquery import Engine

TODAY = dt.date(2026, 3, 15)


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return music_suite(tmp_path_factory.mktemp("music"), TODAY)


def _rows(path, sql):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_the_store_has_the_eleven_tables_keys_and_sizes(tmp_path):
    conn = build_music(tmp_path / "m.db", TODAY)
    counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    assert counts["artists"] == 275 and counts["albums"] == 350 and counts["genres"] == 25
    assert counts["media_types"] == 5 and counts["playlists"] == 18 and counts["employees"] == 8
    assert counts["customers"] == 59 and counts["invoices"] == 412
    assert 3000 < counts["tracks"] < 4000 and 2000 < counts["invoice_items"] < 2500
    assert conn.execute("SELECT COUNT(DISTINCT country) FROM customers").fetchone()[0] == 24
    references = {(t, row[2], row[3]) for t in TABLES for row in conn.execute(f"PRAGMA foreign_key_list({t})")}
    assert {("tracks", "albums", "album_id"), ("customers", "employees", "support_rep_id"),
            ("employees", "employees", "reports_to"), ("invoice_items", "tracks", "track_id")} <= references
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    last = conn.execute("SELECT MAX(invoice_date) FROM invoices").fetchone()[0]
    assert last <= f"{TODAY} 00:00:00"
    conn.close()


def test_the_data_is_the_same_for_the_same_seed_and_day():
    assert generate(TODAY) == generate(TODAY)
    assert generate(TODAY)["invoices"] != generate(TODAY, seed=12)["invoices"]


def test_levels_and_vocabulary_are_spread_like_the_target_set(suite):
    assert {level: len(questions) for level, questions in QUESTIONS.items()} == {"easy": 13, "medium": 20, "hard": 13}
    assert sum(c.needs_synonym for c in suite.cases) == 10
    assert [c.level for c in suite.cases][:1] == ["easy"] and suite.name == "music"
    assert "{" not in "".join(c.question + c.gold_sql for c in suite.cases)  # dates filled in


@pytest.mark.parametrize("today", [TODAY, dt.date(2027, 1, 1), dt.date(2030, 12, 31)])
def test_every_gold_answers_something_worth_comparing(tmp_path, today):
    suite = music_suite(tmp_path, today)
    for case in suite.cases:
        rows = _rows(suite.databases["music"], case.gold_sql)
        assert rows, case.question
        assert all(value not in (None, 0) for value in rows[0]), (case.question, rows[0])


def test_ordered_top_n_golds_have_no_ties(suite):
    """A tie inside a top N, or at its edge, would make two right answers differ."""
    for case in suite.cases:
        tree = sqlglot.parse_one(case.gold_sql, read="sqlite")
        if not tree.args.get("order"):
            continue
        probe = tree.copy()
        for ordered in probe.args["order"].expressions:
            if isinstance(ordered.this, exp.Literal):  # ORDER BY 2: the select list is replaced below
                ordered.set("this", tree.expressions[int(ordered.this.name) - 1].copy())
        probe.set("expressions", [ordered.this.copy() for ordered in probe.args["order"].expressions])
        probe = probe.limit(int(tree.args["limit"].expression.name) + 1)
        rows = _rows(suite.databases["music"], probe.sql(dialect="sqlite"))
        assert len(set(rows)) == len(rows), (case.question, rows)


def test_the_mappings_import_through_the_engine(tmp_path, suite):
    with Engine(home=tmp_path / "home") as engine:
        engine.add_source("music", "sqlite", {"database": str(suite.databases["music"])})
        result = engine.update_mappings("music", suite.mappings["music"])
        assert result["stale"] == []
        keys = set(result["mappings"])
        assert {f"metric:{name}" for name in DEFINITIONS["metrics"]} <= keys
        assert {f"segment:{name}" for name in DEFINITIONS["segments"]} <= keys
        assert set(MAPPINGS) <= keys
        assert engine.resolver("music").resolve("songs")[0].key == "tracks"
        # the same document as a mapping file would hold it
        assert engine.import_mappings("music", {**MAPPINGS, **DEFINITIONS})["stale"] == []


def test_no_metrics_drops_the_definitions(tmp_path):
    mappings = music_suite(tmp_path, TODAY, metrics=False).mappings["music"]
    assert set(mappings) == set(MAPPINGS)


def _run(*args: str) -> dict:
    result = CliRunner().invoke(nl.main, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_rules_planner_runs_the_music_suite_offline():
    report = _run("--suite", "music", "--planners", "rules", "--limit", "5")
    row = report["results"][0]
    assert report["suite"] == "music" and row["questions"] == 5
    assert row["by_level"] == {"easy": row["by_level"]["easy"]} and row["by_level"]["easy"].endswith("/5")
    assert row["declined"] + int(row["by_level"]["easy"].split("/")[0]) >= 1


def test_wide_hides_the_store_among_distractors(tmp_path):
    suite = music_suite(tmp_path, TODAY, wide=30)
    tables = _rows(suite.databases["music"], "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'")[0][0]
    assert (suite.name, tables) == ("music-wide-30", 41)
    report = _run("--suite", "music", "--planners", "rules", "--limit", "3", "--wide", "30")
    assert report["suite"] == "music-wide-30" and report["results"][0]["questions"] == 3


def test_suite_with_a_dataset_directory_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(nl.main, ["--suite", "music", "--spider", str(tmp_path), "--planners", "rules"])
    assert result.exit_code == 2 and "not both" in result.output


def test_a_mapping_file_is_merged_into_the_suites_mappings(tmp_path):
    document = tmp_path / "vocabulary.yaml"
    document.write_text("tracks:\n  synonyms: [tunes]\nmetrics:\n  playtime:\n    sql: SUM(tracks.milliseconds)\n")
    suite = music_suite(tmp_path, TODAY, metrics=False)
    nl.add_mapping_files(suite, (f"music={document}",))
    merged = suite.mappings["music"]
    assert merged["tracks"] == {"synonyms": ["tunes"]} and merged["metric:playtime"]["sql"] == "SUM(tracks.milliseconds)"
    assert set(MAPPINGS) - {"tracks"} <= set(merged)  # the suite's own mappings stay
    report = _run("--suite", "music", "--planners", "rules", "--limit", "2", "--mappings", str(document))
    assert report["results"][0]["questions"] == 2


def test_a_mapping_file_for_a_database_the_suite_lacks_is_a_usage_error(tmp_path):
    document = tmp_path / "m.yaml"
    document.write_text("tracks: {synonyms: [tunes]}\n")
    result = CliRunner().invoke(nl.main, ["--suite", "music", "--planners", "rules", "--mappings", f"shop={document}"])
    assert result.exit_code == 2 and "no database 'shop'" in result.output
    document.write_text("- tracks\n- songs\n")
    result = CliRunner().invoke(nl.main, ["--suite", "music", "--planners", "rules", "--mappings", str(document)])
    assert result.exit_code == 2 and "must hold an object" in result.output
