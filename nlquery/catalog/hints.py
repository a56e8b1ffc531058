"""Value hints: a bounded sample of distinct values of low-cardinality text columns,
so "customers in Canada" can be mapped to ``country = 'CA'`` later.

Never for columns the exposure policy hides, nor for columns whose names suggest
secrets or personal data, nor for columns a source opts out of.
"""

from __future__ import annotations

import re
import time
from typing import Any

from sqlglot import exp

import connectors
from connectors.models import Schema
from nlquery.guard import Policy
from nlquery.guard.exposure import table_expression

TEXT_TYPES = re.compile(r"char|text|string|enum|varchar|citext|name", re.IGNORECASE)
SENSITIVE = re.compile(r"pass|secret|token|hash|salt|email|e_mail|ssn|phone|iban|card|cvv|api_?key|address",
                       re.IGNORECASE)
SAMPLE_ROWS = 10_000
HINTED_KINDS = {"table", "collection", "endpoint"}


def collect(
    connector: connectors.Connector,
    schema: Schema,
    *,
    policy: Policy | None = None,
    max_distinct: int = 50,
    max_columns: int = 5000,
    exclude: frozenset[str] = frozenset(),
    timeout_s: float = 10.0,
    batch: int = 50,
    deadline: float | None = None,
) -> dict[str, list[Any]]:
    """``{"table.column": [values...]}`` for columns with at most ``max_distinct``
    distinct values in a sample of each table's first rows.

    Batched: one statement counts distinct values for up to ``batch`` columns (a
    UNION ALL over samples), and one more fetches the values of those that qualify.
    Each statement gets ``timeout_s``, none runs past ``deadline`` (monotonic; the
    extraction's): statements that would are skipped, hints are a nicety. Past
    ``max_columns`` the rest are left out, those of tables known to be empty or smallest
    first: a wide schema's real tables keep their values whatever their names sort as.
    """
    budget = _Budget(timeout_s, deadline)
    candidates = _candidates(schema, policy, exclude)[:max_columns]
    if connectors.supports(connector, connectors.Capability.DISTINCT_VALUES):  # sources without SQL subqueries
        return _native(connector, candidates, max_distinct, budget)
    qualifying: list[tuple[str, exp.Table, str]] = []
    for chunk in _chunks(candidates, batch):
        branches = [
            exp.select(exp.Literal.string(key), exp.func("COUNT", exp.Distinct(expressions=[exp.column("v")])))
            .from_(_sample(table, column).subquery("s"))
            for key, table, column in chunk
        ]
        counts = _run(connector, branches, budget)
        qualifying += [c for c in chunk if 0 < counts.get(c[0], max_distinct + 1) <= max_distinct]
    hints: dict[str, list[Any]] = {}
    for chunk in _chunks(qualifying, batch):
        branches = [
            exp.select(exp.Literal.string(key), exp.cast(exp.column("v"), exp.DataType.build("text")))
            .from_(exp.select("v").distinct().from_(_sample(table, column).subquery("s")).subquery("d"))
            for key, table, column in chunk
        ]
        for key, value in _rows(connector, branches, budget):
            hints.setdefault(key, []).append(value)
    return {key: sorted(values, key=str) for key, values in sorted(hints.items())}


def _candidates(schema: Schema, policy: Policy | None, exclude: frozenset[str]) -> list[tuple[str, exp.Table, str]]:
    found = []
    # Tables with the most rows first (unknown estimates after known ones), so a cap cuts
    # what matters least.
    by_rows = sorted(schema.tables, key=lambda t: -1 if t.row_estimate is None else -t.row_estimate)
    for table in by_rows:
        if table.kind not in HINTED_KINDS or table.row_estimate == 0 or (policy and not policy.table_visible(table)):
            continue
        name = schema.qualified_name(table)
        source = table_expression(table)
        for column in table.columns:
            key = f"{name}.{column.name}"
            if (
                TEXT_TYPES.search(column.type)
                and not SENSITIVE.search(column.name)
                and key.lower() not in exclude
                and (policy is None or policy.column_visible(table, column.name))
            ):
                found.append((key, source, column.name))
    return found


def _sample(table: exp.Table, column: str) -> exp.Select:
    # Sample first, then count or DISTINCT: bounded work on any table size.
    ref = exp.column(column, quoted=True)
    return exp.select(ref.as_("v")).from_(table.copy()).where(ref.is_(exp.null()).not_()).limit(SAMPLE_ROWS)


class _Budget:
    """The timeout of the next statement: ``per_statement``, ending no later than ``deadline``."""

    MIN_S = 0.1  # less than this left: not worth starting a statement

    def __init__(self, per_statement: float, deadline: float | None) -> None:
        self.per_statement, self.deadline = per_statement, deadline

    def next(self) -> float | None:
        """Seconds for the next statement, or None once the deadline is (nearly) spent."""
        if self.deadline is None:
            return self.per_statement
        left = min(self.per_statement, self.deadline - time.monotonic())
        return left if left >= self.MIN_S else None


def _rows(connector: connectors.Connector, branches: list[exp.Select], budget: _Budget) -> list[list[Any]]:
    statement = branches[0] if len(branches) == 1 else exp.union(*branches, distinct=False)
    timeout_s = budget.next()
    if timeout_s is None:
        return []
    try:
        return connector.execute(statement.sql(dialect=connector.dialect), max_rows=10**6,
                                 timeout_s=timeout_s).rows
    except connectors.ConnectorError:
        return []  # a hint is a nicety: a slow or odd batch is skipped


def _run(connector: connectors.Connector, branches: list[exp.Select], budget: _Budget) -> dict[str, int]:
    return {key: int(count) for key, count in _rows(connector, branches, budget)}


def _native(connector: Any, candidates: list[tuple[str, exp.Table, str]], max_distinct: int,
            budget: _Budget) -> dict[str, list[Any]]:
    """One ``distinct_values`` call per table for the connectors that offer it."""
    by_table: dict[str, list[tuple[str, str]]] = {}
    for key, table, column in candidates:
        by_table.setdefault(table.name, []).append((key, column))
    hints: dict[str, list[Any]] = {}
    for table_name, columns in by_table.items():
        timeout_s = budget.next()
        if timeout_s is None:
            break
        try:
            found = connector.distinct_values(table_name, [c for _, c in columns], limit=max_distinct + 1,
                                              sample=SAMPLE_ROWS, timeout_s=timeout_s)
        except connectors.ConnectorError:
            continue  # a hint is a nicety
        for key, column in columns:
            values = [v for v in found.get(column, []) if v is not None]
            if 0 < len(values) <= max_distinct:
                hints[key] = sorted((str(v) for v in values), key=str)
    return dict(sorted(hints.items()))


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
