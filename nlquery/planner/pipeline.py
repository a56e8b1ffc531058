"""Question -> linked schema -> prompt -> SQL -> guard -> run, with a repair loop and
candidates chosen by their results.

Every candidate goes through the guard (with the source's policy and schema) before
it can run; a candidate that is not read-only never runs, however many attempts.

Repairs carry the fix (:mod:`nlquery.planner.repair`): an unknown column comes back
with the tables that have it and the join path to them, and those tables are added
to the schema shown next time; an unknown table with the closest tables and their
keys. A candidate identical to an earlier one is not an attempt: the model is asked
again with sampling and another wording. Before the guard sees a candidate, slips are
mended without asking (:func:`requalified`: a column under the wrong table's alias;
:func:`rejoined`: joins on a key one side lacks, rebuilt along foreign keys;
:func:`regrouped`: a returned column neither grouped nor aggregated, read from the grouped table;
:func:`drop_unasked_limit`; :func:`keep_ties`) and the values it wrote are bound (:func:`bind_literals`).
A query that runs but looks wrong (no rows, a date compared to a year number, a join no
foreign key supports, rounding the question asked for and the SQL lacks ...) is sent
back once as a warning (the warnings a revision left unfixed, beside some it fixed,
once more); if the model stands by it (or cannot do better) it is the answer.

With ``candidates=N`` several candidates (prompt variants, then sampled completions)
are each repaired and run, and the answer is the result set most of them agree on;
errors and empty results lose. ``Answer.confidence`` is the share that agreed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.models import QueryResult, Schema
from nlquery.errors import LLMUnavailable, NLQueryError, QuestionNotAnswerable
from nlquery.guard import SafeQuery
from nlquery.planner.answer import Answer, Attempt
from nlquery.planner.joins import joined_to_keys, rejoined
from nlquery.planner.linking import DEFAULT_BUDGET_TOKENS, LinkedSchema, SchemaLinker
from nlquery.planner.asked import (asked_entity_warnings, asked_warnings, drop_unasked_limit, keep_ties,
                                   undivided_metrics)
from nlquery.planner.literals import bind_literals, numbered_placeholders, with_named_values
from nlquery.planner.llm import LLMClient, parse_candidate
from nlquery.planner.prompt import Example, build_messages, hinted_columns, render_compact
from nlquery.planner.repair import JoinGraph, explain, normalized, regrouped, requalified, warnings_for
from nlquery.semantic import SemanticMapping, with_comments

# Errors worth showing the model: it can fix its own query.
REPAIRABLE = {"query_not_read_only", "invalid_query", "access_denied", "invalid_request",
              "query_execution_failed", "query_timeout"}
SAMPLING_TEMPERATURE = 0.7
MAX_CANDIDATES = 8
MAX_WARNING_ROUNDS = 2


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
    dialect_note: str = ""  # the connector's DialectFacts.prompt_notes
    budget_tokens: int = DEFAULT_BUDGET_TOKENS
    _graph: JoinGraph | None = field(default=None, repr=False)

    @property
    def graph(self) -> JoinGraph:
        if self._graph is None:
            self._graph = JoinGraph(self.schema)
        return self._graph


@dataclass
class _Run:
    """Shared by the candidates of one question."""

    question: str
    context: PlanningContext
    client: LLMClient
    linked: LinkedSchema
    described: dict[str, SemanticMapping]
    hints: dict[str, list[Any]]
    usage: dict[str, int]
    timings: dict[str, float]
    repair: bool

    def schema_text(self, extra: Sequence[str]) -> str:
        tables = list(self.linked.tables)
        names = set(self.linked.names)
        for name in extra:
            table = self.context.schema.table(name)
            if table is not None and name not in names:
                tables.append(table)
                names.add(name)
        linked = dataclasses.replace(self.linked, tables=tables)
        return render_compact(linked, self.described, self.hints, self.question)


@dataclass
class _Outcome:
    answer: Answer | None
    error: NLQueryError | None
    attempts: list[Attempt]
    repeats: int = 0  # answers identical to an earlier one (not attempts)


def ask_llm(question: str, context: PlanningContext, client: LLMClient, *, max_attempts: int = 3,
            candidates: int = 1, repair: bool = True) -> Answer:
    """Plan, check, run and (with ``repair``) repair; with ``candidates`` > 1, choose
    among several candidates by agreement of their results."""
    candidates = max(1, min(int(candidates), MAX_CANDIDATES))
    timings = {"linking": 0.0, "llm": 0.0, "validation": 0.0, "execution": 0.0}
    started = time.perf_counter()
    linked = context.linker.link(question, budget_tokens=context.budget_tokens)
    described = with_comments(context.schema, context.mappings)
    hints = hinted_columns(question, linked, context.value_hints)
    timings["linking"] = (time.perf_counter() - started) * 1000
    run = _Run(question, context, client, linked, described, hints,
               {"prompt_tokens": 0, "completion_tokens": 0}, timings, repair)
    if not repair:
        max_attempts = 1

    if candidates == 1:
        outcome = _solve(run, 0, max_attempts)
        if outcome.answer is not None:
            return outcome.answer
        _fail(outcome, max_attempts)

    outcomes: list[_Outcome] = []
    for index in range(candidates):
        outcome = _solve(run, index, max_attempts)
        outcomes.append(outcome)
        groups = _groups(outcomes)
        if groups and groups[0][1] * 2 > candidates:
            break  # a majority already: the others cannot outvote it
    return _choose(question, outcomes, candidates, max_attempts)


def _fail(outcome: _Outcome, max_attempts: int) -> None:
    last_error = outcome.error
    assert last_error is not None
    tried = len(outcome.attempts)
    repeated = f" (and {outcome.repeats} repeat{'s' if outcome.repeats != 1 else ''} of one)" if outcome.repeats else ""
    error = type(last_error)(f"no acceptable query after {tried} attempt{'s' if tried != 1 else ''}{repeated}; "
                             f"last: {last_error.message}")
    error.attempts = outcome.attempts  # type: ignore[attr-defined]
    raise error


def _signature(result: QueryResult) -> tuple:
    def norm(value: Any) -> str:
        if isinstance(value, float):
            return repr(round(value, 4))
        return repr(value)
    return tuple(sorted(tuple(sorted(norm(v) for v in row)) for row in result.rows))


def _groups(outcomes: Sequence[_Outcome]) -> list[tuple[tuple, int, int]]:
    """(result signature, votes, first index) of candidates that ran and returned rows, most votes first."""
    votes: Counter = Counter()
    first: dict[tuple, int] = {}
    for index, outcome in enumerate(outcomes):
        if outcome.answer is not None and outcome.answer.result.rows:
            signature = _signature(outcome.answer.result)
            votes[signature] += 1
            first.setdefault(signature, index)
    return sorted(((s, n, first[s]) for s, n in votes.items()), key=lambda g: (-g[1], g[2]))


def _choose(question: str, outcomes: list[_Outcome], wanted: int, max_attempts: int) -> Answer:
    groups = _groups(outcomes)
    ran = [o for o in outcomes if o.answer is not None]
    if groups:
        signature, votes, index = groups[0]
        answer = outcomes[index].answer
        assert answer is not None
    elif ran:  # every candidate that ran returned no rows
        answer, votes = ran[0].answer, len(ran)  # type: ignore[assignment]
        assert answer is not None
    else:
        _fail(outcomes[0], max_attempts)
        raise AssertionError  # unreachable
    answer.attempts = [a for o in outcomes for a in o.attempts]
    answer.confidence = round(votes / len(outcomes), 2)
    answer.candidates = [
        {"sql": o.answer.sql if o.answer else (o.attempts[-1].sql if o.attempts else ""),
         "row_count": o.answer.result.row_count if o.answer else None,
         "error": None if o.answer else (o.error.to_dict() if o.error else None),
         "chosen": o.answer is answer,
         "agrees": bool(o.answer is not None and o.answer.result.rows and groups
                        and _signature(o.answer.result) == groups[0][0])}
        for o in outcomes
    ]
    if len(groups) > 1 or len(ran) < len(outcomes):
        answer.notes.append(f"candidates disagree: {votes} of {len(outcomes)} gave this result"
                            + (f"; {len(groups) - 1} other result(s)" if len(groups) > 1 else "")
                            + (f"; {len(outcomes) - len(ran)} failed" if len(ran) < len(outcomes) else ""))
    return answer


def _solve(run: _Run, index: int, max_attempts: int) -> _Outcome:
    """One candidate: ask, check, run, repair. ``index`` > 0 words the prompt differently
    (1, 2) and then samples."""
    context, usage, timings = run.context, run.usage, run.timings
    attempts: list[Attempt] = []
    feedback: list[tuple[str, ...]] = []
    extra_tables: list[str] = []
    seen: set[str] = set()
    variant = index
    temperature: float | None = SAMPLING_TEMPERATURE if index >= 3 else None
    seed = index
    held: Answer | None = None  # ran, was sent back with a warning
    held_key: str | None = None
    warned: set[str] = set()  # the warnings of the last warning round
    warning_rounds = 0
    last_error: NLQueryError | None = None
    tried, calls, repeats = 0, 0, 0
    while tried < max_attempts and calls < max_attempts + 2:
        messages = build_messages(run.question, context.dialect, run.schema_text(extra_tables),
                                  examples=context.examples, today=context.today, timezone=context.timezone,
                                  feedback=feedback, variant=variant, dialect_note=context.dialect_note)
        try:
            completion = run.client.complete(messages, temperature=temperature, seed=seed)
        except LLMUnavailable:
            if held is not None:
                return _Outcome(held, None, attempts)  # the warning round failed: the query that ran stands
            raise
        calls += 1
        timings["llm"] += completion.latency_ms
        usage["prompt_tokens"] += completion.prompt_tokens
        usage["completion_tokens"] += completion.completion_tokens
        candidate = parse_candidate(completion.text)
        if candidate is None:
            tried += 1
            error = QuestionNotAnswerable("the model's answer held no SQL")
            attempts.append(Attempt(completion.text[:500], [], error.to_dict()))
            feedback.append((completion.text[:500], 'no SQL found; answer with JSON {"sql": ..., "parameters": [...]}'))
            last_error = error
            continue
        written = candidate.sql  # what the model wrote: what it is shown again, not our mended form
        sql = requalified(candidate.sql, context.dialect, context.schema, context.graph)
        sql = rejoined(sql, context.dialect, context.schema, context.graph)
        sql = joined_to_keys(sql, context.dialect, context.schema, context.graph)
        sql = regrouped(sql, context.dialect, context.schema)
        sql = drop_unasked_limit(sql, run.question, context.dialect)
        sql = numbered_placeholders(sql, context.dialect)
        sql = keep_ties(sql, run.question, context.dialect)
        sql = undivided_metrics(sql, run.question, context.dialect, run.linked.definitions, context.mappings)
        sql, parameters = bind_literals(sql, candidate.parameters, context.dialect)
        parameters = with_named_values(sql, parameters, context.dialect, run.linked.matched_values)
        candidate = dataclasses.replace(candidate, sql=sql, parameters=parameters)
        key = normalized(candidate.sql, context.dialect) + repr(candidate.parameters)
        if key == held_key and held is not None:
            return _Outcome(held, None, attempts)  # the model stands by its query after the warning
        if key in seen:
            # The same SQL again is not an attempt: ask again, sampled and worded differently.
            temperature, variant, seed = SAMPLING_TEMPERATURE, variant + 1, seed + 101
            repeats += 1
            continue
        seen.add(key)
        tried += 1
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
            last_error = exc
            if run.repair:
                fix = explain(exc.code, exc.message, candidate.sql, context.dialect, context.schema, context.graph,
                              context.mappings, shown=[*run.linked.names, *extra_tables])
                extra_tables.extend(t for t in fix.tables if t not in extra_tables)
                feedback.append((written, fix.message))
            else:
                feedback.append((written, f"{exc.code}: {exc.message}"))
            continue
        attempts.append(Attempt(candidate.sql, candidate.parameters))
        answer = Answer(question=run.question, sql=safe.sql, parameters=list(candidate.parameters), result=result,
                        explanation=candidate.explanation, tables_used=list(safe.tables), attempts=attempts,
                        planner="llm", linked_tables=run.linked.names, usage=usage, timings=timings)
        if run.repair and warning_rounds < MAX_WARNING_ROUNDS:
            warnings = asked_warnings(candidate.sql, run.question, context.dialect, run.linked.definitions,
                                      context.mappings) + asked_entity_warnings(
                candidate.sql, run.question, context.dialect, context.schema, context.mappings) + warnings_for(
                candidate.sql, context.dialect, context.schema, candidate.parameters, result.row_count, context.graph,
                context.value_hints, rows=result.rows)
            # A revision that fixed some of the warnings and not the others hears the rest
            # once more (a small model fixes the first of three and drops the third);
            # one that fixed none, or drew new ones, stands.
            if warnings and (held is None or set(warnings) < warned):
                held, held_key, warned = answer, key, set(warnings)
                warning_rounds += 1
                answer.notes.extend(f"warning: {w}" for w in warnings)
                feedback.append((written, " ".join(warnings), "warning"))
                continue
        if held is not None and not result.rows and held.result.rows:
            return _Outcome(held, None, attempts)
        return _Outcome(answer, None, attempts)
    if held is not None:
        return _Outcome(held, None, attempts)
    if last_error is None:
        last_error = QuestionNotAnswerable("the model repeated the same query")
    return _Outcome(None, last_error, attempts, repeats)
