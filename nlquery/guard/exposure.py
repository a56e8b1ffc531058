"""Which tables and columns a source exposes, and checking a query against them.

References are resolved with sqlglot's optimizer (``qualify``) against the source's
known schema, so ``SELECT *``, aliases, CTEs and subqueries all resolve to real
``table.column`` pairs before the policy is applied. Unknown tables and columns are
``invalid_query`` with a close-match suggestion, which is what the planner's repair
loop feeds back to the model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope, walk_in_scope

from connectors.models import Schema, Table
from nlquery.errors import AccessDenied, InvalidQuery
from nlquery.guard.parameters import parameter_index
from nlquery.names import closest


def _folded(names: Iterable[str] | None) -> frozenset[str] | None:
    return None if names is None else frozenset(n.lower() for n in names)


@dataclass(frozen=True)
class Policy:
    """A source's exposure rules. Names are case-insensitive; tables may be written
    ``table`` or ``schema.table``, columns ``table.column`` or ``schema.table.column``.

    ``allowed_tables`` (None: all) narrows what is visible; ``denied_tables`` and
    ``denied_columns`` hide; ``allowed_functions`` names the source's own read-only
    functions (the deny list of side-effect functions still wins).
    """

    allowed_tables: frozenset[str] | None = None
    denied_tables: frozenset[str] = field(default_factory=frozenset)
    denied_columns: frozenset[str] = field(default_factory=frozenset)
    allowed_functions: frozenset[str] = field(default_factory=frozenset)
    max_sql_bytes: int = 100_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_tables", _folded(self.allowed_tables))
        for name in ("denied_tables", "denied_columns", "allowed_functions"):
            object.__setattr__(self, name, _folded(getattr(self, name)))

    def table_visible(self, table: Table) -> bool:
        keys = _table_keys(table)
        if self.allowed_tables is not None and not keys & self.allowed_tables:
            return False
        return not keys & self.denied_tables  # type: ignore[operator]

    def column_visible(self, table: Table, column: str) -> bool:
        keys = {f"{key}.{column.lower()}" for key in _table_keys(table)}
        return not keys & self.denied_columns  # type: ignore[operator]

    def hides_columns_of(self, table: Table) -> bool:
        """True when some column of ``table`` is hidden: by the snapshot's columns, and
        by the policy's own names (a column the snapshot does not know yet counts too)."""
        keys = _table_keys(table)
        return any(entry.rsplit(".", 1)[0] in keys for entry in self.denied_columns) or any(
            not self.column_visible(table, c.name) for c in table.columns
        )

    @property
    def restricts(self) -> bool:
        """True when the policy hides something (tables or columns)."""
        return self.allowed_tables is not None or bool(self.denied_tables) or bool(self.denied_columns)


def _table_keys(table: Table) -> set[str]:
    keys = {table.name.lower()}
    if table.schema:
        keys.add(f"{table.schema}.{table.name}".lower())
    return keys


@dataclass
class Resolution:
    """Real tables and ``table.column`` pairs a query reads."""

    tables: list[Table]
    columns: list[str]


def check_exposure(tree: exp.Expression, dialect: str, schema: Schema, policy: Policy | None) -> Resolution:
    """Resolve every reference in ``tree`` against ``schema``; enforce ``policy``."""
    cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    tables: dict[int, Table] = {}
    for node in tree.find_all(exp.Table):
        if not node.name or (not node.db and node.name.lower() in cte_names):
            continue  # table functions (checked as functions) and CTE references
        table = _find_table(schema, node)
        if table is None:
            raise InvalidQuery(f"unknown table {reference(node)}{_suggest(node.name, _table_names(schema, policy))}")
        if policy is not None and not policy.table_visible(table):
            raise AccessDenied(f"the table {schema.qualified_name(table)} is not exposed by this source")
        tables[id(table)] = table

    mapping = _mapping(tables.values())
    analysed = tree.copy()
    if isinstance(analysed, exp.Values):
        # A bare VALUES root is no scope of its own: its subqueries would go unchecked.
        analysed.set("alias", exp.TableAlias(this=exp.to_identifier("nlquery_values")))
        analysed = exp.select("*").from_(analysed)
    for node in [n for n in analysed.walk() if parameter_index(n) is not None]:
        node.replace(exp.Placeholder())  # outside PostgreSQL, $1 reads as a column name
    try:
        qualified = qualify(
            analysed, schema=mapping, dialect=dialect, db=schema.default_schema,
            validate_qualify_columns=True, quote_identifiers=False, identify=False,
        )
    except OptimizeError as exc:
        # Suggest only what the caller may see: a hint must not name a hidden column.
        names = sorted({f"{t.name}.{c.name}" for t in tables.values() for c in t.columns
                        if policy is None or policy.column_visible(t, c.name)})
        missing = _missing_column(str(exc))
        hint = _suggest(missing, names) if missing else ""
        raise InvalidQuery(f"{str(exc).split('. Line')[0]}{hint}") from None

    columns: list[str] = []
    scopes = traverse_scope(qualified)
    if policy is not None and policy.restricts:
        _check_whole_rows(qualified, scopes, schema, policy)
        _check_unscoped_columns(qualified, scopes, list(tables.values()), policy)
    for scope in scopes:
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if not isinstance(source, exp.Table):
                continue  # a CTE or subquery column: its own scope is checked
            real = _find_table(schema, source)
            if real is None:
                continue
            if policy is not None and not policy.column_visible(real, column.name):
                raise AccessDenied(f"the column {real.name}.{column.name} is not exposed by this source")
            columns.append(f"{schema.qualified_name(real)}.{column.name}")
    return Resolution(tables=list(tables.values()), columns=list(dict.fromkeys(columns)))


# Expressions that read every column of a row, or columns chosen by position or pattern:
# ``t.*`` / ``*`` anywhere but a plain projection (``to_json(t.*)``, ``(t.*)::text``,
# ``ROW(t.*)``, ``(t.*).secret``, DuckDB ``struct_pack(t.*)``, ``COLUMNS(*)``,
# ``* LIKE 'sec%'``), a table alias as a value (``to_json(t)``, ``SELECT t FROM t``),
# DuckDB ``COLUMNS('regex')`` and ``#3``.
_WHOLE_ROW_NODES = (exp.Star, exp.TableColumn, exp.Columns, exp.PositionalColumn)


def _check_whole_rows(tree: exp.Expression, scopes: list[Scope], schema: Schema, policy: Policy) -> None:
    """Refuse any whole-row, positional or pattern reference to a table with hidden
    columns, whatever function, cast or operator it sits in. Plain ``SELECT *`` and
    ``t.*`` projections were expanded by ``qualify`` and are checked column by column."""
    seen: set[int] = set()
    for scope in scopes:
        _check_natural_joins(scope, schema, policy)
        for source in scope.sources.values():
            alias = source.args.get("alias") if isinstance(source, exp.Table) else None
            real = _find_table(schema, source) if alias is not None and alias.columns else None
            if real is not None and policy.hides_columns_of(real):
                raise AccessDenied(f"renaming the columns of {real.name} is not allowed: "
                                   "it has columns this source does not expose")
        for node in walk_in_scope(scope.expression):
            if isinstance(node, _WHOLE_ROW_NODES):
                seen.add(id(node))
                _check_whole_row(node, _row_sources(node, scope), schema, policy)
    # Anything the scopes did not reach is checked against every table of the query.
    every = [t for t in tree.find_all(exp.Table) if t.name]
    for node in tree.find_all(*_WHOLE_ROW_NODES):
        if id(node) not in seen:
            _check_whole_row(node, every, schema, policy)


def _check_unscoped_columns(tree: exp.Expression, scopes: list[Scope], tables: list[Table], policy: Policy) -> None:
    """A safety net: a column no scope accounted for is refused when its name is a
    hidden column or a table of the query (a construct the scope analysis missed)."""
    seen = {id(c) for scope in scopes for c in scope.columns}
    hidden = {e.rsplit(".", 1)[1] for e in policy.denied_columns}  # type: ignore[union-attr]
    names = {t.name.lower() for t in tables}
    for column in tree.find_all(exp.Column):
        if id(column) in seen or isinstance(column.this, exp.Star) or not column.name:
            continue
        if column.name.lower() in hidden | names or column.table.lower() in names and column.name.lower() in hidden:
            raise AccessDenied(f"the column {column.name} cannot be checked against this source's policy here; "
                               "select it in a plain SELECT")


def _row_sources(node: exp.Expression, scope: Scope) -> list[exp.Expression]:
    """The sources a whole-row reference reads: the one it names (looked up in this
    scope and the enclosing ones, for correlated subqueries), else every source."""
    if isinstance(node, exp.TableColumn):
        name = node.name
    elif isinstance(node, exp.Star) and isinstance(node.parent, exp.Column) and node.parent.table:
        name = node.parent.table
    else:
        name = None
    sources: list[exp.Expression] = []
    current: Scope | None = scope
    while current is not None:
        if name is None:
            sources.extend(current.sources.values())
            return sources
        if name in current.sources:
            return [current.sources[name]]
        current = current.parent
    return [s for s in scope.sources.values()] if name is None else []


def _check_whole_row(node: exp.Expression, sources: list[exp.Expression], schema: Schema, policy: Policy) -> None:
    if isinstance(node, exp.Star):
        holder = node.parent if isinstance(node.parent, exp.Column) else node
        if isinstance(holder.parent, exp.Count):
            return  # COUNT(*) / COUNT(t.*) count rows, they read no value
    for source in sources:
        if not isinstance(source, exp.Table):
            continue  # a CTE or subquery: its own columns were checked in its scope
        real = _find_table(schema, source)
        if real is not None and policy.hides_columns_of(real):
            what = node.sql() if isinstance(node, (exp.Columns, exp.PositionalColumn)) else "a whole-row reference"
            raise AccessDenied(f"{what} reads whole rows of {real.name}, "
                               "which has columns this source does not expose; name the columns instead")


def _check_natural_joins(scope: Scope, schema: Schema, policy: Policy) -> None:
    """``NATURAL JOIN`` compares every column the two sides share: a hidden one must not
    be among them (``USING`` is rewritten to ``ON`` by ``qualify`` and checked as columns)."""
    select = scope.expression
    joins = select.args.get("joins") if isinstance(select, exp.Select) else None
    if not joins or not any((j.method or "").upper() == "NATURAL" for j in joins):
        return
    names: list[set[str] | None] = []
    hidden: set[str] = set()
    for source in scope.sources.values():
        if isinstance(source, exp.Table):
            real = _find_table(schema, source)
            if real is None:
                names.append(None)
                continue
            names.append({c.name.lower() for c in real.columns})
            hidden |= {c.name.lower() for c in real.columns if not policy.column_visible(real, c.name)}
            hidden |= {e.rsplit(".", 1)[1] for e in policy.denied_columns  # type: ignore[union-attr]
                       if e.rsplit(".", 1)[0] in _table_keys(real)}
        elif isinstance(source, Scope):
            selects = source.expression.named_selects if isinstance(source.expression, exp.Query) else []
            names.append(None if "*" in selects else {n.lower() for n in selects})
        else:
            names.append(None)
    if not hidden:
        return
    for index, own in enumerate(names):
        others = [n for i, n in enumerate(names) if i != index]
        if own is not None and own & hidden and any(n is None or n & own & hidden for n in others):
            raise AccessDenied("the NATURAL JOIN compares columns this source does not expose; "
                               "join with ON and named columns instead")


def _find_table(schema: Schema, node: exp.Table) -> Table | None:
    name = f"{node.db}.{node.name}" if node.db else node.name
    return schema.table(name)


def _mapping(tables: Iterable[Table]) -> dict[str, dict[str, dict[str, str]]]:
    mapping: dict[str, dict[str, dict[str, str]]] = {}
    for table in tables:
        # Column types do not matter for resolution, and unusual type names would not parse.
        mapping.setdefault(table.schema or "", {})[table.name] = {c.name: "TEXT" for c in table.columns}
    return mapping


def _table_names(schema: Schema, policy: Policy | None) -> list[str]:
    return [schema.qualified_name(t) for t in schema.tables if policy is None or policy.table_visible(t)]


def reference(node: exp.Table) -> str:
    """``catalog.db.name`` as written in the query, without the empty parts."""
    return ".".join(p for p in (node.catalog, node.db, node.name) if p)


def table_expression(table: Table) -> exp.Table:
    """A known table as a quoted sqlglot node, for SQL nlquery writes itself."""
    return exp.Table(this=exp.to_identifier(table.name, quoted=True),
                     db=exp.to_identifier(table.schema, quoted=True) if table.schema else None)


def _missing_column(message: str) -> str | None:
    """The column sqlglot could not resolve, from either of its messages."""
    if message.startswith("Column '"):
        return message.split("'")[1]
    if message.startswith("Unknown column: "):
        return message.removeprefix("Unknown column: ").strip()
    return None


def _suggest(name: str, candidates: list[str]) -> str:
    """'; did you mean orders.total_amount?' when something is close enough."""
    by_key: dict[str, str] = {}
    for candidate in candidates:
        by_key.setdefault(candidate.lower(), candidate)
        by_key.setdefault(candidate.rsplit(".", 1)[-1].lower(), candidate)
    match = closest(name, by_key)
    return f"; did you mean {by_key[match]}?" if match else ""
