"""Feedback that carries the fix.

A bare ``Unknown column: quantity`` does not tell a small model where ``quantity``
lives, so it sends the same SQL again. :func:`explain` turns a guard or database
error into a message that names the table the column was looked up in, the tables
that do have it and the foreign-key join path from the query's tables to them (or,
for an unknown table, the closest tables with their key columns), and returns the
tables the next attempt should be shown. :func:`warnings_for` finds results that
ran but are suspicious: no rows, a date column compared to a year number.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

from connectors.models import Schema, Table
from nlquery.errors import NLQueryError
from nlquery.guard.parameters import parameter_index
from nlquery.names import closest
from nlquery.planner.literals import literal_value
from nlquery.semantic import SemanticMapping, definition_name, definition_tables, is_definition, words

TEMPORAL = re.compile(r"date|time", re.IGNORECASE)
NUMERIC_TYPE = re.compile(r"int|serial|numeric|decimal|real|double|float|number", re.IGNORECASE)


@dataclass
class Feedback:
    """What the next attempt is told, and which tables it should be shown."""

    message: str
    tables: list[str] = field(default_factory=list)


def normalized(sql: str, dialect: str) -> str:
    """A canonical spelling of ``sql`` (case, spacing, quoting): two candidates that
    differ only there are the same candidate."""
    try:
        return sqlglot.parse_one(sql, read=dialect or None).sql(dialect=dialect or None, normalize=True,
                                                                   pretty=False).lower()
    except Exception:  # noqa: BLE001 - unparseable: compare the text
        return " ".join(sql.lower().split())


class JoinGraph:
    """Foreign keys as an undirected graph of tables, with the column pairs of each edge."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.edges: dict[str, dict[str, list[tuple[str, str]]]] = {}
        for table in schema.tables:
            name = schema.qualified_name(table)
            for fk in table.foreign_keys:
                ref = schema.table(f"{fk.ref_schema}.{fk.ref_table}" if fk.ref_schema else fk.ref_table)
                if ref is None:
                    continue
                other = schema.qualified_name(ref)
                pairs = [(f"{name}.{a}", f"{other}.{b}") for a, b in zip(fk.columns, fk.ref_columns)]
                self.edges.setdefault(name, {}).setdefault(other, []).extend(pairs)
                self.edges.setdefault(other, {}).setdefault(name, []).extend((b, a) for a, b in pairs)

    def path(self, starts: Sequence[str], goal: str, max_depth: int = 4) -> list[str] | None:
        """Tables from one of ``starts`` to ``goal`` (both ends included), shortest first."""
        previous: dict[str, str | None] = {s: None for s in starts}
        queue = deque((s, 0) for s in starts)
        while queue:
            node, depth = queue.popleft()
            if node == goal:
                path = [node]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])  # type: ignore[arg-type]
                return list(reversed(path))
            if depth < max_depth:
                for nxt in sorted(self.edges.get(node, {})):
                    if nxt not in previous:
                        previous[nxt] = node
                        queue.append((nxt, depth + 1))
        return None

    def distances(self, starts: Sequence[str], max_depth: int = 4) -> dict[str, int]:
        """How many joins away from one of ``starts`` each reachable table is (``starts``: 0)."""
        found = {s: 0 for s in starts}
        queue = deque(starts)
        while queue:
            node = queue.popleft()
            if found[node] < max_depth:
                for nxt in self.edges.get(node, {}):
                    if nxt not in found:
                        found[nxt] = found[node] + 1
                        queue.append(nxt)
        return found

    def describe(self, path: Sequence[str]) -> str:
        """``orders JOIN order_items ON order_items.order_id = orders.id``."""
        parts = [path[0]]
        for left, right in zip(path, path[1:]):
            pairs = self.edges.get(left, {}).get(right, [])
            on = " AND ".join(f"{b} = {a}" for a, b in pairs)
            parts.append(f"JOIN {right} ON {on}")
        return " ".join(parts)


def schema_table(schema: Schema, node: exp.Table) -> Table | None:
    """The schema's table a query's table reference names (``db.name`` or ``name``)."""
    return schema.table(f"{node.db}.{node.name}" if node.db else node.name)


def _query_tables(tree: exp.Expression, schema: Schema) -> tuple[list[str], dict[str, str]]:
    """The schema's names of the tables a query reads, and alias -> table."""
    tables, aliases = [], {}
    for node in tree.find_all(exp.Table):
        found = schema_table(schema, node)
        if found is None:
            continue
        name = schema.qualified_name(found)
        if name not in tables:
            tables.append(name)
        aliases[(node.alias_or_name or node.name).lower()] = name
        aliases[node.name.lower()] = name
    return tables, aliases


def _key_columns(table: Table) -> list[str]:
    keys = list(table.primary_key)
    for fk in table.foreign_keys:
        keys.extend(c for c in fk.columns if c not in keys)
    return keys


def requalified(sql: str, dialect: str, schema: Schema, graph: JoinGraph | None = None) -> str:
    """``sql`` with each column qualified by the wrong table's alias moved to the one table
    of the query that has it: ``SUM(i.unit_price * l.quantity)`` with ``i = invoices``
    and ``l = invoice_lines`` reads ``l.unit_price``; when several have it, to the one the
    other operands of its arithmetic come from (``l.unit_price`` too with ``tracks``
    joined, which has a list price). So is a column under an alias the query never
    defines (``t4.quantity`` in a three-table join), and one under the name of a table the
    query aliased. Unchanged when nothing is wrong, when the column is in none of the
    query's tables or in several with no operand to choose by, or when aliases repeat.
    With ``graph``, a column is left alone when a table joined to the wrong alias's table, and not in the
    query, has it: ``albums.name`` meant ``artists.name``, not the track name the query
    happens to have; the fix for the error says so."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect or None)
    except Exception:  # noqa: BLE001
        return sql
    owners: dict[str, tuple[str, Table]] = {}  # alias, lowered -> (as written, table)
    for node in tree.find_all(exp.Table):
        table = schema_table(schema, node)
        alias = node.alias_or_name or node.name
        if table is None or alias.lower() in owners:
            return sql  # a CTE, a subquery's name or an alias used twice: leave it to the guard
        owners[alias.lower()] = (alias, table)
    defined = set(owners) | {alias.name.lower() for alias in tree.find_all(exp.TableAlias) if alias.name}
    by_name = {table.name.lower(): alias for alias, table in owners.values()}
    changed = False
    for column in tree.find_all(exp.Column):
        if not column.table or column.args.get("db"):
            continue
        qualifier = column.table.lower()
        if qualifier not in defined and qualifier in by_name:
            # ``tracks.name`` in ``FROM tracks AS t``: the table's name for its alias
            column.set("table", exp.to_identifier(by_name[qualifier]))
            changed = True
            continue
        owner = owners.get(qualifier)
        if owner is None and qualifier in defined:
            continue  # a subquery's or CTE's columns: not ours to judge
        if owner is not None and owner[1].column(column.name) is not None:
            continue
        # the wrong table's alias, or one the query never defines (``t4.quantity`` with three tables)
        having = [alias for alias, other in owners.values() if other.column(column.name) is not None]
        if owner is not None and graph is not None and _joined_elsewhere(owner[1], column.name, owners, schema, graph):
            continue
        if len(having) > 1:
            # Several tables have it: values multiplied or added together come from one row
            # (``T1.unit_price * T2.quantity`` with both in T2, the invoice line, reads T2's).
            beside = {c.table.lower() for c in _operands(column) if c.table}
            having = [alias for alias in having if alias.lower() in beside] or having
        if len(having) == 1:
            column.set("table", exp.to_identifier(having[0]))
            changed = True
    return tree.sql(dialect=dialect or None) if changed else sql


def _operands(column: exp.Column) -> list[exp.Column]:
    """The other columns of the arithmetic ``column`` is an operand of."""
    node: exp.Expression = column
    while isinstance(node.parent, (exp.Paren, exp.Mul, exp.Div, exp.Add, exp.Sub)):
        node = node.parent
    return [c for c in node.find_all(exp.Column) if c is not column] if node is not column else []


def _joined_elsewhere(table: Table, column: str, owners: dict[str, tuple[str, Table]], schema: Schema,
                      graph: JoinGraph) -> bool:
    """Whether a table one foreign key from ``table``, not among the query's, has ``column``."""
    mine = {schema.qualified_name(t) for _, t in owners.values()}
    return any(neighbour not in mine and _has_column(schema, neighbour, column)
               for neighbour in graph.edges.get(schema.qualified_name(table), {}))


def is_key(table: Table | None, column: str) -> bool:
    return table is not None and column.lower() in {c.lower() for c in _key_columns(table)}


def _missing_column(message: str) -> str | None:
    if message.startswith("Column '"):
        return message.split("'")[1]
    match = re.search(r"[Uu]nknown column:?\s*['\"`]?([\w.]+)", message) or \
        re.search(r"no such column:\s*([\w.]+)", message)
    return match.group(1) if match else None


def _missing_table(message: str) -> str | None:
    match = re.search(r"unknown table ([\w.\"`]+)", message) or re.search(r"no such table:\s*([\w.]+)", message)
    return match.group(1).strip("\"`") if match else None


def explain(code: str, message: str, sql: str, dialect: str, schema: Schema, graph: JoinGraph,
            mappings: Mapping[str, SemanticMapping] | None = None, shown: Sequence[str] = ()) -> Feedback:
    """The error as the model should hear it, with the fix and the tables it needs.
    ``mappings``: the source's, so a metric or segment used as a column is explained.
    ``shown``: the tables the model was shown; among tables alike they come first (in a
    wide schema the first of many tables with a ``country`` column is rarely the one meant)."""
    base = f"{code}: {message}".rstrip()
    base = base if base.endswith(("?", ".", "!")) else base + "."
    shown = list(shown)
    try:
        tree = sqlglot.parse_one(sql, read=dialect or None)
    except Exception:  # noqa: BLE001
        return Feedback(f"{code}: {message}")
    used, aliases = _query_tables(tree, schema)
    column = _missing_column(message)
    if column is not None:
        qualifier, _, bare = column.rpartition(".")
        definition = _definition_named(bare, mappings or {})
        if definition is not None:
            return _explain_definition(base, bare, *definition, used, dialect, schema, graph)
        looked_in, around = _looked_in(tree, qualifier, bare, aliases, schema)
        # the fix joins from where the column was looked up, or from the query a filtering
        # subquery sits in (``album_id IN (SELECT ... WHERE country = ...)``)
        starts = [*looked_in, *(t for t in around if t not in looked_in)] or used
        holders = [schema.qualified_name(t) for t in schema.tables if t.column(bare) is not None]
        if not holders:  # a misspelling: the closest column anywhere
            every = {f"{schema.qualified_name(t)}.{c.name}": c.name for t in schema.tables for c in t.columns}
            near = closest(bare, list(every.values()))
            holders = sorted({k.rsplit(".", 1)[0] for k, v in every.items() if v == near}) if near else []
            if near:
                bare = near
        # Many tables may have a column of that name (name, status, country): when the
        # query can join to some of them, only those, nearest first, so the fix names the
        # table meant and the next prompt does not grow by tables it cannot use.
        holders = _nearest(holders, starts, shown, graph)[:4]
        lines = [f"{base} Column {bare!r} is not in {', '.join(looked_in or used) or 'the tables of the query'}."]
        through = _join_through(tree, bare, looked_in, aliases, schema, graph)
        if through is not None:  # "genres JOIN invoice_items ON genres.genre_id = invoice_items.genre_id"
            lines.append(through[0])
            return Feedback("\n".join(lines), [t for t in through[1] if t not in used])
        if holders:
            lines.append(f"It is a column of: {', '.join(f'{h}.{bare}' for h in holders)}.")
        return _with_join_paths(lines, holders, starts, graph, shown=used)
    table = _missing_table(message)
    if table is None:
        return Feedback(f"{code}: {message}")
    bare_table = _GUESS.sub("", base).rstrip(".") + "."  # the guard's guess is by spelling alone, of all tables
    if definition := _definition_named(table.rsplit(".", 1)[-1], mappings or {}):
        return _explain_definition(bare_table, table, *definition, used, dialect, schema, graph)
    # "JOIN countries T2 ... T2.country": the columns read through the missing table say
    # which table was meant (customers, with its country), often one the query already has.
    read = _columns_read_through(tree, table)
    if read:
        having = [schema.qualified_name(t) for t in schema.tables if all(t.column(c) is not None for c in read)]
        ours = [h for h in having if h in used]
        listed = ", ".join(read) + (" is a column" if len(read) == 1 else " are columns")
        if ours:
            return Feedback(f"{bare_table} There is no table {table}: {listed} of {ours[0]}, already in the query. "
                            f"Read {'it' if len(read) == 1 else 'them'} from {ours[0]} and drop the join to {table}.")
        having = _nearest(having, used, shown, graph)[:3]
        if having:
            lines = [f"{bare_table} There is no table {table}; {listed} of: {', '.join(having)}."]
            return _with_join_paths(lines, having[:1], used, graph)
    names = [schema.qualified_name(t) for t in schema.tables]
    known = set(names)
    # The closest by spelling among the tables shown, and the closest of all when it is close.
    scored = sorted((n for n in shown if n in known), key=lambda n: -_similarity(table, n))[:3]
    best = max(names, key=lambda n: _similarity(table, n), default=None)
    if best is not None and best not in scored and (not scored or _similarity(table, best) >= 0.8):
        scored = [best, *scored][:3]
    guess = _GUESS.search(base)
    kept = guess is not None and guess.group(1) in scored
    lines = [f"{base if kept else bare_table} Closest tables:"]
    for name in scored:
        found = schema.table(name)
        lines.append(f"  {name} (keys: {', '.join(_key_columns(found)) or '-'})")  # type: ignore[arg-type]
    return Feedback("\n".join(lines), scored)


_GUESS = re.compile(r";? did you mean ([^?]*)\?")


def _columns_read_through(tree: exp.Expression, table: str) -> list[str]:
    """Columns the query qualifies with ``table`` or its alias."""
    bare = table.rsplit(".", 1)[-1].lower()
    names = {bare} | {(node.alias or "").lower() for node in tree.find_all(exp.Table) if node.name.lower() == bare}
    names.discard("")
    return list(dict.fromkeys(c.name for c in tree.find_all(exp.Column) if c.table and c.table.lower() in names))


def _nearest(tables: Sequence[str], used: Sequence[str], shown: Sequence[str], graph: JoinGraph) -> list[str]:
    """``tables``, those the query can join first, nearest first, then those the model was shown."""
    distance = graph.distances(used) if used else {}
    reachable = [t for t in tables if t in distance]
    return sorted(reachable or tables, key=lambda t: (distance.get(t, 0), t not in shown))


def _definition_named(name: str, mappings: Mapping[str, SemanticMapping]) -> tuple[str, SemanticMapping] | None:
    """The metric or segment called ``name`` (``total_revenue``, ``Revenue``: by its words)."""
    wanted = " ".join(words(name))
    for key, mapping in mappings.items():
        if is_definition(key) and wanted in {" ".join(words(n)) for n in [definition_name(key), *mapping.synonyms]}:
            return key, mapping
    return None


def _explain_definition(base: str, name: str, key: str, mapping: SemanticMapping, used: Sequence[str],
                        dialect: str, schema: Schema, graph: JoinGraph) -> Feedback:
    try:
        tables = definition_tables(key, mapping, schema, dialect)
    except NLQueryError:
        tables = []
    if key.startswith("metric:"):
        lines = [f"{base} {name!r} is not a column or table: it is the METRIC {definition_name(key)} = {mapping.sql}. "
                 f"Write that expression in the query instead of the name."]
    else:
        lines = [f"{base} {name!r} is not a column or table: it is the SEGMENT {definition_name(key)} = rows of "
                 f"{mapping.table} WHERE {mapping.where}. Filter {mapping.table} with that condition."]
    return _with_join_paths(lines, tables, used, graph)


def _with_join_paths(lines: list[str], targets: Sequence[str], used: Sequence[str], graph: JoinGraph, *,
                     shown: Sequence[str] = ()) -> Feedback:
    """``lines`` plus the join path from ``used`` (the query's tables, or those the failing
    column was looked up in) to each target they lack; the tables on those paths are shown
    to the next attempt unless the query has them (``shown``)."""
    extra: list[str] = []
    used = list(used)
    paths = []
    for target in targets:
        if target in used:
            continue
        path = graph.path(used, target) if used else None
        if path:
            paths.append(path)
            extra.extend(path)
        else:
            extra.append(target)
    for path in paths:  # a path another one walks through is not said twice
        if not any(other is not path and other[:len(path)] == path for other in paths):
            lines.append(f"Join path: {graph.describe(path)}.")
    have = set(used) | set(shown)
    return Feedback("\n".join(lines), list(dict.fromkeys(t for t in extra if t not in have)))


def _join_through(tree: exp.Expression, column: str, looked_in: Sequence[str], aliases: dict[str, str],
                  schema: Schema, graph: JoinGraph) -> tuple[str, list[str]] | None:
    """When the missing column joins two of the query's tables directly (``ON a.k = b.k``,
    ``k`` only in ``a``) and a foreign-key path links them through others: that path,
    as a sentence, and the tables it adds."""
    for join in tree.find_all(exp.Join):
        condition = join.args.get("on")
        for equality in condition.find_all(exp.EQ) if condition is not None else []:
            sides = [equality.this, equality.expression]
            if not all(isinstance(side, exp.Column) and side.table for side in sides):
                continue
            tables = [aliases.get(side.table.lower()) for side in sides]
            missing = [i for i, side in enumerate(sides) if side.name.lower() == column.lower()
                       and tables[i] in looked_in]
            if len(missing) != 1 or tables[1 - missing[0]] is None:
                continue
            start, goal = tables[missing[0]], tables[1 - missing[0]]
            path = graph.path([start], goal)  # type: ignore[list-item]
            if path and len(path) > 2:
                middle = ", ".join(path[1:-1])
                return (f"{start} and {goal} do not join directly on {column}: join them through {middle}: "
                        f"{graph.describe(path)}.", path[1:-1])
    return None


def _looked_in(tree: exp.Expression, qualifier: str, bare: str, aliases: dict[str, str],
               schema: Schema) -> tuple[list[str], list[str]]:
    """The tables the failing column was looked up in: its alias's table, or for an
    unqualified column the tables of its own SELECT (a subquery's, not the outer query's);
    empty when the query does not say. Then, when that SELECT filters the one around it
    (in its WHERE or HAVING), the tables of the one around it."""
    found: list[str] = []
    around: list[str] = []
    for node in tree.find_all(exp.Column):
        if node.name.lower() != bare.lower():
            continue
        if node.table:
            table = aliases.get(node.table.lower())
            if table and (not qualifier or node.table.lower() == qualifier.lower()) \
                    and not _has_column(schema, table, bare):
                found.append(table)
        elif not qualifier:
            scope = _select_tables(node, schema)
            if scope and not any(_has_column(schema, t, bare) for t in scope):
                found.extend(scope)
                select = node.find_ancestor(exp.Select)
                filtering = select.find_ancestor(exp.Where, exp.Having, exp.Select) if select else None
                if isinstance(filtering, (exp.Where, exp.Having)):
                    around.extend(_select_tables(filtering, schema))
    return list(dict.fromkeys(found)), list(dict.fromkeys(around))


def _has_column(schema: Schema, table: str, column: str) -> bool:
    found = schema.table(table)
    return found is not None and found.column(column) is not None


def _select_tables(node: exp.Expression, schema: Schema) -> list[str]:
    """The schema tables in the FROM and JOINs of the SELECT that holds ``node``."""
    select = node.find_ancestor(exp.Select)
    if select is None:
        return []
    source = select.args.get("from_") or select.args.get("from")
    sources = [source.this] if source is not None else []
    sources += [join.this for join in select.args.get("joins") or []]
    names = []
    for table in sources:
        if isinstance(table, exp.Table):
            found = schema_table(schema, table)
            if found is not None:
                names.append(schema.qualified_name(found))
    return names


def _join_warnings(tree: exp.Expression, aliases: dict[str, str], schema: Schema, graph: JoinGraph) -> list[str]:
    """Joins on two key columns that no foreign key pairs (``customers.customer_id =
    invoice_items.invoice_id``), when the tables are linked through foreign keys: the
    query joins rows that have nothing to do with each other."""
    found = []
    for join in tree.find_all(exp.Join):
        condition = join.args.get("on")
        if condition is None:
            continue
        for equality in condition.find_all(exp.EQ):
            left, right = equality.this, equality.expression
            if not (isinstance(left, exp.Column) and isinstance(right, exp.Column) and left.table and right.table):
                continue
            a, b = aliases.get(left.table.lower()), aliases.get(right.table.lower())
            if a is None or b is None:
                continue
            if left.table.lower() == right.table.lower():
                if left.name.lower() == right.name.lower():  # T1.id = T1.id: true for every pair of rows
                    found.append(_self_join_warning(equality, join, aliases, graph))
                continue
            pair = (f"{a}.{left.name}", f"{b}.{right.name}")
            pairs = {(x.lower(), y.lower()) for x, y in graph.edges.get(a, {}).get(b, [])}
            if (pair[0].lower(), pair[1].lower()) in pairs:
                continue
            if not (is_key(schema.table(a), left.name) and is_key(schema.table(b), right.name)):
                continue  # e.g. billing_country = country: a join on data, not keys
            path = graph.path([a], b)
            if not path:
                continue  # no foreign keys between them: nothing to say
            found.append(f"the join {left.sql()} = {right.sql()} pairs {pair[0]} with {pair[1]}, which no foreign "
                         f"key links; join through the keys: {graph.describe(path)}.")
    return found


def _self_join_warning(equality: exp.EQ, join: exp.Join, aliases: dict[str, str], graph: JoinGraph) -> str:
    joined = join.this
    target = aliases.get(joined.alias_or_name.lower()) if isinstance(joined, exp.Table) else None
    others = [t for t in dict.fromkeys(aliases.values()) if t != target]
    path = graph.path(others, target) if target and others else None
    fix = f" Join through the keys: {graph.describe(path)}." if path else ""
    return (f"the join condition {equality.sql()} compares a column with itself: it is true for every pair of rows "
            f"(a cross join).{fix}")


def _type_warnings(tree: exp.Expression, aliases: dict[str, str], schema: Schema, parameters: Sequence[Any],
                   value_hints: Mapping[str, Sequence[Any]] | None) -> list[str]:
    """A number column compared with text that is not a number (``playlist_id = 'Grunge'``):
    the value is a name stored elsewhere; say where when a stored value shows it."""
    found = []
    for comparison in tree.find_all(exp.EQ, exp.NEQ, exp.In):
        column = comparison.this
        if not isinstance(column, exp.Column):
            continue
        others = comparison.expressions if isinstance(comparison, exp.In) else [comparison.expression]
        table = aliases.get(column.table.lower()) if column.table else (
            next(iter(set(aliases.values()))) if len(set(aliases.values())) == 1 else None)
        found_table = schema.table(table) if table else None
        found_column = found_table.column(column.name) if found_table is not None else None
        if found_column is None or not NUMERIC_TYPE.search(found_column.type or ""):
            continue
        for other in others:
            value = _compared_value(other, parameters)
            if not isinstance(value, str) or _is_number(value):
                continue
            holders = [key for key, values in (value_hints or {}).items()
                       if any(isinstance(v, str) and v.lower() == value.lower() for v in values)]
            where = f" {value!r} is a stored value of {', '.join(holders[:3])}: join that table and filter on it." \
                if holders else " Filter on the column that holds that text (a name or a title), joining its table."
            found.append(f"{column.sql()} is a number column but is compared to the text {value!r}.{where}")
    return found


def _compared_value(node: exp.Expression, parameters: Sequence[Any]) -> Any:
    """What ``node`` compares with: a literal's value, or the parameter a ``$n`` stands for."""
    if isinstance(node, exp.Literal):
        return literal_value(node)
    index = parameter_index(node)
    return parameters[index - 1] if index is not None and 0 < index <= len(parameters) else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _similarity(a: str, b: str) -> float:
    import difflib

    a, b = a.lower(), b.lower().rsplit(".", 1)[-1]
    return difflib.SequenceMatcher(None, a, b).ratio() + (0.3 if a.rstrip("s") == b.rstrip("s") else 0)


def _group_warnings(tree: exp.Expression, row_count: int) -> list[str]:
    """Groups the outermost SELECT returns nothing of: "customers in each country" as
    ``SELECT COUNT(*) ... GROUP BY country`` gives counts nobody can tell apart."""
    if not isinstance(tree, exp.Select) or row_count < 2:
        return []
    group = tree.args.get("group")
    if group is None or not tree.expressions:
        return []
    if not all(e.find(exp.AggFunc) is not None for e in tree.expressions):
        return []
    keys = [e.sql() for e in group.expressions if isinstance(e, exp.Column)]
    if not keys:
        return []
    listed = ", ".join(keys)
    return [f"the query groups by {listed} but does not return {'it' if len(keys) == 1 else 'them'}: its rows "
            f"cannot be told apart. Add {listed} to the SELECT list, before the aggregates."]


def regrouped(sql: str, dialect: str, schema: Schema) -> str:
    """``sql`` with each returned column that is neither grouped nor aggregated replaced by
    the column of that name of the one table it is grouped by: ``SELECT t.name, AVG(..)
    ... GROUP BY g.genre_id`` reads ``g.name`` (as written it shows one arbitrary track
    name per genre). Unchanged when no such column or more than one candidate."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect or None)
    except Exception:  # noqa: BLE001
        return sql
    _, aliases = _query_tables(tree, schema)
    changed = False
    for projection, _, instead in _ungrouped(tree, aliases, schema):
        if len(set(instead)) == 1:
            qualifier, _, name = instead[0].rpartition(".")
            projection.replace(exp.column(name, table=qualifier or None))
            changed = True
    return tree.sql(dialect=dialect or None) if changed else sql


def _ungrouped_warnings(tree: exp.Expression, aliases: dict[str, str], schema: Schema) -> list[str]:
    found = []
    for projection, table, instead in _ungrouped(tree, aliases, schema):
        hint = f"; did you mean {instead[0]}, of the table grouped by?" if instead else \
            ". Group by it too, or return a column of what the groups are."
        found.append(f"{projection.sql()} is neither in the GROUP BY nor aggregated: each group shows one "
                     f"arbitrary {table}.{projection.name}{hint}")
    return found


def _ungrouped(tree: exp.Expression, aliases: dict[str, str],
               schema: Schema) -> list[tuple[exp.Column, str, list[str]]]:
    """Columns the outermost SELECT returns that are neither grouped nor aggregated nor
    fixed by a grouped primary key: "average length per genre" as ``SELECT t.name, AVG(..)
    ... GROUP BY g.genre_id`` shows one arbitrary track name per genre (SQLite and MySQL
    run it; PostgreSQL refuses). Each with its table and the grouped tables' columns of
    that name."""
    if not isinstance(tree, exp.Select) or tree.args.get("group") is None:
        return []
    projections = [p.unalias() for p in tree.expressions]
    named = {p.alias.lower(): p.unalias() for p in tree.expressions if isinstance(p, exp.Alias)}
    keys: list[exp.Column] = []
    for key in tree.args["group"].expressions:
        if isinstance(key, exp.Literal) and key.is_int and 0 < int(key.this) <= len(projections):
            key = projections[int(key.this) - 1]  # GROUP BY 1
        elif isinstance(key, exp.Column) and not key.table and key.name.lower() in named:
            key = named[key.name.lower()]  # GROUP BY an output name
        keys.extend([key] if isinstance(key, exp.Column) else key.find_all(exp.Column))

    def table_of(column: exp.Column) -> str | None:
        if column.table:
            return aliases.get(column.table.lower())
        tables = set(aliases.values())
        return next(iter(tables)) if len(tables) == 1 else None

    grouped = {(table_of(k), k.name.lower()) for k in keys}
    # ``GROUP BY concert.stadium_id`` with ``ON concert.stadium_id = stadium.stadium_id``
    # groups by stadium's key too
    pairs = [(e.this, e.expression) for join in tree.args.get("joins") or [] if join.args.get("on") is not None
             for e in join.args["on"].find_all(exp.EQ)
             if isinstance(e.this, exp.Column) and isinstance(e.expression, exp.Column)]
    for _ in range(len(pairs)):
        more = {(table_of(b), b.name.lower()) for a, b in pairs if (table_of(a), a.name.lower()) in grouped} | \
               {(table_of(a), a.name.lower()) for a, b in pairs if (table_of(b), b.name.lower()) in grouped}
        if more <= grouped:
            break
        grouped |= more
    fixed = set()  # tables whose primary key is grouped: each of their columns has one value a group
    for name in {t for t, _ in grouped if t}:
        table = schema.table(name)
        if table is not None and table.primary_key and \
                all((name, c.lower()) in grouped for c in table.primary_key):
            fixed.add(name)
    found = []
    for projection in projections:
        if not isinstance(projection, exp.Column) or isinstance(projection.this, exp.Star):
            continue
        table = table_of(projection)
        if table is None or table in fixed or (table, projection.name.lower()) in grouped:
            continue
        instead = [f"{k.table + '.' if k.table else ''}{projection.name}" for k in keys
                   if (owner := table_of(k)) and owner != table and _has_column(schema, owner, projection.name)]
        found.append((projection, table, instead))
    return found


NAMING = re.compile(r"^(name|title|\w+_name|\w+_title)$", re.IGNORECASE)


def _unnamed_rows_warnings(tree: exp.Expression, aliases: dict[str, str], schema: Schema,
                           row_count: int) -> list[str]:
    """Rows of one table returned as computed values only: "the 10 longest tracks, with
    their length in minutes" as ``SELECT ROUND(ms / 60000.0, 2) ... LIMIT 10`` says
    nothing of which track each row is."""
    if not isinstance(tree, exp.Select) or row_count < 2 or tree.args.get("group") is not None \
            or tree.args.get("joins") or tree.args.get("distinct"):
        return []
    projections = [p.unalias() for p in tree.expressions]
    if not projections or any(isinstance(p, (exp.Column, exp.Star)) or p.find(exp.AggFunc) is not None
                              for p in projections):
        return []
    source = tree.args.get("from_") or tree.args.get("from")
    node = source.this if source is not None else None
    if not isinstance(node, exp.Table):
        return []
    name = aliases.get((node.alias_or_name or node.name).lower())
    table = schema.table(name) if name else None
    naming = next((c.name for c in table.columns if NAMING.match(c.name)), None) if table else None
    if naming is None:
        return []
    qualifier = f"{node.alias}." if node.alias else ""
    return [f"each row is one of {name}, but the query returns only computed values: nobody can tell which row is "
            f"which. Return {qualifier}{naming} before them."]


def _repeated(rows: Sequence[Sequence[Any]]) -> int:
    """How many rows are copies of an earlier one."""
    return len(rows) - len({repr(row) for row in rows})


def warnings_for(sql: str, dialect: str, schema: Schema, parameters: Sequence[Any], row_count: int,
                 graph: JoinGraph | None = None, value_hints: Mapping[str, Sequence[Any]] | None = None, *,
                 rows: Sequence[Sequence[Any]] = ()) -> list[str]:
    """Suspicious but valid: no rows, a date compared to a year number, a number column
    compared to a name, a join on keys no foreign key pairs or on a column with itself
    (with ``graph``), groups the query does not return, rows repeated by a join
    (``rows``: the result's; counted only for a plain SELECT with joins)."""
    found = []
    try:
        tree = sqlglot.parse_one(sql, read=dialect or None)
    except Exception:  # noqa: BLE001
        tree = None
    if tree is not None:
        _, aliases = _query_tables(tree, schema)
        if graph is not None:
            found.extend(_join_warnings(tree, aliases, schema, graph))
        found.extend(_type_warnings(tree, aliases, schema, parameters, value_hints))
        found.extend(_group_warnings(tree, row_count))
        found.extend(_ungrouped_warnings(tree, aliases, schema))
        found.extend(_unnamed_rows_warnings(tree, aliases, schema, row_count))
        repeated = _repeated(rows) if isinstance(tree, exp.Select) and not tree.args.get("distinct") \
            and tree.args.get("group") is None and tree.args.get("joins") else 0
        if repeated:
            found.append(f"{repeated} of the {row_count} rows repeat another row (the joins match several rows "
                         "each): if each should be listed once, use SELECT DISTINCT.")
        for comparison in tree.find_all(exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NEQ):
            column, other = comparison.this, comparison.expression
            if not isinstance(column, exp.Column) or column.name.startswith("$"):
                column, other = other, column
            if not isinstance(column, exp.Column):
                continue
            table = aliases.get(column.table.lower()) if column.table else None
            tables = [schema.table(table)] if table else [schema.table(t) for t in set(aliases.values())]
            col = next((t.column(column.name) for t in tables if t is not None and t.column(column.name)), None)
            if col is None or not TEMPORAL.search(col.type or ""):
                continue
            value = _compared_value(other, parameters)
            if isinstance(value, (int, float)) and re.fullmatch(r"\d{4}", str(value)):
                found.append(f"{column.sql()} is a date/time column but is compared to the number {value}: "
                             f"compare a year with strftime('%Y', col) / EXTRACT(YEAR FROM col), or use a date range")
    if row_count == 0 and not found:
        found.append("the query ran but returned no rows. Check the filters: the values must be spelled as stored "
                     "(see values:), joins must use the right keys, and only filters the question asks for. "
                     "If no rows is the right answer, send the same query again.")
    return found
