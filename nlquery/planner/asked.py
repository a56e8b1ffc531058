"""What the question asks for, held against what the SQL does.

Small models add what nobody asked for (a ``LIMIT 10`` on "tracks in each genre") and
drop what was asked ("rounded to 1 decimal"). :func:`drop_unasked_limit` removes an
outermost ``LIMIT`` the question gives no reason for (no number, no ranking word);
:func:`keep_ties` turns ``ORDER BY ... LIMIT 1`` into "equal to the maximum" when the
question asks for everyone tied; :func:`undivided_metrics` keeps a named metric whole
when the question asks for no ratio; :func:`asked_warnings` names what the question asks and the SQL lacks (rounding, all
the rows tied, a unit the question wants from a column in another unit, a metric or
segment the question names), to be fed back once like the other warnings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from sqlglot import exp

from nlquery.guard.parameters import dialect_of
from connectors.models import Schema
from nlquery.planner.linking import singular
from nlquery.planner.literals import parsed
from nlquery.planner.repair import NAMING, schema_table
from nlquery.semantic import SemanticMapping, definition_name, words

# Words that make "only the first N rows" part of the question.
RANKING = re.compile(
    r"\b(top|first|last|most|least|fewest|highest|lowest|best|worst|largest|smallest|biggest|longest|shortest|"
    r"latest|earliest|newest|oldest|cheapest|priciest|maximum|minimum|max|min|single|one|recent|"
    r"\w{3,}est)\b", re.IGNORECASE)
NUMBER = re.compile(r"\b(\d+|two|three|four|five|six|seven|eight|nine|ten|twenty|dozen|hundred)\b", re.IGNORECASE)
# "-est" words that are not superlatives.
NOT_SUPERLATIVE = {"interest", "request", "requests", "forest", "guest", "guests", "test", "tests", "contest",
                   "quest", "harvest", "manifest", "suggest", "protest", "invest", "honest", "modest", "west",
                   "midwest", "digest", "arrest", "chest", "nest", "pest", "rest", "vest", "crest", "zest"}
# Numbers that say how to show values or which period, not how many rows.
NOT_A_COUNT = re.compile(r"\b\d+\s+(decimal|digit|place)s?\b|\b(19|20)\d\d\b", re.IGNORECASE)
ROUNDING = re.compile(r"\bround(?:ed|ing)?\b[^.?!]*?\b(\d+|one|two|three|no)\s+decimal", re.IGNORECASE)
# "Which media type has ...", "What genre is ...": the rows the question asks for.
WHICH = re.compile(r"^\s*(?:which|what)\s+(?:\d+\s+)?([a-z][a-z ]*)", re.IGNORECASE)
# Words that ask for a measure divided by another.
RATIO = re.compile(r"\b(average|avg|mean|ratio|share|percent|percentage|proportion|fraction|rate)\b", re.IGNORECASE)
TIES = re.compile(r"\b(tie|ties|tied|tying)\b", re.IGNORECASE)
# Units a column's name can say it holds, and what one of them is in seconds.
UNITS = {"millisecond": 0.001, "milli": 0.001, "ms": 0.001, "second": 1, "sec": 1, "minute": 60,
         "hour": 3600, "hr": 3600, "day": 86400}
ASKED_UNIT = re.compile(r"\b(?:in|as|to)\s+(seconds|minutes|hours|days)\b", re.IGNORECASE)
DATE_FUNCTIONS = (exp.TimeToStr, exp.StrToTime, exp.Extract, exp.DateTrunc, exp.Date, exp.TsOrDsToDate)


def _ranks(question: str) -> bool:
    return any(m.group(0).lower() not in NOT_SUPERLATIVE for m in RANKING.finditer(question))


def drop_unasked_limit(sql: str, question: str, dialect: str) -> str:
    """``sql`` without its outermost ``LIMIT``/``TOP`` when the question names no number
    (of rows: "rounded to 2 decimals" and years do not count) and no ranking (top, most,
    longest, ...); unchanged otherwise or when it does not parse."""
    if NUMBER.search(NOT_A_COUNT.sub(" ", question)) or _ranks(question):
        return sql
    tree = parsed(sql, dialect)
    if not isinstance(tree, exp.Query) or tree.args.get("offset") is not None:
        return sql
    limit = tree.args.get("limit")
    if limit is None:
        return sql
    limit.pop()
    return dialect_of(dialect).generate(tree, copy=False)


def keep_ties(sql: str, question: str, dialect: str) -> str:
    """``ORDER BY x DESC LIMIT 1`` as "the rows whose x is the maximum" when the question
    asks for everyone tied: ``... GROUP BY c.id HAVING COUNT(*) = (SELECT MAX(n) FROM
    (SELECT COUNT(*) AS n ... GROUP BY c.id))``, or ``WHERE x = (SELECT MAX(x) ...)``
    without a GROUP BY. Unchanged unless the outermost query orders by one expression
    and keeps one row (no OFFSET, no set operation)."""
    if not TIES.search(question):
        return sql
    tree = parsed(sql, dialect)
    if not isinstance(tree, exp.Select) or tree.args.get("offset") is not None or tree.args.get("with"):
        return sql
    limit, order = tree.args.get("limit"), tree.args.get("order")
    if limit is None or order is None or len(order.expressions) != 1:
        return sql
    count = limit.expression if isinstance(limit, exp.Limit) else None
    if not (isinstance(count, exp.Literal) and count.is_int and int(count.this) == 1):
        return sql
    ordered = order.expressions[0]
    key = ordered.this
    named = {p.alias.lower(): p.unalias() for p in tree.expressions if isinstance(p, exp.Alias)}
    if isinstance(key, exp.Column) and not key.table and key.name.lower() in named:
        key = named[key.name.lower()]  # ORDER BY an output name
    elif isinstance(key, exp.Literal) and key.is_int and 0 < int(key.this) <= len(tree.expressions):
        key = tree.expressions[int(key.this) - 1].unalias()  # ORDER BY 2
    pick = exp.Max if ordered.args.get("desc") else exp.Min
    inner = tree.copy()
    for part in ("order", "limit", "distinct"):
        inner.set(part, None)
    grouped = tree.args.get("group") is not None
    if grouped:
        inner.set("expressions", [exp.alias_(key.copy(), "n")])
        best = exp.select(pick(this=exp.column("n"))).from_(inner.subquery("ranked"))
        tree.set("having", exp.and_(tree.args["having"].this, exp.EQ(this=key.copy(), expression=best.subquery()))
                 if tree.args.get("having") else exp.Having(this=exp.EQ(this=key.copy(), expression=best.subquery())))
    else:
        if key.find(exp.AggFunc) is not None:
            return sql
        inner.set("expressions", [pick(this=key.copy())])
        tree.where(exp.EQ(this=key.copy(), expression=inner.subquery()), copy=False)
    tree.set("limit", None)
    return dialect_of(dialect).generate(tree, copy=False)


def asked_entity_warnings(sql: str, question: str, dialect: str, schema: Schema,
                          mappings: Mapping[str, SemanticMapping] | None = None) -> list[str]:
    """A question that asks "which <table> ..." answered with none of that table's
    columns: "Which media type has the most tracks?" as ``SELECT t.name FROM media_types
    m JOIN tracks t ... GROUP BY t.name`` returns track names. The table is matched by its
    name's words or a mapped synonym, among the query's own tables."""
    match = WHICH.match(question)
    tree = parsed(sql, dialect) if match else None
    if not isinstance(tree, exp.Select):
        return []
    asked = [singular(w) for w in words(match.group(1))][:4]  # type: ignore[union-attr]
    for node in tree.find_all(exp.Table):
        table = schema_table(schema, node)
        if table is None:
            continue
        key = schema.qualified_name(table)
        mapping = (mappings or {}).get(key) or (mappings or {}).get(table.name)
        for name in [table.name, *(mapping.synonyms if mapping else [])]:
            said = [singular(w) for w in words(name)]
            if said and asked[:len(said)] == said:
                break
        else:
            continue
        read = [c for p in tree.expressions for c in p.find_all(exp.Column)]
        if any(isinstance(p, exp.Star) for p in tree.expressions) or any(not c.table for c in read) \
                or (node.alias_or_name or node.name).lower() in {c.table.lower() for c in read}:
            return []  # it returns the table's columns, or it cannot be told which table it reads
        naming = next((c.name for c in table.columns if NAMING.match(c.name)), None) or \
            (table.primary_key[0] if table.primary_key else None)
        if naming is None:
            return []
        qualifier = node.alias_or_name or node.name
        return [f"the question asks which {' '.join(words(match.group(1))[:len(said)])}, but the query returns no column of {key}: "
                f"return {qualifier}.{naming} (and group by {key}'s key if it groups)."]
    return []


def asked_warnings(sql: str, question: str, dialect: str = "", definitions: Sequence[str] = (),
                   mappings: Mapping[str, SemanticMapping] | None = None) -> list[str]:
    """What the question asks for that ``sql`` does not do: rounding, every row tied for
    the most, a unit ("in minutes") from a column in another (``milliseconds``), and the
    metrics and segments the question names (``definitions``, keys of ``mappings``)."""
    found = []
    rounding = ROUNDING.search(question)
    if rounding and "ROUND(" not in re.sub(r"\s+\(", "(", sql.upper()):
        places = {"one": "1", "two": "2", "three": "3", "no": "0"}.get(rounding.group(1).lower(), rounding.group(1))
        found.append(f"the question asks for values rounded to {places} decimal(s): "
                     f"wrap the computed values in ROUND(value, {places}).")
    tree = parsed(sql, dialect)
    if tree is None:
        return found
    if TIES.search(question) and isinstance(tree, exp.Query) and tree.args.get("limit") is not None:
        found.append("the question asks for every row tied for the top, which a LIMIT cuts off: keep the rows whose "
                     "value equals the maximum, e.g. HAVING COUNT(*) = (SELECT MAX(n) FROM (SELECT COUNT(*) AS n ... "
                     "GROUP BY ...)).")
    found.extend(_unit_warnings(tree, question))
    found.extend(_definition_warnings(tree, definitions, mappings or {}, dialect))
    return found


def undivided_metrics(sql: str, question: str, dialect: str, definitions: Sequence[str],
                      mappings: Mapping[str, SemanticMapping]) -> str:
    """``sql`` with each metric the question names no longer divided by another aggregate
    when the question asks for no average, share or rate: "the revenue of each genre" as
    ``SUM(price * quantity) / COUNT(invoice_id)`` reads ``SUM(price * quantity)``. A
    metric is the whole measure; a small model told so rewrites the query and loses it."""
    if RATIO.search(question):
        return sql
    tree = parsed(sql, dialect)
    if tree is None:
        return sql
    changed = False
    for key in definitions:
        mapping = mappings.get(key)
        definition = parsed(mapping.sql, dialect) if key.startswith("metric:") and mapping and mapping.sql else None
        if not isinstance(definition, exp.AggFunc):
            continue
        needed = {c.name.lower() for c in definition.find_all(exp.Column)}
        for node in list(tree.find_all(type(definition))):
            parent = node.parent
            while isinstance(parent, exp.Paren):
                node, parent = parent, parent.parent
            if isinstance(parent, exp.Div) and parent.this is node and parent.expression.find(exp.AggFunc) \
                    and needed <= {c.name.lower() for c in node.find_all(exp.Column)}:
                parent.replace(node.unnest())
                changed = True
    return dialect_of(dialect).generate(tree, copy=False) if changed else sql


def _unit_of(column: str) -> tuple[str, float] | None:
    for word in reversed(re.split(r"[_\W]+|(?<=[a-z])(?=[A-Z])", column.lower())):
        word = word[:-1] if word.endswith("s") and word[:-1] in UNITS else word
        if word in UNITS:
            return word, UNITS[word]
    return None


def _unit_warnings(tree: exp.Expression, question: str) -> list[str]:
    """"length in minutes" from ``milliseconds``: the factor must be there (``/ 60000.0``),
    and a date function is no way to convert a number."""
    asked = ASKED_UNIT.search(question)
    if asked is None:
        return []
    wanted = asked.group(1).lower()
    per_wanted = UNITS[wanted[:-1]]
    numbers = [float(n.this) for n in tree.find_all(exp.Literal) if n.is_number]
    products = {a * b for a in numbers for b in numbers} | set(numbers)  # 60000.0, or 1000 * 60
    converted = {c.name for node in tree.find_all(*DATE_FUNCTIONS) for c in node.find_all(exp.Column)}
    found = []
    for column in dict.fromkeys(c.name for c in tree.find_all(exp.Column)):
        unit = _unit_of(column)
        if unit is None or unit[1] == per_wanted:
            continue
        factor = per_wanted / unit[1] if per_wanted > unit[1] else unit[1] / per_wanted
        if column in converted or not any(abs(p - factor) < 1e-9 for p in products):
            op = "/" if per_wanted > unit[1] else "*"
            found.append(f"{column} holds {unit[0]}s, a number, and the question wants {wanted}: "
                         f"{wanted} = {column} {op} {factor:g}.0 (not a date function).")
    return found


def _definition_warnings(tree: exp.Expression, definitions: Sequence[str], mappings: Mapping[str, SemanticMapping],
                         dialect: str) -> list[str]:
    """A metric or segment the question names whose columns the query does not read."""
    read = {c.name.lower() for c in tree.find_all(exp.Column)}
    found = []
    for key in definitions:
        mapping = mappings.get(key)
        text = mapping and (mapping.sql if key.startswith("metric:") else mapping.where)
        if not text:
            continue
        definition = parsed(text, dialect)
        needed = {c.name.lower() for c in definition.find_all(exp.Column)} if definition is not None else set()
        if needed and not needed <= read:
            if key.startswith("metric:"):
                found.append(f"the question names the METRIC {definition_name(key)} = {mapping.sql}: "  # type: ignore[union-attr]
                             "compute it with exactly that expression.")
            else:
                found.append(f"the question names the SEGMENT {definition_name(key)} = {mapping.table} WHERE "  # type: ignore[union-attr]
                             f"{mapping.where}: the query must keep only those rows.")  # type: ignore[union-attr]
    return found
