"""The offline rules planner: simple questions answered from the schema and mappings
alone, no LLM.

Forms it answers, on one table (the best-linked one): how many / total / average /
minimum / maximum of a measure; top N by a measure; grouping by a column ("per
country") or a period ("by month"); equality filters on stored values ("delivered
orders"); date ranges (today, yesterday, this/last week|month|year, last N days|weeks|
months|years, in 2025, in March [2026], since March [2026]). Metrics and segments of
the semantic layer named by the question: the metric's expression over its tables
(joined by foreign keys), optionally per a column or period and filtered by a segment,
stored values and a date range; a segment alone lists (or counts) its rows. Anything
else is ``question_not_answerable``: it declines rather than guesses.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Mapping
from typing import Any

from sqlglot import exp

from connectors.models import Column, Table
from nlquery.errors import QuestionNotAnswerable
from nlquery.guard.exposure import table_expression
from nlquery.planner.answer import Answer, Attempt
from nlquery.planner.linking import terms
from nlquery.planner.periods import parse_period
from nlquery.planner.pipeline import PlanningContext

NUMERIC = re.compile(r"int|numeric|decimal|real|float|double|money|number", re.IGNORECASE)
TEMPORAL = re.compile(r"date|time", re.IGNORECASE)
MEASURE_NAMES = re.compile(r"amount|total|price|value|revenue|cost|quantity|qty|sales", re.IGNORECASE)

AGGREGATES = [  # first match wins: "total number of" is a count
    ("COUNT", re.compile(r"\bhow many\b|\bnumber of\b|\bcount\b")),
    ("AVG", re.compile(r"\baverage\b|\bavg\b|\bmean\b")),
    ("MAX", re.compile(r"\bmax(imum)?\b|\bhighest\b|\blargest\b|\bbiggest\b|\bmost expensive\b")),
    ("MIN", re.compile(r"\bmin(imum)?\b|\blowest\b|\bsmallest\b|\bcheapest\b")),
    ("SUM", re.compile(r"\btotal\b|\bsum\b")),
]
# Beyond the declared forms: negation, distinctness, comparisons, ratios, nested aggregates.
OUT_OF_SCOPE = re.compile(
    r"\b(no|not|never|without|distinct|unique|more than|less than|fewer than|at least|at most|"
    r"share|percent|percentage|ratio|average number|per order|each order)\b"
)
SUPERLATIVE_TOP = re.compile(
    r"\b(?:top|the)\s+(\d{1,4})\s+(?:most expensive|cheapest|highest|lowest|largest|smallest|biggest|best|"
    r"most recent|latest)?\s*([a-z]+)"
)
HELP = ("the offline planner answers counts, totals, averages, minimums, maximums, top N and per-X "
        "breakdowns of one table, with date ranges and stored values; configure an LLM "
        "(NLQUERY_LLM_BASE_URL, NLQUERY_LLM_MODEL) for other questions")


def ask_rules(question: str, context: PlanningContext, date_buckets: Mapping[str, str] | None) -> Answer:
    started = time.perf_counter()
    text = " ".join(question.lower().split())
    linked = context.linker.link(question)
    if not linked.tables or linked.scores.get(linked.names[0], 0) <= 0:
        raise QuestionNotAnswerable(f"no table matches the question; {HELP}")
    if linked.definitions:
        return _ask_definition(question, text, linked, context, date_buckets, started)
    if OUT_OF_SCOPE.search(text):
        raise QuestionNotAnswerable(f"the question needs more than one table or a negation, comparison or "
                                    f"ratio; {HELP}")
    table = linked.tables[0]
    name = context.schema.qualified_name(table)
    other_values = [k for k in linked.matched_values if k.rsplit(".", 1)[0] != name]
    if other_values:
        raise QuestionNotAnswerable(f"the question filters on {', '.join(other_values)}, another table than "
                                    f"{name}; {HELP}")
    dialect = context.dialect
    quote = _quoter(dialect)
    params: list[Any] = []

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    top = SUPERLATIVE_TOP.search(text)
    if top and not re.search(r"\b(top|most|least|highest|lowest|largest|smallest|biggest|best|cheapest|latest)\b",
                             text):
        top = None
    if top and set(terms(top.group(2))) and not set(terms(top.group(2))) & _table_terms(name, table, context):
        raise QuestionNotAnswerable(f"the question ranks {top.group(2)}, not rows of {name}; {HELP}")
    aggregate = None if top else next((fn for fn, pattern in AGGREGATES if pattern.search(text)), None)
    if not top and aggregate is None:
        raise QuestionNotAnswerable(f"the question asks for no count, total, average, minimum, maximum or top N; {HELP}")
    measure = None
    recency = bool(top) and re.search(r"\b(most recent|latest|newest)\b", text) is not None
    if recency:
        measure = _date_column(table, name, text, context)
        if measure is None:
            raise QuestionNotAnswerable(f"{name} has no date column to sort by; {HELP}")
    elif top or aggregate != "COUNT":
        measure = _measure(table, name, text, context)
        if measure is None:
            raise QuestionNotAnswerable(f"found no numeric column of {name} to measure; {HELP}")

    conditions = []
    date_column = _date_column(table, name, text, context)
    period = parse_period(text, context.today or dt.date.today())
    if period is not None:
        if date_column is None:
            raise QuestionNotAnswerable(f"{name} has no date column for that period; {HELP}")
        start, end = period
        if start is not None:
            conditions.append(f"{quote(date_column.name)} >= {param(start.isoformat())}")
        if end is not None:
            conditions.append(f"{quote(date_column.name)} < {param(end.isoformat())}")
    for key, values in sorted(linked.matched_values.items()):
        table_key, column = key.rsplit(".", 1)
        if table_key != name:
            continue
        values = list(dict.fromkeys(values))
        if len(values) == 1:
            conditions.append(f"{quote(column)} = {param(values[0])}")
        else:
            conditions.append(f"{quote(column)} IN ({', '.join(param(v) for v in values)})")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    source = table_expression(table).sql(dialect=dialect)

    group = re.search(r"\b(?:by|per|for each|each)\s+([a-z][a-z_ ]*)", text)
    if top:
        assert measure is not None
        label = ", ".join(quote(c.name) for c in table.columns[:4] if c.name != measure.name)
        direction = "ASC" if re.search(r"\b(cheapest|lowest|smallest|least)\b", text) else "DESC"
        sql = (f"SELECT {label}, {quote(measure.name)} FROM {source}{where} "
               f"ORDER BY {quote(measure.name)} {direction} LIMIT {int(top.group(1))}")
    else:
        value = "COUNT(*)" if aggregate == "COUNT" else f"{aggregate}({quote(measure.name)})"  # type: ignore[union-attr]
        if aggregate in ("SUM", "AVG"):
            value = f"ROUND({value}, 2)"  # money-like measures: no float noise in the answer
        alias = quote("count" if aggregate == "COUNT" else f"{aggregate.lower()}_{measure.name}")  # type: ignore[union-attr]
        dimension = _dimension(group.group(1), table, name, context, date_column, date_buckets, quote) if group else None
        if group and dimension is None:
            raise QuestionNotAnswerable(f"cannot group {name} by '{group.group(1).strip()}'; {HELP}")
        if dimension:
            expression, label = dimension
            ordering = label if _is_period(group.group(1)) else f"{alias} DESC"  # type: ignore[union-attr]
            sql = (f"SELECT {expression} AS {label}, {value} AS {alias} FROM {source}{where} "
                   f"GROUP BY {expression} ORDER BY {ordering}")
        else:
            sql = f"SELECT {value} AS {alias} FROM {source}{where}"
    planning_ms = (time.perf_counter() - started) * 1000

    mark = time.perf_counter()
    safe = context.validate(sql)
    validation_ms = (time.perf_counter() - mark) * 1000
    mark = time.perf_counter()
    result = context.execute(safe, params)
    execution_ms = (time.perf_counter() - mark) * 1000
    return Answer(question=question, sql=safe.sql, parameters=params, result=result,
                  explanation=f"rules planner on {name}", tables_used=list(safe.tables),
                  attempts=[Attempt(safe.sql, params)], planner="rules", linked_tables=linked.names,
                  timings={"linking": planning_ms, "llm": 0.0, "validation": validation_ms,
                           "execution": execution_ms})


def _ask_definition(question: str, text: str, linked: Any, context: PlanningContext,
                    date_buckets: Mapping[str, str] | None, started: float) -> Answer:
    """A metric (optionally per X, for a segment, in a period) or a segment's rows."""
    from nlquery.semantic import definition_name

    metrics = [k for k in linked.definitions if k.startswith("metric:")]
    segments = [k for k in linked.definitions if k.startswith("segment:")]
    quote = _quoter(context.dialect)
    schema, graph = context.schema, context.graph
    params: list[Any] = []

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    involved: list[str] = []
    for key in metrics[:1] + segments[:1]:
        involved.extend(t for t in context.linker.definition_tables.get(key, []) if t not in involved)
    if not involved:
        raise QuestionNotAnswerable(f"the metric or segment named has no table in this schema; {HELP}")
    joins: list[str] = []
    joined = [involved[0]]

    def join_to(target: str) -> bool:
        if target in joined:
            return True
        path = graph.path(joined, target)
        if not path:
            return False
        for left, right in zip(path, path[1:]):
            if right in joined:
                continue
            pairs = graph.edges[left][right]
            on = " AND ".join(f"{b} = {a}" for a, b in pairs)
            joins.append(f"JOIN {right} ON {on}")
            joined.append(right)
        return True

    for target in involved[1:]:
        if not join_to(target):
            raise QuestionNotAnswerable(f"no foreign-key path joins {', '.join(involved)}; {HELP}")
    conditions = []
    for key in segments[:1]:
        conditions.append(f"({context.mappings[key].where})")
    for key, values in sorted(linked.matched_values.items()):
        table_key, column = key.rsplit(".", 1)
        if table_key not in joined:
            continue
        values = list(dict.fromkeys(values))
        conditions.append(f"{table_key}.{quote(column)} IN ({', '.join(param(v) for v in values)})"
                          if len(values) > 1 else f"{table_key}.{quote(column)} = {param(values[0])}")
    period = parse_period(text, context.today or dt.date.today())
    dated = None
    group = re.search(r"\b(?:by|per|for each|each|in each)\s+([a-z][a-z_ ]*)", text)
    needs_date = period is not None or (group is not None and _is_period(group.group(1)))
    if needs_date:
        for candidate in joined + [t for t in (schema.qualified_name(t) for t in linked.tables) if t not in joined]:
            table = schema.table(candidate)
            column = _date_column(table, candidate, text, context) if table is not None else None
            if column is not None and join_to(candidate):
                dated = (candidate, column)
                break
        if dated is None:
            raise QuestionNotAnswerable(f"no date column joins the tables of that metric; {HELP}")
    if period is not None and dated is not None:
        start, end = period
        if start is not None:
            conditions.append(f"{dated[0]}.{quote(dated[1].name)} >= {param(start.isoformat())}")
        if end is not None:
            conditions.append(f"{dated[0]}.{quote(dated[1].name)} < {param(end.isoformat())}")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    dimension = None
    if group is not None:
        phrase = group.group(1)
        if _is_period(phrase):
            if dated is None or not date_buckets or phrase.split()[0] not in date_buckets:
                raise QuestionNotAnswerable(f"cannot group by '{phrase.strip()}'; {HELP}")
            dimension = (date_buckets[phrase.split()[0]].format(column=f"{dated[0]}.{quote(dated[1].name)}"),
                         quote(phrase.split()[0]), True)
        else:
            wanted = set(terms(phrase))
            order = joined + [schema.qualified_name(t) for t in linked.tables]
            order += [schema.qualified_name(t) for t in schema.tables]
            for candidate in dict.fromkeys(order):
                table = schema.table(candidate)
                if table is None or not (set(terms(table.name)) & wanted or any(
                        _column_terms(candidate, c, context) & wanted for c in table.columns)):
                    continue
                columns = [c for c in table.columns if _column_terms(candidate, c, context) & wanted]
                if not columns:  # "per genre": the table's name column
                    columns = [c for c in table.columns if c.name.lower() in ("name", "title")]
                if columns and join_to(candidate):
                    dimension = (f"{candidate}.{quote(columns[0].name)}", quote(columns[0].name), False)
                    break
            if dimension is None:
                raise QuestionNotAnswerable(f"cannot group by '{phrase.strip()}'; {HELP}")
    source = " ".join([joined[0]] + joins)
    if metrics:
        key = metrics[0]
        value = f"{context.mappings[key].sql} AS {quote(definition_name(key))}"
        if dimension:
            expression, label, is_period = dimension
            ordering = label if is_period else "2 DESC"
            sql = (f"SELECT {expression} AS {label}, {value} FROM {source}{where} "
                   f"GROUP BY {expression} ORDER BY {ordering}")
        else:
            sql = f"SELECT {value} FROM {source}{where}"
    else:
        if AGGREGATES[0][1].search(text):
            sql = f"SELECT COUNT(*) AS {quote('count')} FROM {source}{where}"
        else:
            sql = f"SELECT {joined[0]}.* FROM {source}{where}"
    planning_ms = (time.perf_counter() - started) * 1000
    mark = time.perf_counter()
    safe = context.validate(sql)
    validation_ms = (time.perf_counter() - mark) * 1000
    mark = time.perf_counter()
    result = context.execute(safe, params)
    return Answer(question=question, sql=safe.sql, parameters=params, result=result,
                  explanation=f"rules planner with {', '.join(metrics[:1] + segments[:1])}",
                  tables_used=list(safe.tables), attempts=[Attempt(safe.sql, params)], planner="rules",
                  linked_tables=linked.names,
                  timings={"linking": planning_ms, "llm": 0.0, "validation": validation_ms,
                           "execution": (time.perf_counter() - mark) * 1000})


# -- pieces ----------------------------------------------------------------------------
def _quoter(dialect: str):
    return lambda name: exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def _column_terms(name: str, column: Column, context: PlanningContext) -> set[str]:
    found = set(terms(column.name))
    mapping = context.mappings.get(f"{name}.{column.name}")
    if mapping:
        for synonym in mapping.synonyms:
            found.update(terms(synonym))
    return found


def _measure(table: Table, name: str, text: str, context: PlanningContext) -> Column | None:
    keys = {c for fk in table.foreign_keys for c in fk.columns} | set(table.primary_key)
    numeric = [c for c in table.columns
               if NUMERIC.search(c.type) and c.name not in keys and not c.name.lower().endswith("_id")]
    if not numeric:
        return None
    words = set(terms(text)) | ({"price"} if re.search(r"\b(expensive|cheap|cheapest)\b", text) else set())
    scored = sorted(numeric, key=lambda c: (-len(_column_terms(name, c, context) & words),
                                            not MEASURE_NAMES.search(c.name)))
    best = scored[0]
    # The question must name the measure (or the table have only one): never guess one.
    if _column_terms(name, best, context) & words or len(numeric) == 1:
        return best
    return None


def _table_terms(name: str, table: Table, context: PlanningContext) -> set[str]:
    found = set(terms(table.name))
    mapping = context.mappings.get(name)
    if mapping:
        for synonym in mapping.synonyms:
            found.update(terms(synonym))
    return found


def _date_column(table: Table, name: str, text: str, context: PlanningContext) -> Column | None:
    dated = [c for c in table.columns if TEMPORAL.search(c.type) or c.name.lower().endswith(("_at", "_date"))]
    if not dated:
        return None
    words = set(terms(text))
    mentioned = [c for c in dated if _column_terms(name, c, context) & words]
    if mentioned:
        return mentioned[0]
    created = [c for c in dated if "creat" in c.name.lower()]
    return (created or dated)[0]


def _is_period(phrase: str) -> bool:
    return phrase.split()[0] in {"day", "week", "month", "year"}


def _dimension(phrase: str, table: Table, name: str, context: PlanningContext, date_column: Column | None,
               buckets: Mapping[str, str] | None, quote) -> tuple[str, str] | None:
    first = phrase.split()[0]
    if first in {"day", "week", "month", "year"}:
        if date_column is None or not buckets or first not in buckets:
            return None
        return buckets[first].format(column=quote(date_column.name)), quote(first)
    wanted = set(terms(phrase))
    for column in table.columns:
        if _column_terms(name, column, context) & wanted:
            return quote(column.name), quote(column.name)
    return None
