"""``validate_sql``: parse, prove read-only, apply the exposure policy, cap, render.

Order of checks: size, lexical tricks sqlglot would hide (MySQL executable comments,
``INTO OUTFILE``), parse (never pass through), exactly one statement, a query at the
root, every node of the tree (statements, clauses, functions, hints: one walk, which also
collects the placeholders, tables and columns the later steps use), exposure against the
known schema, then the row cap in the AST.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.dialects.mysql import MySQL
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from connectors.base import DialectFacts
from connectors.models import Schema
from nlquery.errors import AccessDenied, InvalidQuery, InvalidRequest, NLQueryError, UnsafeQueryError
from nlquery.guard import functions
from nlquery.guard.exposure import Policy, check_exposure, reference
from nlquery.guard.parameters import Template, dialect_of, parameter_index, render_template

# sqlglot logs a warning when it falls back to an opaque Command; we reject those anyway.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

MAX_SQL_BYTES = 100_000
# Deeper nesting is no report anyone asks for, and Python's recursion would give out.
MAX_NESTING = 100
DIALECTS = ("postgres", "mysql", "sqlite", "tsql", "duckdb")

# Nodes that write, change the session, or hide a statement sqlglot could not analyse.
FORBIDDEN_NODES: dict[type[exp.Expression], str] = {
    exp.Insert: "INSERT", exp.Update: "UPDATE", exp.Delete: "DELETE", exp.Merge: "MERGE",
    exp.Create: "CREATE", exp.Drop: "DROP", exp.Alter: "ALTER", exp.TruncateTable: "TRUNCATE",
    exp.Copy: "COPY", exp.Set: "SET", exp.Pragma: "PRAGMA", exp.Attach: "ATTACH",
    exp.Detach: "DETACH", exp.Use: "USE", exp.Grant: "GRANT", exp.Revoke: "REVOKE",
    exp.Transaction: "a transaction statement", exp.Commit: "COMMIT", exp.Rollback: "ROLLBACK",
    exp.Execute: "EXECUTE", exp.ExecuteSql: "EXECUTE", exp.Kill: "KILL", exp.Analyze: "ANALYZE",
    exp.Refresh: "REFRESH", exp.Cache: "CACHE", exp.Uncache: "UNCACHE", exp.Declare: "DECLARE",
    exp.LoadData: "LOAD DATA", exp.Comment: "COMMENT", exp.Into: "SELECT ... INTO",
    exp.Lock: "a locking clause (FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE)",
    exp.LockingStatement: "LOCKING", exp.PropertyEQ: "a variable assignment (:=)",
    exp.Command: "a statement sqlglot cannot analyse",
    # DuckDB statements that read a whole table's values or catalog when used as a
    # subquery (FROM (SUMMARIZE t)): the exposure policy cannot see their columns.
    exp.Summarize: "SUMMARIZE", exp.Describe: "DESCRIBE", exp.Show: "SHOW",
}
_FORBIDDEN_TYPES = tuple(FORBIDDEN_NODES)
_QUERY_STARTS = {TokenType.SELECT, TokenType.WITH, TokenType.VALUES, TokenType.L_PAREN, TokenType.TABLE}
# Statements sqlglot cannot parse and tokenizes as plain words.
_STATEMENT_WORDS = frozenset(
    "DO HANDLER WAITFOR BULK INSTALL UNINSTALL SECURITY IMPORT LISTEN NOTIFY UNLISTEN CHECKPOINT "
    "VACUUM CLUSTER REINDEX DISCARD DEALLOCATE SAVEPOINT RELEASE FLUSH RESET SHUTDOWN "
    "RECONFIGURE DBCC BACKUP RESTORE PURGE CHANGE REPAIR CHECK START ABORT UNLOCK RENAME OPTIMIZE "
    "REPLACE XA LOAD CALL PREPARE EXECUTE EXEC".split()
)


@dataclass(frozen=True)
class SafeQuery:
    """A statement the guard accepted.

    ``sql`` is rendered for ``dialect`` with ``$n`` placeholders (for people and
    logs); :meth:`bind` renders it for a driver. ``tables`` and ``columns`` list what
    it reads (columns as resolved ``table.column`` when a schema was given);
    ``rewrites`` what the guard changed (the row cap).
    """

    sql: str
    dialect: str
    parameter_count: int
    parameter_order: tuple[int, ...]
    tables: tuple[str, ...]
    columns: tuple[str, ...] = ()
    rewrites: tuple[str, ...] = ()
    _template: Template = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    @property
    def changed(self) -> bool:
        """True when the guard rewrote the statement (e.g. added a row cap)."""
        return bool(self.rewrites)

    def bind(self, params: Sequence[Any], paramstyle: str) -> tuple[str, list[Any]]:
        """SQL in the driver's placeholder style (``qmark``: ``?``, ``format``:
        ``%s``) and the parameters in placeholder order (``$n`` may repeat or come
        in any order). A count mismatch is ``invalid_request``."""
        return self._template.bind(list(params), paramstyle)


def validate_sql(
    sql: str,
    dialect: str,
    *,
    policy: Policy | None = None,
    schema: Schema | None = None,
    max_rows: int | None = None,
    facts: DialectFacts | None = None,
) -> SafeQuery:
    """Accept ``sql`` only if it is one read-only query in ``dialect``.

    Raises :class:`~nlquery.errors.InvalidQuery` (does not parse; unknown table or
    column, with a suggestion), :class:`~nlquery.errors.UnsafeQueryError`
    (``query_not_read_only``: could write or has side effects),
    :class:`~nlquery.errors.AccessDenied` (hidden by ``policy``) or
    :class:`~nlquery.errors.InvalidRequest` (placeholders other than ``$n``).
    With ``schema``, every table and column must exist in it. With ``max_rows``, the
    statement returns at most that many rows (LIMIT / TOP / FETCH set in the AST).
    ``facts``: the source connector's :class:`~connectors.base.DialectFacts` (for
    ``dialect``): its functions are added to the base allow and deny lists.

    Whatever ``sql`` holds, only :class:`~nlquery.errors.NLQueryError` subclasses are
    raised: anything sqlglot or Python gives up on is ``invalid_query``.
    """
    try:
        return _validate(sql, dialect, policy, schema, max_rows, facts)
    except NLQueryError:
        raise
    except RecursionError:
        raise InvalidQuery("the query is nested too deeply to analyse; simplify it") from None
    except (ParseError, TokenError) as exc:
        raise InvalidQuery(f"could not parse the query as {dialect} SQL: {_error_message(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - never let a parser failure escape as a 500
        logging.getLogger(__name__).debug("guard failure on %r", sql, exc_info=True)
        raise InvalidQuery(f"could not analyse the query as {dialect} SQL ({type(exc).__name__})") from None


def _validate(
    sql: str, dialect: str, policy: Policy | None, schema: Schema | None, max_rows: int | None,
    facts: DialectFacts | None = None,
) -> SafeQuery:
    if facts is not None and facts.dialect != dialect:
        raise InvalidRequest(f"the dialect facts are for {facts.dialect!r}, not {dialect!r}")
    tree = _parse_one(sql, dialect, policy.max_sql_bytes if policy else MAX_SQL_BYTES)
    rewrites: list[str] = []
    # One walk over the tree for every node check; it also collects what later steps need.
    seen = _reject_side_effects(tree, dialect, policy, schema, facts, sql=sql)
    if seen.hints:
        for hint in seen.hints:
            hint.pop()
        rewrites.append("optimizer hints dropped")
    if schema is None and policy is not None and policy.restricts:
        raise AccessDenied(
            "the schema of this source is not known yet; refresh it before querying a restricted source"
        )
    resolution = check_exposure(tree, dialect, schema, policy) if schema is not None else None

    if max_rows is not None:
        tree, capped = _cap_rows(tree, max_rows)
        if capped:
            rewrites.append(f"row cap: at most {max_rows} rows")
    template = render_template(tree, dialect, sql, seen.placeholders)
    if resolution is not None:
        tables = tuple(schema.qualified_name(t) for t in resolution.tables)  # type: ignore[union-attr]
        columns = tuple(resolution.columns)
    else:
        tables = tuple(dict.fromkeys(reference(t) for t in seen.tables if t.name))
        columns = tuple(dict.fromkeys(c.name for c in seen.columns if c.name))
    return SafeQuery(
        sql=template.display(), dialect=dialect, parameter_count=template.count,
        parameter_order=template.order, tables=tables, columns=columns,
        rewrites=tuple(rewrites), _template=template,
    )


def _parse_one(sql: str, dialect: str, max_bytes: int) -> exp.Expression:
    if not isinstance(sql, str) or not sql.strip():
        raise InvalidQuery("the query is empty")
    if len(sql.encode("utf-8", "surrogatepass")) > max_bytes:
        raise InvalidQuery(f"the query is larger than the {max_bytes:,} byte limit")
    try:
        parser_dialect = dialect_of(dialect)
    except ValueError:
        raise InvalidRequest(f"unknown SQL dialect {dialect!r}") from None
    tokenizer, parser = _workers(parser_dialect, dialect)
    try:
        tokens = tokenizer.tokenize(sql)
    except TokenError as exc:
        raise InvalidQuery(f"could not read the query as {dialect} SQL: {_error_message(exc)}") from None
    _reject_lexical_tricks(tokens, dialect, sql)  # and, in the same pass over the tokens, deep nesting
    try:
        statements = [s for s in parser.parse(tokens, sql) if s is not None]
    except ParseError as exc:
        if tokens and _starts_other_statement(tokens[0]):
            raise UnsafeQueryError(f"only queries are allowed, not {tokens[0].text.upper()}") from None
        raise InvalidQuery(f"could not parse the query as {dialect} SQL: {_error_message(exc)}") from None
    if not statements:
        raise InvalidQuery("the query has no statement")
    if len(statements) != 1:
        raise UnsafeQueryError(f"exactly one statement is allowed, found {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, (exp.Query, exp.Values)):
        raise UnsafeQueryError(f"only queries are allowed, not {_describe(tree, tokens)}")
    return tree


_THREAD = threading.local()


def _workers(parser_dialect: Dialect, dialect: str) -> tuple[Any, Any]:
    """This thread's tokenizer and parser for ``dialect`` (both reset their state on every
    call; building them costs about a tenth of parsing a short query)."""
    workers = _THREAD.__dict__.setdefault("workers", {})
    pair = workers.get(dialect)
    if pair is None:
        pair = workers[dialect] = (parser_dialect.tokenizer(), parser_dialect.parser())
    return pair


def _starts_other_statement(first: Token) -> bool:
    if first.token_type in _QUERY_STARTS or not first.text.isalpha():
        return False
    return first.token_type != TokenType.VAR or first.text.upper() in _STATEMENT_WORDS


# MySQL runs /*! ... */ and MariaDB /*M! ... */ as SQL; sqlglot reads both as comments.
_EXECUTABLE_COMMENT = re.compile(r"\s*m?!", re.IGNORECASE)


def _reject_lexical_tricks(tokens: list[Token], dialect: str, sql: str | None = None) -> None:
    """Executable comments and ``INTO OUTFILE`` (unsafe), then nesting deeper than
    :data:`MAX_NESTING` (invalid): one pass over the tokens, the unsafe verdict first.
    With ``sql`` (the tokens' text), the pass is skipped when the text cannot hold any of
    them: no ``!`` (every executable comment has one), no ``into``, and fewer opening
    brackets than the limit (characters in strings only make these counts larger)."""
    mysql_family = isinstance(dialect_of(dialect), MySQL)
    if sql is not None and not (mysql_family and "!" in sql) and "into" not in sql.lower() and (
            sql.count("(") + sql.count("[") + sql.count("{") <= MAX_NESTING):
        return
    depth, too_deep = 0, None
    for position, token in enumerate(tokens):
        kind = token.token_type
        if mysql_family and token.comments and any(_EXECUTABLE_COMMENT.match(c) for c in token.comments):
            raise UnsafeQueryError("MySQL/MariaDB executable comments (/*! ... */, /*M! ... */) are not allowed")
        if kind == TokenType.INTO and position + 1 < len(tokens):
            following = tokens[position + 1].text.upper()
            if following in ("OUTFILE", "DUMPFILE"):
                raise UnsafeQueryError(f"SELECT ... INTO {following} writes a file and is not allowed")
        if kind in _OPENING:
            depth += 1
            if depth > MAX_NESTING and too_deep is None:
                too_deep = token
        elif kind in _CLOSING:
            depth = max(0, depth - 1)
    if too_deep is not None:
        raise InvalidQuery(
            f"the query nests brackets more than {MAX_NESTING} levels deep "
            f"(line {too_deep.line}, column {too_deep.col}); simplify it"
        )


_OPENING = {TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE}
_CLOSING = {TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE}


@dataclass
class _Seen:
    """What the guard's one walk collected besides its verdict."""

    hints: list[exp.Expression] = field(default_factory=list)
    placeholders: list[tuple[exp.Expression, int]] = field(default_factory=list)
    tables: list[exp.Table] = field(default_factory=list)
    columns: list[exp.Column] = field(default_factory=list)


_PARAMETER_TYPES = (exp.Parameter, exp.Placeholder, exp.Column)


def _is_hint(node: exp.Expression) -> bool:
    return isinstance(node, exp.Hint)


# What the walk must do with a node, decided once per node class (isinstance against the
# forbidden classes and the rest cost more than the whole walk otherwise).
_HINT, _FORBIDS, _PARAM, _COLUMN, _TABLE, _TABLE_HINT, _FUNC, _PLACEHOLDER = (1 << i for i in range(8))
_KINDS: dict[type, int] = {}


def _kind(cls: type) -> int:
    kind = _KINDS.get(cls)
    if kind is None:
        kind = ((_HINT if issubclass(cls, exp.Hint) else 0) | (_FORBIDS if issubclass(cls, _FORBIDDEN_TYPES) else 0)
                | (_PARAM if issubclass(cls, _PARAMETER_TYPES) else 0) | (_COLUMN if issubclass(cls, exp.Column) else 0)
                | (_TABLE if issubclass(cls, exp.Table) else 0)
                | (_TABLE_HINT if issubclass(cls, exp.WithTableHint) else 0)
                | (_FUNC if issubclass(cls, exp.Func) else 0)
                | (_PLACEHOLDER if issubclass(cls, exp.Placeholder) else 0))
        _KINDS[cls] = kind
    return kind


def _reject_side_effects(
    tree: exp.Expression, dialect: str, policy: Policy | None, schema: Schema | None = None,
    facts: DialectFacts | None = None, *, sql: str | None = None,
) -> _Seen:
    """Every node (breadth first) but the insides of optimizer hints, which are dropped:
    no statement, clause or function with side effects, only ``$n`` placeholders. Returns
    the hints, placeholders, tables and columns met on the way."""
    seen = _Seen()
    allowed_by_source = policy.allowed_functions if policy else frozenset()
    extra_allowed = facts.allowed_functions if facts else frozenset()
    if schema is not None and schema.read_only_functions:  # what the database itself says is read-only
        extra_allowed = extra_allowed | frozenset(n.lower() for n in schema.read_only_functions)
    extra_denied = facts.denied_functions if facts else frozenset()
    kinds = _KINDS
    # Hints come from /*+ ... */ comments: without one in ``sql`` there is nothing to prune
    # (a Hint met anyway is still recorded and dropped, its insides checked too).
    for node in tree.walk(prune=_is_hint if sql is None or "/*+" in sql else None):
        kind = kinds.get(type(node))
        if kind is None:
            kind = _kind(type(node))
        if not kind:
            continue  # identifiers, literals, operators, clauses: nothing to check or collect
        if kind & _HINT:
            seen.hints.append(node)
            continue
        if kind & _FORBIDS and not _is_struct_field(node, dialect):
            raise UnsafeQueryError(f"the query contains {_forbidden(node)}, which is not read-only")
        if kind & _PARAM:
            index = parameter_index(node)
            if index is not None:
                seen.placeholders.append((node, index))
            elif kind & _COLUMN:
                seen.columns.append(node)
        if kind & _TABLE:
            seen.tables.append(node)
            if dialect == "duckdb":
                _reject_replacement_scan(node, schema)
        if kind & _TABLE_HINT:
            for hint in node.expressions:
                name = hint.name.lower()
                if name in functions.LOCKING_TABLE_HINTS:
                    raise UnsafeQueryError(f"the table hint {name.upper()} takes locks and is not allowed")
        elif kind & _FUNC:
            _check_function(node, dialect, allowed_by_source, extra_allowed, extra_denied)
        elif kind & _PLACEHOLDER and parameter_index(node) is None:
            raise InvalidRequest("use $1, $2 ... placeholders for parameters")
    return seen


def _check_function(node: exp.Func, dialect: str, allowed_by_source: frozenset[str],
                    extra_allowed: frozenset[str] = frozenset(), extra_denied: frozenset[str] = frozenset()) -> None:
    if isinstance(node, functions.DENIED_EXPRESSIONS):
        raise UnsafeQueryError(f"the function {node.sql_name()} has side effects and is not allowed")
    anonymous = isinstance(node, exp.Anonymous)
    name = node.name if anonymous else node.sql_name()
    if functions.is_denied(name, dialect, extra_denied):
        raise UnsafeQueryError(f"the function {name.lower()}() has side effects and is not allowed")
    if isinstance(node.parent, exp.WithTableHint):
        return  # table hints only steer the planner (locking ones are refused above)
    schema_name = _function_schema(node)
    if schema_name is not None and schema_name.lower() not in functions.SYSTEM_SCHEMAS:
        # rt_app.md5(x) is the database's own function, whatever built-in it is named after.
        qualified = f"{schema_name}.{name}".lower()
        if qualified not in allowed_by_source and name.lower() not in allowed_by_source:
            raise UnsafeQueryError(
                f"the function {schema_name}.{name}() is a user-defined function and may have side "
                "effects; if it is read-only, add it to the source's allowed_functions"
            )
        return
    if not anonymous:
        return  # functions sqlglot models are read-only built-ins
    if not (functions.is_known_read_only(name, dialect, extra_allowed) or name.lower() in allowed_by_source
            or _modeled_built_in(name, dialect)):
        raise UnsafeQueryError(
            f"the function {name}() is unknown and may have side effects; if it is read-only, "
            "add it to the source's allowed_functions"
        )


_DENIED_MODELED = frozenset(n.lower() for cls in functions.DENIED_EXPRESSIONS for n in cls.sql_names())


def _modeled_built_in(name: str, dialect: str) -> bool:
    """``pg_catalog.lower(x)``: a built-in sqlglot models when unqualified (so not on the
    allow lists), reached here as an unknown function because of its schema."""
    return name.upper() in dialect_of(dialect).parser_class.FUNCTIONS and name.lower() not in _DENIED_MODELED


def _function_schema(node: exp.Func) -> str | None:
    """``s`` for ``s.f(...)`` / ``db.s.f(...)`` (the schema next to the name), else None."""
    parent = node.parent
    if not isinstance(parent, exp.Dot) or node.arg_key != "expression":
        return None
    qualifier = parent.this
    if isinstance(qualifier, exp.Dot):
        qualifier = qualifier.expression
    return qualifier.name if isinstance(qualifier, (exp.Identifier, exp.Column)) and qualifier.name else "?"


# DuckDB reads a file for a table name that looks like one (``FROM 'data.csv'``,
# ``FROM "s3://b/x.parquet"``): a replacement scan. Only real, known tables are read.
_PATH_LIKE = re.compile(r"[./\\:*?~\[\]{}]")


def _reject_replacement_scan(node: exp.Table, schema: Schema | None) -> None:
    parts = [p for p in (node.catalog, node.db, node.name) if p]
    if not parts or not any(_PATH_LIKE.search(p) for p in parts):
        return
    if schema is not None and schema.table(".".join(parts[-2:])) is not None:
        return
    raise UnsafeQueryError(
        f"DuckDB would read {parts[-1]!r} as a file; only the source's tables can be queried"
    )


def _is_struct_field(node: exp.Expression, dialect: str) -> bool:
    """DuckDB's ``{'key': value}`` struct literal parses as ``key := value``: not an assignment."""
    return (dialect == "duckdb" and isinstance(node, exp.PropertyEQ) and isinstance(node.parent, exp.Struct)
            and isinstance(node.this, exp.Identifier))


def _forbidden(node: exp.Expression) -> str | None:
    if not isinstance(node, _FORBIDDEN_TYPES):
        return None
    for node_type, construct in FORBIDDEN_NODES.items():
        if isinstance(node, node_type):
            return construct
    return None


def _cap_rows(tree: exp.Expression, max_rows: int) -> tuple[exp.Expression, bool]:
    limit = tree.args.get("limit") if isinstance(tree, exp.Query) else None
    value = limit.expression if isinstance(limit, exp.Limit) else None
    if isinstance(value, exp.Literal) and value.is_int and int(value.name) <= max_rows:
        return tree, False
    fetch = tree.args.get("fetch") if isinstance(tree, exp.Query) else None
    if isinstance(tree, exp.Query) and fetch is None and (limit is None or isinstance(value, exp.Literal)):
        tree.set("limit", exp.Limit(expression=exp.Literal.number(max_rows)))  # no parse of the number
        return tree, True
    # LIMIT $1, FETCH FIRST ..., bare VALUES: cap from outside, semantics intact.
    capped = exp.Subquery(this=tree, alias=exp.TableAlias(this=exp.to_identifier("nlquery_capped")))
    wrapped = exp.Select(expressions=[exp.Star()]).from_(capped, copy=False)
    wrapped.set("limit", exp.Limit(expression=exp.Literal.number(max_rows)))
    return wrapped, True


def _describe(tree: exp.Expression, tokens: list[Token]) -> str:
    return _forbidden(tree) or (tokens[0].text.upper() if tokens else type(tree).__name__.upper())


_CLASS = re.compile(r"<class '[\w.]*?(\w+)'>")
_TOKEN = re.compile(r"\s*(but got )?<Token [^>]*>")


def _error_message(exc: Exception) -> str:
    """One line in the user's terms: where, and what is wrong (never sqlglot internals)."""
    if isinstance(exc, ParseError) and exc.errors:
        first = exc.errors[0]
        description = str(first.get("description") or "syntax error")
        if description.startswith("Required keyword"):
            description = "incomplete expression"
        elif description.startswith("Invalid expression / Unexpected token"):
            description = "unexpected token"
        description = _TOKEN.sub("", _CLASS.sub(lambda m: m.group(1), description))
        where = f"near line {first.get('line')}, column {first.get('col')}"
        highlight = str(first.get("highlight") or "").strip()
        if highlight:
            where += f" ({highlight[:30]!r})"
        return _one_line(f"syntax error {where}: {description}")
    text = str(exc)
    if isinstance(exc, TokenError):
        context = text.partition("Error tokenizing ")[2]
        return _one_line("a quoted string, quoted name or comment is not closed, or a character is not "
                         f"valid here{f' (near {context[-40:]})' if context else ''}")
    if "<class" in text or "<Token" in text:
        return "syntax error"
    return _one_line(text.splitlines()[0] if text else "syntax error")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
