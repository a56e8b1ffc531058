"""Joins rebuilt along foreign keys when the model's own cannot run.

A small model often picks the right tables and the wrong way to join them:
``genres JOIN invoice_items ON genres.genre_id = invoice_items.genre_id`` (there is no
``invoice_items.genre_id``; the path runs through ``tracks``). Told so, it appends the
path and keeps the broken join. :func:`rejoined` keeps the query's tables, aliases and
everything outside its FROM clause, and joins those tables along the shortest
foreign-key paths instead, adding the tables between them. It only touches a query
that could not run anyway: one whose join condition names a column its table lacks.

:func:`joined_to_keys` mends the other common shape: an aggregating subquery over one
table grouped by a key that table lacks (``SELECT artist_id, SUM(unit_price * quantity)
FROM invoice_items GROUP BY artist_id`` for "artist revenue"). Told which tables have
``artist_id``, a small model swaps the outer table instead. A key names one thing
wherever it is stored, so the subquery gets the foreign-key path to the nearest table
holding it.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from connectors.models import Schema
from nlquery.planner.literals import parsed
from nlquery.planner.repair import JoinGraph, is_key, schema_table


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
        table = schema_table(schema, node)
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


def joined_to_keys(sql: str, dialect: str, schema: Schema, graph: JoinGraph) -> str:
    """``sql`` with each one-table SELECT (the whole query or a subquery) that reads a key
    column its table lacks joined along foreign keys to the nearest table having that
    column as a key, its own columns qualified. Unchanged when the column is not a key
    there, when two tables are equally near, when a query around a correlated subquery
    has the column, or when the path runs over two keys between one pair of tables."""
    tree = parsed(sql, dialect)
    if tree is None:
        return sql
    taken = {name.lower() for t in tree.find_all(exp.Table) for name in (t.alias_or_name, t.name)}
    changed = False
    for select in list(tree.find_all(exp.Select)):
        changed |= _join_missing_keys(select, schema, graph, taken)
    return tree.sql(dialect=dialect or None) if changed else sql


def _join_missing_keys(select: exp.Select, schema: Schema, graph: JoinGraph, taken: set[str]) -> bool:
    source = select.args.get("from_") or select.args.get("from")
    if source is None or select.args.get("joins") or not isinstance(source.this, exp.Table):
        return False
    node = source.this
    table = schema_table(schema, node)
    if table is None:
        return False
    start, alias = schema.qualified_name(table), node.alias_or_name
    own = {alias.lower(), node.name.lower()}
    outputs = {p.alias.lower() for p in select.expressions if isinstance(p, exp.Alias)}
    columns = [c for c in select.find_all(exp.Column) if c.find_ancestor(exp.Select) is select
               and (not c.table or c.table.lower() in own) and not c.args.get("db")]
    missing = {c.name.lower() for c in columns if table.column(c.name) is None and c.name.lower() not in outputs}
    if not missing or any(_seen_from_outside(select, name, schema) for name in missing):
        return False
    distances = graph.distances([start])
    owners: dict[str, str] = {}  # missing column -> the nearest table having it as a key
    for name in missing:
        having = [t for t in distances if t != start and is_key(schema.table(t), name)]
        nearest = [t for t in having if distances[t] == min(distances[h] for h in having)]
        if len(nearest) != 1:
            return False
        owners[name] = nearest[0]
    names, joins = {start: alias}, []  # table -> its name in this SELECT, in join order
    for goal in dict.fromkeys(owners.values()):
        path = graph.path(list(names), goal) or []
        for left, right in zip(path, path[1:]):
            if right in names:
                continue
            pairs = graph.edges[left][right]
            bare = right.rsplit(".", 1)[-1]
            if len(pairs) != 1 or bare.lower() in taken:
                return False
            names[right] = bare
            (a, b), = pairs
            joins.append(exp.Join(this=_table(right, bare),
                                  on=exp.EQ(this=_column(names, b), expression=_column(names, a))))
    if not joins:
        return False
    for column in columns:
        if column.name.lower() in owners:
            column.set("table", exp.to_identifier(names[owners[column.name.lower()]]))
        elif table.column(column.name) is not None:
            column.set("table", exp.to_identifier(alias))
    select.set("joins", joins)
    taken.update(name.lower() for name in names.values())
    return True


def _seen_from_outside(select: exp.Select, column: str, schema: Schema) -> bool:
    """Whether a query around ``select`` has ``column``, where a correlated subquery sees it
    (not through a derived table in FROM or a CTE, which see nothing around them)."""
    node: exp.Expression = select
    while node.parent is not None:
        parent = node.parent
        if isinstance(node, exp.Subquery) and isinstance(parent, (exp.From, exp.Join)) or isinstance(parent, exp.CTE):
            return False
        if isinstance(parent, exp.Select) and node is not select:
            for table in parent.find_all(exp.Table):
                found = schema_table(schema, table)
                if found is not None and found.column(column) is not None:
                    return True
        node = parent
    return False
