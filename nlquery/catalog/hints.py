"""Value hints: a bounded sample of distinct values of low-cardinality text columns,
so "customers in Canada" can be mapped to ``country = 'CA'`` later.

Never for columns the exposure policy hides, nor for columns whose names suggest
secrets or personal data, nor for columns a source opts out of.
"""

from __future__ import annotations

import re
from typing import Any

import sqlglot
from sqlglot import exp

import connectors
from connectors.models import Schema
from nlquery.guard import Policy

TEXT_TYPES = re.compile(r"char|text|string|enum|varchar|citext|name", re.IGNORECASE)
SENSITIVE = re.compile(r"pass|secret|token|hash|salt|email|e_mail|ssn|phone|iban|card|cvv|api_?key|address",
                       re.IGNORECASE)
SAMPLE_ROWS = 10_000


def collect(
    connector: connectors.Connector,
    schema: Schema,
    *,
    policy: Policy | None = None,
    max_distinct: int = 50,
    max_columns: int = 200,
    exclude: frozenset[str] = frozenset(),
    timeout_s: float = 5.0,
) -> dict[str, list[Any]]:
    """``{"table.column": [values...]}`` for columns with at most ``max_distinct``
    distinct values in a sample of the first rows."""
    hints: dict[str, list[Any]] = {}
    budget = max_columns
    for table in schema.tables:
        if table.kind != "table" or (policy and not policy.table_visible(table)):
            continue
        name = schema.qualified_name(table)
        for column in table.columns:
            key = f"{name}.{column.name}"
            if budget <= 0:
                return hints
            if (
                not TEXT_TYPES.search(column.type)
                or SENSITIVE.search(column.name)
                or key.lower() in exclude
                or (policy and not policy.column_visible(table, column.name))
            ):
                continue
            budget -= 1
            try:
                result = connector.execute(_distinct_sql(table.schema, table.name, column.name, connector.dialect,
                                                         max_distinct), max_rows=max_distinct, timeout_s=timeout_s)
            except connectors.ConnectorError:
                continue  # a hint is a nicety: a slow or odd column is skipped
            if not result.truncated and result.rows:
                hints[key] = sorted((row[0] for row in result.rows), key=str)
    return hints


def _distinct_sql(schema: str | None, table: str, column: str, dialect: str, max_distinct: int) -> str:
    # Sample first, then DISTINCT: bounded work on any table size.
    source = exp.Table(this=exp.to_identifier(table, quoted=True),
                       db=exp.to_identifier(schema, quoted=True) if schema else None)
    column_ref = exp.column(column, quoted=True)
    sample = exp.select(column_ref).from_(source).where(column_ref.is_(exp.null()).not_()).limit(SAMPLE_ROWS)
    query = exp.select(exp.column(column, quoted=True)).distinct().from_(sample.subquery("s")).limit(max_distinct + 1)
    return query.sql(dialect=dialect)
