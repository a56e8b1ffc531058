"""SQL (already accepted by the guard) -> one MongoDB aggregation pipeline, through the
sqlglot AST.

Supported: projections and aliases; WHERE with AND/OR/NOT, comparisons, IN, LIKE,
IS NULL, BETWEEN; GROUP BY with COUNT/SUM/AVG/MIN/MAX (and COUNT(DISTINCT)) and HAVING;
DISTINCT; ORDER BY; LIMIT/OFFSET; inner and left equi-joins (``$lookup`` + ``$unwind``);
``+ - * /`` in expressions; nested fields as quoted dotted names (``"address.city"``).
Anything else raises :class:`UnsupportedQuery` naming the construct: never a wrong answer.

NULL follows SQL where it matters: a comparison never matches a missing or null field
(MongoDB's type bracketing does the same), ``COUNT(col)`` skips nulls.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

from connectors import errors


class UnsupportedQuery(errors.UnsupportedQuery):
    """The SQL uses a construct (or a field) the MongoDB translation cannot answer."""


_QUERY_OPS = {exp.EQ: "$eq", exp.NEQ: "$ne", exp.GT: "$gt", exp.GTE: "$gte", exp.LT: "$lt", exp.LTE: "$lte"}
_FLIPPED = {"$eq": "$eq", "$ne": "$ne", "$gt": "$lt", "$gte": "$lte", "$lt": "$gt", "$lte": "$gte"}
_NEGATED = {"$eq": "$ne", "$ne": "$eq", "$gt": "$lte", "$gte": "$lt", "$lt": "$gte", "$lte": "$gt"}
_ARITHMETIC = {exp.Add: "$add", exp.Sub: "$subtract", exp.Mul: "$multiply", exp.Div: "$divide"}
_AGGREGATES = {exp.Sum: "$sum", exp.Avg: "$avg", exp.Min: "$min", exp.Max: "$max"}


@dataclass
class Plan:
    """The collection to aggregate, the pipeline, and the output column names in order."""

    collection: str
    pipeline: list[dict[str, Any]]
    columns: list[str]
    # SELECT of constants without FROM: the one row, computed here (no collection involved)
    constant_row: list[Any] | None = None
    # an aggregate without GROUP BY answers one row even when nothing matches
    # (COUNT 0, the others NULL): these are its values then; empty otherwise
    defaults: list[Any] = field(default_factory=list)


@dataclass
class _Scope:
    """Table aliases -> the path prefix their fields live under after the lookups."""

    base: str
    prefixes: dict[str, str]
    collections: dict[str, str]  # alias -> collection


def translate(sql: str, params: Sequence[Any] = (), *, columns_of: dict[str, list[str]] | None = None,
              field_types: dict[str, dict[str, str]] | None = None) -> Plan:
    """Translate ``sql`` (PostgreSQL syntax, ``?`` placeholders bound to ``params``).

    ``columns_of`` (collection -> fields) expands ``SELECT *``; ``field_types``
    (collection -> field -> BSON type) turns text constants compared with a date or
    number field into dates and numbers, as a SQL database would cast them."""
    sql = _number_placeholders(sql, len(params))
    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except sqlglot.errors.ParseError as exc:
        raise UnsupportedQuery(f"cannot parse the query: {exc}") from None
    values = list(params)
    if not isinstance(tree, exp.Select):
        raise UnsupportedQuery(f"MongoDB sources answer a single SELECT, not {tree.key.upper()}")
    for key in ("with", "windows", "qualify", "locks", "into", "laterals", "pivots"):
        if tree.args.get(key):
            raise UnsupportedQuery(f"{key.upper()} is not supported on MongoDB sources")
    for node in tree.find_all(exp.Subquery, exp.Window, exp.Union, exp.Case, exp.Exists):
        raise UnsupportedQuery(f"{node.key.upper()} is not supported on MongoDB sources")
    return _Translator(tree, columns_of or {}, field_types or {}, values).plan()


_PARAM = "__nlq_param_"


def _number_placeholders(sql: str, expected: int) -> str:
    """Each ``?`` (found by the tokenizer, so never inside a string) becomes a marker
    naming its position in the text: the AST's own order is not the text's."""
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.tokens import TokenType

    try:
        tokens = Dialect.get_or_raise("postgres").tokenize(sql)
    except sqlglot.errors.TokenError as exc:
        raise UnsupportedQuery(f"cannot parse the query: {exc}") from None
    positions = [t.start for t in tokens if t.token_type == TokenType.PLACEHOLDER]
    if len(positions) != expected:
        raise UnsupportedQuery(f"the query has {len(positions)} placeholder(s) but {expected} parameter(s)")
    for index, position in reversed(list(enumerate(positions))):
        sql = f"{sql[:position]}{_PARAM}{index}{sql[position + 1:]}"
    return sql


def _is_param(node: exp.Expression) -> bool:
    return isinstance(node, exp.Column) and not node.table and node.name.startswith(_PARAM)


class _Translator:
    def __init__(self, tree: exp.Select, columns_of: dict[str, list[str]],
                 field_types: dict[str, dict[str, str]], params: list[Any]):
        self.tree = tree
        self.params = params
        self.columns_of = columns_of
        self.field_types = field_types
        source = tree.args.get("from_") or tree.args.get("from")
        self.constant = source is None
        if self.constant:
            return
        if not isinstance(source.this, exp.Table):
            raise UnsupportedQuery("the query needs FROM a collection (subqueries are not supported)")
        base = source.this
        self.scope = _Scope(base=base.name, prefixes={base.alias_or_name: ""},
                            collections={base.alias_or_name: base.name})
        self.pipeline: list[dict[str, Any]] = []
        self.aggregates: dict[str, tuple[str, dict[str, Any]]] = {}  # sql text -> (name, accumulator)

    # -- FROM / JOIN ------------------------------------------------------------------
    def plan(self) -> Plan:
        tree = self.tree
        if self.constant:
            return self._constant_plan()
        for join in tree.args.get("joins") or []:
            self._join(join)
        where = tree.args.get("where")
        if where is not None:
            self.pipeline.append({"$match": self._condition(where.this)})
        projections = self._projections()
        group = tree.args.get("group")
        aggregated = group is not None or any(self._has_aggregate(e) for _, e in projections)
        if tree.args.get("distinct") and not aggregated:
            group, aggregated = exp.Group(expressions=[e for _, e in projections]), True
        names = [name for name, _ in projections]
        if aggregated:
            self._group(group, projections, tree.args.get("having"))
        else:
            if tree.args.get("having"):
                raise UnsupportedQuery("HAVING needs GROUP BY or an aggregate")
            self.pipeline.extend(self._sort(projections, grouped=False))
            self.pipeline.append({"$project": {"_id": 0, **{f"c{i}": self._value(e) for i, (_, e) in
                                                            enumerate(projections)}}})
        offset, limit = tree.args.get("offset"), tree.args.get("limit")
        if offset is not None:
            self.pipeline.append({"$skip": self._int(offset.expression, "OFFSET")})
        if limit is not None:
            self.pipeline.append({"$limit": self._int(limit.expression, "LIMIT")})
        global_aggregate = aggregated and group is None
        defaults = [0 if isinstance(e, exp.Count) else None for _, e in projections] if global_aggregate else []
        return Plan(collection=self.scope.base, pipeline=self.pipeline, columns=names, defaults=defaults)

    def _constant_plan(self) -> Plan:
        names, row = [], []
        for node in self.tree.expressions:
            value = node.this if isinstance(node, exp.Alias) else node
            if not self._is_constant(value):
                raise UnsupportedQuery("the query needs FROM a collection (only constants can be selected without)")
            names.append(node.alias_or_name if isinstance(node, exp.Alias) else node.sql("postgres"))
            row.append(self._literal(value))
        return Plan(collection="", pipeline=[], columns=names, constant_row=row)

    def _join(self, join: exp.Join) -> None:
        table = join.this
        if not isinstance(table, exp.Table):
            raise UnsupportedQuery("joins must be to a collection")
        side, kind = (join.args.get("side") or "").upper(), (join.args.get("kind") or "").upper()
        if side not in ("", "LEFT") or kind not in ("", "INNER", "OUTER") or join.args.get("using"):
            raise UnsupportedQuery(f"{' '.join(filter(None, [side, kind]))} JOIN is not supported; "
                                   "use [INNER] JOIN or LEFT JOIN ... ON a = b")
        on = join.args.get("on")
        if not isinstance(on, exp.EQ) or not all(isinstance(s, exp.Column) for s in (on.this, on.expression)):
            raise UnsupportedQuery("joins need ON with one equality between two columns")
        alias = table.alias_or_name
        left, right = on.this, on.expression
        if left.table == alias:
            left, right = right, left
        if right.table != alias or left.table == alias:
            raise UnsupportedQuery(f"the ON condition must compare a column of {alias} with an earlier table's")
        self.pipeline.append({"$lookup": {"from": table.name, "localField": self._path(left),
                                          "foreignField": right.name, "as": alias}})
        self.pipeline.append({"$unwind": {"path": f"${alias}", "preserveNullAndEmptyArrays": side == "LEFT"}})
        self.scope.prefixes[alias] = f"{alias}."
        self.scope.collections[alias] = table.name

    # -- names and values ---------------------------------------------------------------
    def _path(self, column: exp.Column) -> str:
        qualifier = column.table
        if qualifier and qualifier not in self.scope.prefixes:
            raise UnsupportedQuery(f"unknown table {qualifier!r}")
        if not qualifier and len(self.scope.prefixes) > 1:
            owners = [a for a, c in self.scope.collections.items() if column.name in self.columns_of.get(c, [])]
            qualifier = owners[0] if len(owners) == 1 else next(iter(self.scope.prefixes))
        prefix = self.scope.prefixes.get(qualifier, "") if qualifier else ""
        collection = self.scope.collections.get(qualifier) if qualifier else self.scope.base
        known = self.columns_of.get(collection or "")
        if known and column.name not in known and column.name != "_id" \
                and not any(k.startswith(column.name + ".") for k in known):
            # a typo would otherwise read as a column of nulls: a wrong answer
            raise UnsupportedQuery(f"no field {column.name!r} in {collection} (not in the sampled documents; "
                                   "a rarer field needs a larger sample_size)")
        return prefix + column.name

    def _field_type(self, column: exp.Column) -> str | None:
        qualifier = column.table or next(iter(self.scope.collections))
        return self.field_types.get(self.scope.collections.get(qualifier, ""), {}).get(column.name)

    def _literal(self, node: exp.Expression, like: exp.Expression | None = None) -> Any:
        """A constant's Python value; ISO strings become datetimes beside a date field."""
        if _is_param(node):
            value = self.params[int(node.name[len(_PARAM):])]
        elif isinstance(node, exp.Null):
            value = None
        elif isinstance(node, exp.Boolean):
            value = node.this
        elif isinstance(node, exp.Literal):
            value = node.this if node.is_string else _number(node.this)
        elif isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
            value = -_number(node.this.this)
        elif isinstance(node, exp.Cast) and self._is_constant(node.this):
            value = self._literal(node.this)
        else:
            raise UnsupportedQuery(f"expected a constant, got {node.sql('postgres')}")
        if isinstance(value, str) and isinstance(like, exp.Column):
            return _cast_text(value, self._field_type(like))
        return value

    def _value(self, node: exp.Expression) -> Any:
        """An aggregation expression for a projected value."""
        if isinstance(node, exp.Paren):
            return self._value(node.this)
        if self._is_constant(node):
            return {"$literal": self._literal(node)}
        if isinstance(node, exp.Column):
            return f"${self._path(node)}"
        for kind, operator in _ARITHMETIC.items():
            if isinstance(node, kind):
                return {operator: [self._value(node.this), self._value(node.expression)]}
        raise UnsupportedQuery(f"{node.key.upper()} ({node.sql('postgres')[:60]}) is not supported on MongoDB sources")

    def _int(self, node: exp.Expression, what: str) -> int:
        value = self._literal(node) if self._is_constant(node) else None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise UnsupportedQuery(f"{what} must be a whole number")

    # -- WHERE / HAVING -----------------------------------------------------------------
    def _condition(self, node: exp.Expression, value_of: Any = None, negated: bool = False) -> dict[str, Any]:
        """A $match document for where ``node`` is TRUE (with ``negated``: FALSE).

        SQL has three truth values: NOT p holds where p is false, not where p is unknown
        (a null operand), so negation is pushed down to the comparisons (De Morgan),
        each of which is false only for present, non-null values. ``value_of`` resolves
        names after $group (HAVING).
        """
        if isinstance(node, exp.Paren):
            return self._condition(node.this, value_of, negated)
        if isinstance(node, exp.Not):
            return self._condition(node.this, value_of, not negated)
        if node.args.get("negate") and not isinstance(node, exp.Is):  # NOT LIKE, NOT ILIKE
            positive = node.copy()
            positive.set("negate", None)
            return self._condition(positive, value_of, not negated)
        if isinstance(node, (exp.And, exp.Or)):
            conjunction = "$and" if isinstance(node, exp.And) != negated else "$or"
            return {conjunction: [self._condition(node.this, value_of, negated),
                                  self._condition(node.expression, value_of, negated)]}
        field_of = value_of or self._field
        if type(node) in _QUERY_OPS:
            operator = _QUERY_OPS[type(node)]
            left, right = node.this, node.expression
            if self._is_constant(left) and not self._is_constant(right):
                left, right, operator = right, left, _FLIPPED[operator]
            if negated:
                operator = _NEGATED[operator]
            if self._is_constant(right):
                value = self._literal(right, left)
                name = field_of(left)
                if value is None:  # = NULL and <> NULL are unknown: never true, never false
                    return {"$expr": {"$literal": False}}
                if operator == "$ne":  # a null or missing field is not "different" either
                    return {name: {"$ne": value, "$exists": True, "$nin": [None]}}
                return {name: {operator: value}}
            if value_of is None and all(isinstance(side, exp.Column) for side in (left, right)):
                a, b = self._value(left), self._value(right)
                present = [{"$gt": [side, None]} for side in (a, b)]  # null and missing sort below values
                return {"$expr": {"$and": [*present, {operator: [a, b]}]}}
            raise UnsupportedQuery(f"comparison {node.sql('postgres')[:60]} is not supported on MongoDB sources")
        if isinstance(node, exp.In):
            if node.args.get("query"):
                raise UnsupportedQuery("IN (SELECT ...) is not supported on MongoDB sources")
            values = [v for v in (self._literal(v, node.this) for v in node.expressions) if v is not None]
            if negated:
                return {field_of(node.this): {"$nin": [*values, None], "$exists": True}}
            return {field_of(node.this): {"$in": values}}
        if isinstance(node, exp.Between):
            name = field_of(node.this)
            low = self._literal(node.args["low"], node.this)
            high = self._literal(node.args["high"], node.this)
            if negated:
                return {"$or": [{name: {"$lt": low}}, {name: {"$gt": high}}]}
            return {name: {"$gte": low, "$lte": high}}
        if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
            if bool(node.args.get("negate")) != negated:  # IS NOT NULL
                return {field_of(node.this): {"$ne": None}}
            return {field_of(node.this): None}  # matches null and missing
        if isinstance(node, (exp.Like, exp.ILike)):
            pattern = self._literal(node.expression)
            if not isinstance(pattern, str):
                raise UnsupportedQuery("LIKE needs a text pattern")
            regex = {"$regex": like_to_regex(pattern), "$options": "si" if isinstance(node, exp.ILike) else "s"}
            if negated:  # $not takes a regular expression object, not $regex/$options
                compiled = re.compile(regex["$regex"], re.S | (re.I if isinstance(node, exp.ILike) else 0))
                return {field_of(node.this): {"$not": compiled, "$exists": True, "$nin": [None]}}
            return {field_of(node.this): regex}
        raise UnsupportedQuery(f"{node.key.upper()} in a condition is not supported on MongoDB sources")

    def _field(self, node: exp.Expression) -> str:
        if not isinstance(node, exp.Column):
            raise UnsupportedQuery(f"conditions compare a field with a value; got {node.sql('postgres')[:60]}")
        return self._path(node)

    @staticmethod
    def _is_constant(node: exp.Expression) -> bool:
        if _is_param(node):
            return True
        return isinstance(node, (exp.Literal, exp.Null, exp.Boolean, exp.Neg, exp.Cast)) and not any(
            isinstance(n, exp.Column) and not _is_param(n) for n in node.walk())

    # -- SELECT list, GROUP BY, ORDER BY ---------------------------------------------------
    def _projections(self) -> list[tuple[str, exp.Expression]]:
        out: list[tuple[str, exp.Expression]] = []
        for node in self.tree.expressions:
            if isinstance(node, exp.Star) or (isinstance(node, exp.Column) and isinstance(node.this, exp.Star)):
                if len(self.scope.prefixes) > 1:
                    raise UnsupportedQuery("SELECT * with joins is not supported; name the columns")
                known = self.columns_of.get(self.scope.base)
                if not known:
                    raise UnsupportedQuery(f"SELECT * needs the schema of {self.scope.base}; name the columns")
                out.extend((name, exp.column(name)) for name in known)
            elif isinstance(node, exp.Alias):
                out.append((node.alias, node.this))
            else:
                out.append((node.alias_or_name if isinstance(node, exp.Column) else node.sql("postgres"), node))
        return out

    def _has_aggregate(self, node: exp.Expression) -> bool:
        return any(isinstance(n, (exp.Count, *_AGGREGATES)) for n in node.walk())

    def _accumulator(self, node: exp.Expression) -> str:
        """The $group field computing aggregate ``node`` (shared when repeated)."""
        key = node.sql("postgres")
        if key in self.aggregates:
            return self.aggregates[key][0]
        name = f"a{len(self.aggregates)}"
        if isinstance(node, exp.Count):
            target = node.this
            if isinstance(target, exp.Distinct):
                (inner,) = target.expressions
                accumulator: dict[str, Any] = {"$addToSet": self._value(inner)}
            elif target is None or isinstance(target, exp.Star):
                accumulator = {"$sum": 1}
            else:
                value = self._value(target)
                accumulator = {"$sum": {"$cond": [{"$gt": [value, None]}, 1, 0]}}
        else:
            operator = next(op for kind, op in _AGGREGATES.items() if isinstance(node, kind))
            if isinstance(node.this, exp.Distinct):
                raise UnsupportedQuery(f"{operator[1:].upper()}(DISTINCT ...) is not supported on MongoDB sources")
            accumulator = {operator: self._value(node.this)}
        self.aggregates[key] = (name, accumulator)
        return name

    def _grouped_value(self, node: exp.Expression, keys: dict[str, str]) -> Any:
        """A value after $group: a group key, an aggregate, or arithmetic over them."""
        key = node.sql("postgres")
        if key in keys:
            return f"$_id.{keys[key]}"
        if isinstance(node, exp.Paren):
            return self._grouped_value(node.this, keys)
        if isinstance(node, exp.Count) or type(node) in _AGGREGATES:
            name = self._accumulator(node)
            if isinstance(node, exp.Count) and isinstance(node.this, exp.Distinct):
                return {"$size": f"${name}"}
            return f"${name}"
        for kind, operator in _ARITHMETIC.items():
            if isinstance(node, kind):
                return {operator: [self._grouped_value(node.this, keys), self._grouped_value(node.expression, keys)]}
        if self._is_constant(node):
            return {"$literal": self._literal(node)}
        raise UnsupportedQuery(f"{node.sql('postgres')[:60]} must be in GROUP BY or inside an aggregate")

    def _group(self, group: exp.Group | None, projections: list[tuple[str, exp.Expression]],
               having: exp.Having | None) -> None:
        keys: dict[str, str] = {}
        group_id: dict[str, Any] = {}
        aliases = {name: node for name, node in projections}
        for node in group.expressions if group else []:
            if isinstance(node, exp.Literal) and node.is_int:  # GROUP BY 1
                node = projections[int(node.this) - 1][1]
            elif isinstance(node, exp.Column) and not node.table and node.name in aliases \
                    and not isinstance(aliases[node.name], exp.Column):
                node = aliases[node.name]
            name = f"g{len(keys)}"
            keys[node.sql("postgres")] = name
            group_id[name] = self._value(node)
        output = {f"c{i}": self._grouped_value(node, keys) for i, (_, node) in enumerate(projections)}
        having_match = None
        if having is not None:
            extra: dict[str, Any] = {}

            def value_of(node: exp.Expression) -> str:
                if isinstance(node, exp.Column) and not node.table and node.name in aliases:
                    node = aliases[node.name]
                name = f"h{len(extra)}"
                extra[name] = self._grouped_value(node, keys)
                return name

            having_match = self._condition(having.this, value_of)
        sort_stages = self._sort(projections, grouped=True, keys=keys)
        # every accumulator is known only now (HAVING and ORDER BY may add some)
        self.pipeline.append({"$group": {"_id": group_id or None,
                                         **{name: acc for name, acc in self.aggregates.values()}}})
        if having_match is not None:
            self.pipeline.append({"$addFields": extra})
            self.pipeline.append({"$match": having_match})
        self.pipeline.extend(sort_stages)
        self.pipeline.append({"$project": {"_id": 0, **output}})

    def _sort(self, projections: list[tuple[str, exp.Expression]], *, grouped: bool,
              keys: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """The stages ordering the rows (before the final $project, on full values)."""
        order = self.tree.args.get("order")
        if order is None:
            return []
        aliases = {name: node for name, node in projections}
        sort: dict[str, int] = {}
        computed: dict[str, Any] = {}
        for item in order.expressions:
            node = item.this
            if isinstance(node, exp.Literal) and node.is_int:
                node = projections[int(node.this) - 1][1]
            elif isinstance(node, exp.Column) and not node.table and node.name in aliases:
                node = aliases[node.name]
            direction = -1 if item.args.get("desc") else 1
            if grouped:
                name = f"s{len(computed)}"
                computed[name] = self._grouped_value(node, keys or {})
                sort[name] = direction
            elif isinstance(node, exp.Column):
                sort[self._path(node)] = direction
            else:
                name = f"s{len(computed)}"
                computed[name] = self._value(node)
                sort[name] = direction
        return [*([{"$addFields": computed}] if computed else []), {"$sort": sort}]


_NUMERIC_TYPES = {"int", "long", "double", "decimal"}


def _cast_text(value: str, field_type: str | None) -> Any:
    """Text compared with a date or number field, as that type when it reads as one
    (CLI parameters arrive as text; MongoDB never matches "100" against 100)."""
    try:
        if field_type == "date":
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if field_type in _NUMERIC_TYPES:
            return _number(value.strip())
    except ValueError:
        pass
    return value


def like_to_regex(pattern: str) -> str:
    """SQL LIKE (``%``, ``_``, backslash escapes) -> an anchored regular expression."""
    out, escaped = [], False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return "^" + "".join(out) + "$"


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)
