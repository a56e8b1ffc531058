"""NL accuracy on the demo shop: execution accuracy (result sets compared, not SQL).

Three contenders, same question set, same model, one run:

* ``ours``: the LLM pipeline (linking, mappings, value hints, examples, repair loop);
* ``naive``: the whole schema, no mappings, no hints, no repair: one attempt;
* ``rules``: the offline rules planner (no LLM): declines are counted apart.

Needs an OpenAI-compatible endpoint for the LLM contenders (``NLQUERY_LLM_BASE_URL``,
``NLQUERY_LLM_MODEL``; ``../shared/tools/local-llm start`` gives one offline).
"""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click

from benchmarks.harness import report
from benchmarks.nl_questions import QUESTIONS, gold_sql
from nlquery import Engine
from nlquery.demo import MAPPINGS
from nlquery.errors import NLQueryError
from nlquery.planner import LLMClient, LLMConfig, parse_candidate
from nlquery.planner.linking import LinkedSchema
from nlquery.planner.prompt import build_messages, render_schema
from nlquery.shop import generate_shop, load_shop


def _normal(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, (int, str)) or value is None:
        return value
    return str(value)


def same_result(gold: list[list[Any]], got: list[list[Any]]) -> bool:
    """Equal as multisets of rows; extra columns in ``got`` are allowed when some of
    its columns reproduce the gold ones."""
    want = Counter(tuple(_normal(v) for v in row) for row in gold)
    if not got:
        return not gold
    width = len(next(iter(want), ()))
    columns = range(len(got[0]))
    for chosen in itertools.permutations(columns, width) if len(got[0]) <= 5 else [tuple(range(width))]:
        if Counter(tuple(_normal(row[i]) for i in chosen) for row in got) == want:
            return True
    return False


def naive(client: LLMClient, engine: Engine, question: str,
          today: dt.date) -> tuple[list[list[Any]] | None, int, float]:
    schema = engine.schema("shop")
    linked = LinkedSchema(schema=schema, tables=schema.tables, scores={})
    messages = build_messages(question, "sqlite", render_schema(linked, {}, {}), today=today)
    completion = client.complete(messages)
    candidate = parse_candidate(completion.text)
    if candidate is None:
        return None, completion.prompt_tokens, completion.latency_ms
    try:
        result = engine.query("shop", candidate.sql, candidate.parameters, max_rows=10_000)
    except NLQueryError:
        return None, completion.prompt_tokens, completion.latency_ms
    return result.rows, completion.prompt_tokens, completion.latency_ms


@click.command()
@click.option("--suite", type=click.Choice(["demo"]), default="demo", show_default=True)
@click.option("--planners", default="ours,naive,rules", show_default=True,
              help="Comma list of contenders: ours, naive, rules.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N questions.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def main(suite: str, planners: str, limit: int | None, as_json: bool) -> None:
    """NL execution accuracy: our pipeline vs a naive prompt vs the rules planner."""
    wanted = [p.strip() for p in planners.split(",") if p.strip()]
    questions = QUESTIONS[:limit] if limit else QUESTIONS
    config = LLMConfig.from_environment(timeout_s=300, max_retries=0)
    if {"ours", "naive"} & set(wanted) and not config.configured:
        raise click.UsageError("ours/naive need NLQUERY_LLM_BASE_URL (try ../shared/tools/local-llm start), "
                               "or use --planners rules")
    today = dt.date.today()  # the shop ends today: models may use the database's clock
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shop.db"
        conn = sqlite3.connect(path)
        load_shop(conn, "sqlite", "qmark", generate_shop(end=today))
        gold = [[list(r) for r in conn.execute(gold_sql(sql, today)).fetchall()] for _, sql, _ in questions]
        conn.close()
        stats = {p: {"correct": 0, "declined": 0, "prompt_tokens": 0, "latency_ms": 0.0, "synonym_correct": 0}
                 for p in wanted}
        details = []
        with Engine(home=Path(tmp) / "home", llm=config) as engine:
            engine.add_source("shop", "sqlite", {"database": str(path)})
            engine.update_mappings("shop", MAPPINGS)
            client = LLMClient(config) if "naive" in wanted else None
            for index, ((question, _, synonym), expected) in enumerate(zip(questions, gold)):
                row: dict[str, Any] = {"question": question}
                for planner in wanted:
                    started = time.perf_counter()
                    tokens, rows, declined = 0, None, False
                    try:
                        if planner == "naive":
                            rows, tokens, _ = naive(client, engine, question, today)  # type: ignore[arg-type]
                        else:
                            answer = engine.ask("shop", question, planner="llm" if planner == "ours" else "rules",
                                                today=today, max_rows=10_000)
                            rows, tokens = answer.result.rows, answer.usage["prompt_tokens"]
                    except NLQueryError as exc:
                        declined = planner == "rules" and exc.code == "question_not_answerable"
                    correct = rows is not None and same_result(expected, rows)
                    entry = stats[planner]
                    entry["correct"] += correct
                    entry["synonym_correct"] += correct and synonym
                    entry["declined"] += declined
                    entry["prompt_tokens"] += tokens
                    entry["latency_ms"] += (time.perf_counter() - started) * 1000
                    row[planner] = "ok" if correct else ("declined" if declined else "wrong")
                details.append(row)
                print(f"  {index + 1}/{len(questions)} {row}", file=sys.stderr)
    count, synonyms = len(questions), sum(q[2] for q in questions)
    rows_out = []
    for planner, entry in stats.items():
        answered = count - entry["declined"]
        rows_out.append({
            "planner": planner, "questions": count,
            "execution_accuracy": round(100 * entry["correct"] / count, 1),
            "accuracy_when_answering": round(100 * entry["correct"] / answered, 1) if answered else None,
            "declined": entry["declined"],
            "synonym_accuracy": round(100 * entry["synonym_correct"] / synonyms, 1),
            "prompt_tokens_per_q": round(entry["prompt_tokens"] / count),
            "latency_ms_per_q": round(entry["latency_ms"] / count),
        })
    report(f"NL accuracy, suite {suite} ({count} questions, {synonyms} needing synonyms; model "
           f"{config.model or '-'})", rows_out,
           ["planner", "execution_accuracy", "accuracy_when_answering", "declined", "synonym_accuracy",
            "prompt_tokens_per_q", "latency_ms_per_q"], as_json=as_json, extra={"details": details})
