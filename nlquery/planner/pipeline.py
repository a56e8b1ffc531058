"""Question -> linked schema -> prompt -> SQL -> guard -> run, with a repair loop.

Every candidate goes through the guard (with the source's policy and schema) before
it can run; a refusal, an unknown name (with its "did you mean" hint) or a database
error goes back to the model for another attempt. A candidate that is not read-only
never runs, however many attempts.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.models import QueryResult, Schema
from nlquery.errors import NLQueryError, QuestionNotAnswerable
from nlquery.guard import SafeQuery
from nlquery.planner.answer import Answer, Attempt
from nlquery.planner.linking import DEFAULT_BUDGET_TOKENS, SchemaLinker
from nlquery.planner.llm import LLMClient, parse_candidate
from nlquery.planner.prompt import Example, build_messages, render_schema
from nlquery.semantic import SemanticMapping, with_comments

# Errors worth showing the model: it can fix its own query.
REPAIRABLE = {"query_not_read_only", "invalid_query", "access_denied", "invalid_request",
              "query_execution_failed", "query_timeout"}


@dataclass
class PlanningContext:
    """Everything the planners know about one source."""

    dialect: str
    schema: Schema
    mappings: Mapping[str, SemanticMapping]
    value_hints: Mapping[str, list[Any]]
    linker: SchemaLinker
    validate: Callable[[str], SafeQuery]
    execute: Callable[[SafeQuery, Sequence[Any]], QueryResult]
    examples: Sequence[Example] = ()
    today: dt.date | None = None
    timezone: str | None = None
    budget_tokens: int = DEFAULT_BUDGET_TOKENS


def ask_llm(question: str, context: PlanningContext, client: LLMClient, *, max_attempts: int = 3) -> Answer:
    timings = {"linking": 0.0, "llm": 0.0, "validation": 0.0, "execution": 0.0}
    started = time.perf_counter()
    linked = context.linker.link(question, budget_tokens=context.budget_tokens)
    described = with_comments(context.schema, context.mappings)
    shown = set(linked.names)
    hints = {k: v for k, v in context.value_hints.items() if k.rsplit(".", 1)[0] in shown}
    schema_text = render_schema(linked, described, hints)
    timings["linking"] = (time.perf_counter() - started) * 1000

    usage = {"prompt_tokens": 0, "completion_tokens": 0}
    attempts: list[Attempt] = []
    feedback: list[tuple[str, str]] = []
    last_error: NLQueryError | None = None
    for _ in range(max_attempts):
        messages = build_messages(question, context.dialect, schema_text, examples=context.examples,
                                  today=context.today, timezone=context.timezone, feedback=feedback)
        completion = client.complete(messages)
        timings["llm"] += completion.latency_ms
        usage["prompt_tokens"] += completion.prompt_tokens
        usage["completion_tokens"] += completion.completion_tokens
        candidate = parse_candidate(completion.text)
        if candidate is None:
            error = QuestionNotAnswerable("the model's answer held no SQL")
            attempts.append(Attempt(completion.text[:500], [], error.to_dict()))
            feedback.append((completion.text[:500], 'no SQL found; answer with JSON {"sql": ..., "parameters": [...]}'))
            last_error = error
            continue
        try:
            mark = time.perf_counter()
            safe = context.validate(candidate.sql)
            timings["validation"] += (time.perf_counter() - mark) * 1000
            mark = time.perf_counter()
            result = context.execute(safe, candidate.parameters)
            timings["execution"] += (time.perf_counter() - mark) * 1000
        except NLQueryError as exc:
            if exc.code not in REPAIRABLE:
                raise
            attempts.append(Attempt(candidate.sql, candidate.parameters, exc.to_dict()))
            feedback.append((candidate.sql, f"{exc.code}: {exc.message}"))
            last_error = exc
            continue
        attempts.append(Attempt(candidate.sql, candidate.parameters))
        return Answer(question=question, sql=safe.sql, parameters=list(candidate.parameters), result=result,
                      explanation=candidate.explanation, tables_used=list(safe.tables), attempts=attempts,
                      planner="llm", linked_tables=linked.names, usage=usage, timings=timings)
    assert last_error is not None
    error = type(last_error)(f"no acceptable query after {max_attempts} attempts; last: {last_error.message}")
    error.attempts = attempts  # type: ignore[attr-defined]
    raise error
