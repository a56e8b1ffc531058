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
placeholders keeps them and its parameters; ``?`` placeholders are numbered
(:func:`numbered_placeholders`), and a placeholder left without a value is given the
stored value the question names for the column it is compared with
(:func:`with_named_values`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlglot
from sqlglot import exp

from nlquery.guard.parameters import dialect_of, parameter_index

PREDICATES = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.In, exp.Between)


def parsed(sql: str, dialect: str) -> exp.Expression | None:
    """``sql`` parsed in ``dialect``, or None when it does not parse (the guard says why)."""
    try:
        return sqlglot.parse_one(sql, dialect=dialect_of(dialect))
    except sqlglot.errors.SqlglotError:
        return None


def bind_literals(sql: str, parameters: Sequence[Any], dialect: str) -> tuple[str, list[Any]]:
    """``sql`` with the values its predicates compare with as ``$1, $2 ...``, and those
    values in order. Unchanged when ``sql`` already takes parameters, holds no such
    value, or does not parse (the guard then says why)."""
    if parameters:
        return sql, list(parameters)
    tree = parsed(sql, dialect)
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


def numbered_placeholders(sql: str, dialect: str) -> str:
    """``sql`` with each ``?`` placeholder written as ``$1, $2 ...`` in text order (small
    models write the driver style they know); unchanged when it has none, mixes them with
    ``$n`` or does not parse."""
    if "?" not in sql:
        return sql
    tree = parsed(sql, dialect)
    marks = [node for node in tree.walk() if isinstance(node, exp.Placeholder) and not node.this] if tree else []
    if not marks or any(parameter_index(node) is not None for node in tree.walk()):
        return sql
    ordered = [node for node in tree.find_all(exp.Placeholder, bfs=False) if not node.this]  # text order
    for index, node in enumerate(ordered, start=1):
        node.replace(exp.Var(this=f"${index}"))
    return dialect_of(dialect).generate(tree, copy=False)


def with_named_values(sql: str, parameters: Sequence[Any], dialect: str,
                      named: Mapping[str, Sequence[Any]]) -> list[Any]:
    """``parameters``, completed when the query has more ``$n`` than values and each
    missing one is compared with a column whose stored value the question names
    (``playlists.name = $1`` for "the Grunge playlist": ``['Grunge']``). Otherwise as
    given: the guard then says how many are missing."""
    values = list(parameters)
    tree = parsed(sql, dialect)
    if tree is None:
        return values
    compared: dict[int, str] = {}
    highest = 0
    for node in tree.walk():
        index = parameter_index(node)
        if index is None:
            continue
        highest = max(highest, index)
        if index <= len(values):
            continue
        parent = node.parent
        if isinstance(parent, (exp.EQ, exp.Like, exp.ILike)):
            other = parent.left if parent.right is node else parent.right
            if isinstance(other, exp.Column):
                compared[index] = other.name.lower()
    wanted = range(len(values) + 1, highest + 1)
    if not compared or any(i not in compared for i in wanted):
        return values
    by_column: dict[str, list[Any]] = {}
    for key, found in named.items():
        by_column.setdefault(key.rsplit(".", 1)[-1].lower(), []).extend(found)
    filled = []
    for index in wanted:
        candidates = list(dict.fromkeys(by_column.get(compared[index], [])))
        if len(candidates) != 1:
            return values  # none or ambiguous: not ours to guess
        filled.append(candidates[0])
    return values + filled
