"""Joins rebuilt along foreign keys when the model's own cannot run.

A small model often picks the right tables and the wrong way to join them:
``genres JOIN invoice_items ON genres.genre_id = invoice_items.genre_id`` (there is no
``invoice_items.genre_id``; the path runs through ``tracks``). Told so, it appends the
path and keeps the broken join. :func:`rejoined` keeps the query's tables, aliases and
everything outside its FROM clause, and joins those tables along the shortest
foreign-key paths instead, adding the tables between them. It only touches a query
that could not run anyway: one whose join condition names a column its table lacks.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from connectors.models import Schema
from nlquery.planner.repair import JoinGraph


def rejoined(sql: str, dialect: str, schema: Schema, graph: JoinGraph) -> str:
    """``sql`` with its inner joins rebuilt along foreign keys when one of its join
    conditions reads a column its table does not have; unchanged otherwise, and when
    the query has outer joins, subqueries or CTEs in its FROM, a table twice under two
    names, or tables no foreign-key path links."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect or None)
    except Exception:  # noqa: BLE001
        return sql
    if not isinstance(tree, exp.Select) or tree.args.get("with") is not None:
        return sql
    source = tree.args.get("from_") or tree.args.get("from")
    joins = tree.args.get("joins") or []
    if source is None or not joins:
        return sql
    aliases: dict[str, str] = {}  # table -> alias, in FROM order
    for node in [source.this, *(join.this for join in joins)]:
        if not isinstance(node, exp.Table):
            return sql
        table = schema.table(f"{node.db}.{node.name}" if node.db else node.name)
        if table is None:
            return sql
        name, alias = schema.qualified_name(table), node.alias_or_name
        if aliases.get(name, alias).lower() != alias.lower():
            return sql  # a self-join: which copy joins where is the model's to say
        aliases.setdefault(name, alias)
    if any(join.side or join.kind not in ("", "INNER") or join.args.get("using") for join in joins):
        return sql
    if not _reads_a_missing_column(joins, aliases, schema):
        return sql
    tables = list(aliases)
    ordered, edges = [tables[0]], []
    for goal in tables[1:]:
        if goal in ordered:
            continue
        path = graph.path(ordered, goal)
        if not path:
            return sql
        for left, right in zip(path, path[1:]):
            if right not in ordered:
                ordered.append(right)
                edges.append((left, right))
    taken = {a.lower() for a in aliases.values()}
    for name in ordered:
        if name not in aliases:
            alias = name.rsplit(".", 1)[-1]
            if alias.lower() in taken:
                return sql
            aliases[name] = alias
            taken.add(alias.lower())
    rebuilt = []
    for left, right in edges:
        pairs = graph.edges[left][right]
        if len(pairs) != 1:
            return sql  # two keys between the same tables (or a composite one): which is meant is not ours to guess
        (a, b), = pairs
        on = exp.EQ(this=_column(aliases, b), expression=_column(aliases, a))
        rebuilt.append(exp.Join(this=_table(right, aliases[right]), on=on))
    tree.set("from_" if "from_" in tree.args else "from", exp.From(this=_table(tables[0], aliases[tables[0]])))
    tree.set("joins", rebuilt)
    return tree.sql(dialect=dialect or None)


def _reads_a_missing_column(joins: list[exp.Join], aliases: dict[str, str], schema: Schema) -> bool:
    by_alias = {alias.lower(): name for name, alias in aliases.items()}
    by_alias.update({name.rsplit(".", 1)[-1].lower(): name for name in aliases})
    for join in joins:
        for column in (join.args.get("on") or exp.true()).find_all(exp.Column):
            name = by_alias.get(column.table.lower()) if column.table else None
            table = schema.table(name) if name else None
            if table is not None and table.column(column.name) is None:
                return True
    return False


def _table(name: str, alias: str) -> exp.Table:
    schema_name, _, bare = name.rpartition(".")
    table = exp.table_(bare, db=schema_name or None)
    if alias.lower() != bare.lower():
        table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    return table


def _column(aliases: dict[str, str], qualified: str) -> exp.Column:
    table, _, column = qualified.rpartition(".")
    return exp.column(column, table=aliases[table])
