"""NL execution accuracy: result sets compared, not SQL text.

Contenders, same questions, same model and endpoint, one run:

* ``ours``: the LLM pipeline (linking, mappings, value hints, examples, repair loop);
* ``naive``: the whole schema as DDL, no linking, no mappings, no hints, no repair: one attempt;
* ``langchain``: LangChain's ``create_sql_query_chain`` over ``SQLDatabase`` (when installed);
* ``rules``: the offline rules planner (no LLM); its declines are counted apart.

Suites: ``--suite demo`` (the shop, default) or ``--suite music`` (the 11-table music
store), ``--spider DIR`` and ``--bird DIR`` (see nl_suites); ``--wide N`` hides the demo or
music database among N generated distractor tables (linking recall reported; naive gets the
whole DDL only when it fits ``--context-tokens``).
Switches for what each part is worth: ``--candidates N``, ``--no-repair``, ``--no-metrics``.
LLM contenders need an OpenAI-compatible endpoint (``NLQUERY_LLM_BASE_URL``,
``NLQUERY_LLM_MODEL``; ``../shared/tools/local-llm start`` gives one offline).
"""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from benchmarks.harness import report
from benchmarks.nl_suites import SUITES, Case, Suite, bird_suite, spider_suite
from connectors.sqlite import SQLiteConnector
from nlquery import Engine, semantic
from nlquery.errors import NLQueryError
from nlquery.planner import LLMClient, LLMConfig, parse_candidate
from nlquery.planner.linking import LinkedSchema
from nlquery.planner.prompt import build_messages, estimate_tokens, hinted_columns, plain_ddl, render_compact, render_schema
from nlquery.semantic import with_comments

CONTENDERS = ("ours", "naive", "langchain", "rules")
LLM_CONTENDERS = {"ours", "naive", "langchain"}
MAX_ROWS = 10_000


@dataclass
class Prediction:
    """What a contender answered: its SQL and rows, or why it did not answer."""

    sql: str | None = None
    rows: list[list[Any]] | None = None
    prompt_tokens: int | None = 0
    declined: bool = False
    error: str | None = None
    confidence: float | None = None


def _normal(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, (int, str)) or value is None:
        return value
    return str(value)


def same_result(gold: list[list[Any]], got: list[list[Any]], *, ordered: bool = False) -> bool:
    """Equal as multisets of rows (as sequences when ``ordered``); extra columns in
    ``got`` are allowed when some of its columns, in some order, reproduce the gold ones."""
    if not got:
        return not gold
    if not gold:
        return False
    width = len(gold[0])
    want = [tuple(_normal(v) for v in row) for row in gold]
    columns = range(len(got[0]))
    for chosen in itertools.permutations(columns, width) if len(got[0]) <= 5 else [tuple(range(width))]:
        have = [tuple(_normal(row[i]) for i in chosen) for row in got]
        if (have == want) if ordered else (Counter(have) == Counter(want)):
            return True
    return False


def _run_sql(engine: Engine, source: str, sql: str, parameters: list[Any] | None = None) -> Prediction:
    try:
        return Prediction(sql=sql, rows=engine.query(source, sql, parameters, max_rows=MAX_ROWS).rows)
    except NLQueryError as exc:
        return Prediction(sql=sql, error=f"{exc.code}: {exc.message}")


def ask_ours(engine: Engine, source: str, case: Case, today: dt.date, planner: str, *, candidates: int = 1,
             repair: bool = True) -> Prediction:
    try:
        answer = engine.ask(source, case.prompt, planner=planner, today=today, max_rows=MAX_ROWS,
                            **({"candidates": candidates, "repair": repair} if planner == "llm" else {}))
    except NLQueryError as exc:
        return Prediction(declined=planner == "rules" and exc.code == "question_not_answerable",
                          error=f"{exc.code}: {exc.message}")
    return Prediction(sql=answer.sql, rows=answer.result.rows, prompt_tokens=answer.usage["prompt_tokens"],
                      confidence=answer.confidence)


def ask_naive(client: LLMClient, engine: Engine, source: str, case: Case, today: dt.date,
              context_tokens: int = 8192) -> Prediction:
    schema = engine.schema(source)
    linked = LinkedSchema(schema=schema, tables=schema.tables, scores={})
    messages = build_messages(case.prompt, "sqlite", render_schema(linked, {}, {}), today=today,
                              dialect_note=SQLiteConnector.dialect_facts.prompt_notes)
    if estimate_tokens("".join(m["content"] for m in messages)) + 300 > context_tokens:
        return Prediction(prompt_tokens=None, error=f"does not fit: the whole schema is more than the model's "
                                                    f"{context_tokens}-token context")
    try:
        completion = client.complete(messages)
    except NLQueryError as exc:
        return Prediction(error=f"{exc.code}: {exc.message}")
    candidate = parse_candidate(completion.text)
    if candidate is None:
        return Prediction(prompt_tokens=completion.prompt_tokens, error="no SQL in the answer")
    prediction = _run_sql(engine, source, candidate.sql, candidate.parameters)
    prediction.prompt_tokens = completion.prompt_tokens
    return prediction


def langchain_contender(config: LLMConfig, databases: dict[str, Path]) -> Callable[[Engine, str, Case], Prediction]:
    """LangChain's SQL chain with the same endpoint and model; its SQL runs through our
    guarded execution so both are judged on the same rows. UsageError when not installed."""
    try:
        from langchain_community.callbacks import get_openai_callback
        from langchain_community.utilities import SQLDatabase
        from langchain_openai import ChatOpenAI
        try:
            from langchain.chains import create_sql_query_chain
        except ImportError:  # LangChain 1.x moved the legacy chains
            from langchain_classic.chains import create_sql_query_chain
    except ImportError as exc:
        raise click.UsageError(f"the langchain contender needs langchain, langchain-community and "
                               f"langchain-openai installed ({exc})") from None
    llm = ChatOpenAI(model=config.model or "default", base_url=config.base_url, api_key=config.api_key or "none",
                     temperature=0, seed=0, timeout=config.timeout_s)
    chains = {db_id: create_sql_query_chain(llm, SQLDatabase.from_uri(f"sqlite:///{path}"))
              for db_id, path in databases.items()}

    def ask(engine: Engine, source: str, case: Case) -> Prediction:
        try:
            with get_openai_callback() as usage:
                text = chains[case.db_id].invoke({"question": case.prompt})
        except Exception as exc:  # the peer failing is a result, not the end of the run
            return Prediction(error=f"{type(exc).__name__}: {str(exc)[:200]}", prompt_tokens=None)
        sql = text.split("SQLQuery:", 1)[-1].split("SQLResult:", 1)[0].strip().strip("`")
        prediction = _run_sql(engine, source, sql.removeprefix("sql").strip())
        prediction.prompt_tokens = usage.prompt_tokens
        return prediction
    return ask


def gold_tables(sql: str) -> set[str]:
    import sqlglot
    from sqlglot import exp

    return {t.name.lower() for t in sqlglot.parse_one(sql, read="sqlite").find_all(exp.Table)}


def linking_facts(engine: Engine, case: Case) -> dict[str, Any]:
    """Were the gold tables linked, and the schema part of our prompt vs the plain DDL of
    the linked tables (tokens, estimated alike)."""
    linker, snapshot, mappings = engine.schema_linker(case.db_id)
    linked = linker.link(case.prompt)
    hints = hinted_columns(case.prompt, linked, snapshot.value_hints)
    ours = estimate_tokens(render_compact(linked, with_comments(snapshot.schema, mappings), hints, case.prompt))
    ddl = estimate_tokens(plain_ddl(linked.tables, snapshot.schema))
    names = {n.rsplit(".", 1)[-1].lower() for n in linked.names}
    return {"recall": gold_tables(case.gold_sql) <= names, "schema_tokens": ours, "ddl_tokens": ddl}


def gold_rows(suite: Suite) -> list[list[list[Any]]]:
    gold = []
    for case in suite.cases:
        conn = sqlite3.connect(f"file:{suite.databases[case.db_id]}?mode=ro", uri=True)
        try:
            gold.append([list(row) for row in conn.execute(case.gold_sql).fetchall()])
        finally:
            conn.close()
    return gold


def summarize(planner: str, outcomes: list[dict[str, Any]], cases: list[Case]) -> dict[str, Any]:
    count = len(outcomes)
    correct = sum(o["correct"] for o in outcomes)
    declined = sum(o["declined"] for o in outcomes)
    synonyms = [o for o, c in zip(outcomes, cases) if c.needs_synonym]
    by_difficulty: dict[str, list[bool]] = defaultdict(list)
    by_level: dict[str, list[bool]] = defaultdict(list)
    for outcome, case in zip(outcomes, cases):
        by_difficulty[case.difficulty].append(outcome["correct"])
        if case.level:
            by_level[case.level].append(outcome["correct"])
    tokens = [o["prompt_tokens"] for o in outcomes if o["prompt_tokens"] is not None]
    linking = [o["linking"] for o in outcomes if o.get("linking")]
    fits = [o for o in outcomes if not (o["error"] or "").startswith("does not fit")]
    extra: dict[str, Any] = {}
    if linking:
        extra["linking_recall"] = round(100 * sum(f["recall"] for f in linking) / len(linking), 1)
        extra["schema_vs_ddl"] = round(sum(f["schema_tokens"] for f in linking) / sum(f["ddl_tokens"] for f in linking), 2)
    if len(fits) < count:
        extra["not_fitting"] = count - len(fits)
    confidences = [o["confidence"] for o in outcomes if o.get("confidence") is not None]
    if confidences:
        extra["mean_confidence"] = round(sum(confidences) / len(confidences), 2)
    if by_level:  # the suite author's levels, in their order (easy, medium, hard)
        extra["by_level"] = {level: f"{sum(hits)}/{len(hits)}" for level, hits in by_level.items()}
    return {**extra,
        "planner": planner, "questions": count,
        "execution_accuracy": round(100 * correct / count, 1),
        "accuracy_when_answering": round(100 * correct / (count - declined), 1) if count > declined else None,
        "declined": declined,
        "synonym_accuracy": round(100 * sum(o["correct"] for o in synonyms) / len(synonyms), 1) if synonyms else None,
        "by_difficulty": {level: f"{sum(hits)}/{len(hits)}" for level, hits in sorted(by_difficulty.items())},
        "prompt_tokens_per_q": round(sum(tokens) / len(tokens)) if tokens else None,
        "latency_ms_per_q": round(sum(o["latency_ms"] for o in outcomes) / count),
    }


def run_suite(suite: Suite, wanted: list[str], config: LLMConfig, today: dt.date, home: Path, *,
              candidates: int = 1, repair: bool = True, context_tokens: int = 8192) -> dict[str, Any]:
    gold = gold_rows(suite)
    outcomes: dict[str, list[dict[str, Any]]] = {planner: [] for planner in wanted}
    with Engine(home=home, llm=config) as engine:
        for db_id, path in suite.databases.items():
            engine.add_source(db_id, "sqlite", {"database": str(path)})
            if db_id in suite.mappings:
                engine.update_mappings(db_id, suite.mappings[db_id])
        client = LLMClient(config) if "naive" in wanted else None
        langchain = langchain_contender(config, suite.databases) if "langchain" in wanted else None
        for index, (case, expected) in enumerate(zip(suite.cases, gold)):
            line = []
            for planner in wanted:
                started = time.perf_counter()
                if planner == "naive":
                    prediction = ask_naive(client, engine, case.db_id, case, today,  # type: ignore[arg-type]
                                           context_tokens)
                elif planner == "langchain":
                    prediction = langchain(engine, case.db_id, case)  # type: ignore[misc]
                else:
                    prediction = ask_ours(engine, case.db_id, case, today, "llm" if planner == "ours" else "rules",
                                          candidates=candidates, repair=repair)
                correct = prediction.rows is not None and same_result(expected, prediction.rows, ordered=case.ordered)
                outcomes[planner].append({
                    "correct": correct, "declined": prediction.declined, "sql": prediction.sql,
                    "error": prediction.error, "prompt_tokens": prediction.prompt_tokens,
                    "latency_ms": (time.perf_counter() - started) * 1000, "confidence": prediction.confidence,
                    "linking": linking_facts(engine, case) if planner == "ours" else None,
                })
                line.append(f"{planner}={'ok' if correct else 'declined' if prediction.declined else 'wrong'}")
            print(f"  {index + 1}/{len(suite.cases)} {' '.join(line)}", file=sys.stderr)
    failures = [
        {"planner": planner, "db_id": case.db_id, "question": case.question, "difficulty": case.difficulty,
         **({"level": case.level} if case.level else {}),
         "gold_sql": case.gold_sql, "predicted_sql": outcome["sql"], "error": outcome["error"]}
        for planner in wanted for case, outcome in zip(suite.cases, outcomes[planner])
        if not outcome["correct"] and not outcome["declined"]
    ]
    return {
        "summary": [summarize(planner, outcomes[planner], suite.cases) for planner in wanted],
        "failures": failures,
        "predictions": {planner: [o["sql"] for o in outcomes[planner]] for planner in wanted},
    }


def add_mapping_files(suite: Suite, specs: tuple[str, ...]) -> None:
    """Merge ``[DB_ID=]FILE`` mapping documents over the suite's own mappings."""
    for spec in specs:
        db_id, _, file = spec.rpartition("=")  # no "=": ("", "", spec)
        if db_id and db_id not in suite.databases:
            raise click.UsageError(f"--mappings {spec}: the suite has no database {db_id!r} "
                                   f"(it has {', '.join(sorted(suite.databases))})")
        try:
            patch = semantic.load_file(Path(file))
        except NLQueryError as exc:
            raise click.UsageError(f"--mappings {spec}: {exc.message}") from exc
        for target in [db_id] if db_id else list(suite.databases):
            suite.mappings[target] = {**suite.mappings.get(target, {}), **patch}


def load_suite(spider: Path | None, bird: Path | None, split: str | None, directory: Path, today: dt.date,
               *, metrics: bool = True, wide: int = 0, name: str = "demo") -> Suite:
    if spider and bird:
        raise click.UsageError("give --spider or --bird, not both")
    if (spider or bird) and name != "demo":
        raise click.UsageError(f"--suite {name} is a built-in suite: give it or --spider/--bird, not both")
    if spider:
        return spider_suite(spider, split or "dev.json")
    if bird:
        return bird_suite(bird, split or "dev.json")
    return SUITES[name](directory, today, metrics=metrics, wide=wide)


@click.command()
@click.option("--suite", "suite_name", type=click.Choice(list(SUITES)), default="demo", show_default=True,
              help="The built-in suite: demo (the 4-table shop) or music (the 11-table music store, "
                   "questions labelled easy/medium/hard, business vocabulary as metrics and segments).")
@click.option("--spider", type=click.Path(file_okay=False, path_type=Path),
              help="A Spider-format directory (tables.json, dev.json, database/<db>/<db>.sqlite).")
@click.option("--bird", type=click.Path(file_okay=False, path_type=Path),
              help="A BIRD-format directory (dev.json with evidence, dev_databases/<db>/<db>.sqlite).")
@click.option("--split", help="The questions file inside the directory.  [default: dev.json]")
@click.option("--planners", default="ours,naive,rules", show_default=True,
              help=f"Comma list of contenders: {', '.join(CONTENDERS)}.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N questions.")
@click.option("--sample", type=click.IntRange(min=1),
              help="Only N questions spread evenly over the suite (easy to hard), instead of the first N.")
@click.option("--wide", type=click.IntRange(min=0), default=0, show_default=True,
              help="Demo and music suites: hide the database among N generated distractor tables.")
@click.option("--candidates", type=click.IntRange(1, 8), default=1, show_default=True,
              help="ours: LLM candidates per question, chosen by agreement of their results.")
@click.option("--repair/--no-repair", default=True, show_default=True, help="ours: the repair loop.")
@click.option("--metrics/--no-metrics", default=True, show_default=True,
              help="Demo and music suites: import their metrics and segments as mappings.")
@click.option("--context-tokens", type=click.IntRange(min=512), default=8192, show_default=True,
              help="The model's context: naive is reported as not fitting beyond it.")
@click.option("--mappings", "mapping_files", multiple=True, metavar="[DB_ID=]FILE",
              help="Import a mapping document (YAML or JSON: descriptions, synonyms, metrics, segments; what "
                   "`nlquery mappings import` reads) into database DB_ID of the suite, or into every one of its "
                   "databases without DB_ID. Repeatable; merged over the suite's own mappings.")
@click.option("--twice", is_flag=True,
              help="Run the suite twice and report how many predictions were identical (temperature 0).")
@click.option("--failures/--no-failures", default=True, show_default=True,
              help="List every wrong answer with predicted and gold SQL.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def main(suite_name: str, spider: Path | None, bird: Path | None, split: str | None, planners: str, limit: int | None,
         sample: int | None, wide: int, candidates: int, repair: bool, metrics: bool, context_tokens: int,
         mapping_files: tuple[str, ...], twice: bool, failures: bool, as_json: bool) -> None:
    """NL execution accuracy: our pipeline vs a naive prompt, LangChain and the rules planner."""
    wanted = [p.strip() for p in planners.split(",") if p.strip()]
    unknown = set(wanted) - set(CONTENDERS)
    if unknown or not wanted:
        raise click.UsageError(f"unknown contender(s) {', '.join(sorted(unknown))}; "
                               f"choose from {', '.join(CONTENDERS)}")
    config = LLMConfig.from_environment(timeout_s=300, max_retries=0)
    if LLM_CONTENDERS & set(wanted) and not config.configured:
        raise click.UsageError(f"{', '.join(sorted(LLM_CONTENDERS & set(wanted)))} need NLQUERY_LLM_BASE_URL "
                               "(try ../shared/tools/local-llm start), or use --planners rules")
    today = dt.date.today()  # the shop and the music store end today: models may use the database's clock
    with tempfile.TemporaryDirectory() as tmp:
        suite = load_suite(spider, bird, split, Path(tmp), today, metrics=metrics, wide=wide, name=suite_name)
        add_mapping_files(suite, mapping_files)
        suite.cases = suite.cases[:limit] if limit else suite.cases
        if sample and sample < len(suite.cases):
            step = len(suite.cases) / sample
            suite.cases = [suite.cases[int(i * step + step / 2)] for i in range(sample)]
        switches = {"candidates": candidates, "repair": repair, "context_tokens": context_tokens}
        result = run_suite(suite, wanted, config, today, Path(tmp) / "home", **switches)
        extra: dict[str, Any] = {"suite": suite.name, "model": config.model, "failures": result["failures"],
                                 "switches": {**switches, "metrics": metrics}}
        if twice:
            again = run_suite(suite, wanted, config, today, Path(tmp) / "home-again", **switches)
            extra["identical_predictions"] = {
                planner: f"{sum(a == b for a, b in zip(result['predictions'][planner], again['predictions'][planner]))}"
                         f"/{len(suite.cases)}"
                for planner in wanted
            }
    if failures and not as_json:
        for failure in result["failures"]:
            level = f"{failure['level']}, Spider {failure['difficulty']}" if "level" in failure else failure["difficulty"]
            click.echo(f"[{failure['planner']}] {failure['db_id']}: {failure['question']} ({level})\n"
                       f"    gold:      {failure['gold_sql']}\n"
                       f"    predicted: {failure['predicted_sql'] or '-'}"
                       + (f"\n    error:     {failure['error']}" if failure["error"] else ""))
    synonyms = sum(c.needs_synonym for c in suite.cases)
    columns = ["planner", "execution_accuracy", "accuracy_when_answering", "declined", "by_difficulty",
               "prompt_tokens_per_q", "latency_ms_per_q"]
    for column in ("by_level", "linking_recall", "schema_vs_ddl", "not_fitting", "mean_confidence"):
        if any(column in row for row in result["summary"]):
            columns.append(column)
    if synonyms:
        columns.insert(4, "synonym_accuracy")
    report(f"NL accuracy, suite {suite.name} ({len(suite.cases)} questions"
           + (f", {synonyms} needing synonyms" if synonyms else "") + f"; model {config.model or '-'}; "
           f"candidates {candidates}, repair {'on' if repair else 'off'}, metrics {'on' if metrics else 'off'})",
           result["summary"], columns, as_json=as_json, extra=extra)
    if twice and not as_json:
        click.echo(f"identical predictions across two runs: {extra['identical_predictions']}")
