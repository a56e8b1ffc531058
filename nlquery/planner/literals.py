"""Values the model wrote into its SQL become bound parameters.

The prompt asks for ``$n`` placeholders with a separate parameter list, and small models
often write ``WHERE country = 'Canada'`` anyway. :func:`bind_literals` takes every value
a predicate compares with out of the text into ``$n`` parameters, so the statement the
database receives carries the question's values as bound parameters, never spliced into
its text, whichever way the model wrote them. (Asking for literals in the prompt instead
was measured and dropped: it lost questions for every contender.)

Only operands of comparisons (``=``, ``<>``, ``<``, ``>``, ``LIKE``, ``IN``,
``BETWEEN``) are bound: the arguments of functions (``strftime('%Y', ...)``,
``ROUND(x, 2)``), ``LIMIT`` and typed literals (``DATE '2026-01-01'``) stay in the SQL,
where they are syntax rather than the question's data. A model that did write ``$n``
placeholders keeps them and its parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlglot
from sqlglot import exp

from nlquery.guard.parameters import dialect_of, parameter_index

PREDICATES = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.In, exp.Between)


def bind_literals(sql: str, parameters: Sequence[Any], dialect: str) -> tuple[str, list[Any]]:
    """``sql`` with the values its predicates compare with as ``$1, $2 ...``, and those
    values in order. Unchanged when ``sql`` already takes parameters, holds no such
    value, or does not parse (the guard then says why)."""
    if parameters:
        return sql, list(parameters)
    try:
        tree = sqlglot.parse_one(sql, dialect=dialect_of(dialect))
    except sqlglot.errors.SqlglotError:
        return sql, []
    if tree is None or any(parameter_index(node) is not None for node in tree.walk()):
        return sql, []
    values: list[Any] = []
    for literal in list(tree.find_all(exp.Literal, bfs=False)):  # text order: $1 comes first
        if not isinstance(literal.parent, PREDICATES) or literal.arg_key == "escape":
            continue
        values.append(literal_value(literal))
        literal.replace(exp.Var(this=f"${len(values)}"))
    if not values:
        return sql, []
    return dialect_of(dialect).generate(tree, copy=False), values


def literal_value(literal: exp.Literal) -> Any:
    """The Python value of a SQL literal: its text for a string, else an int or a float."""
    text = literal.this
    if literal.is_string:
        return text
    try:
        return int(text)
    except ValueError:
        return float(text)
