"""The read-only guard: every SQL statement nlquery runs passes :func:`validate_sql`.

Parse with sqlglot in the source's dialect (never pass unparsed text through), allow
exactly one statement whose root is a query, walk the whole tree for anything that
writes or has side effects, cap the rows in the AST, and rewrite ``$1, $2 ...``
placeholders into the driver's style through the AST (so text inside string
literals is never touched).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from nlquery.errors import InvalidQuery, InvalidRequest, UnsafeQueryError

# sqlglot logs a warning when it falls back to an opaque Command; we reject those anyway.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

MAX_SQL_BYTES = 100_000

# Statement kinds that write, change the session or escape the query language.
_FORBIDDEN_NODES: dict[type[exp.Expression], str] = {
    exp.Insert: "INSERT",
    exp.Update: "UPDATE",
    exp.Delete: "DELETE",
    exp.Merge: "MERGE",
    exp.Create: "CREATE",
    exp.Drop: "DROP",
    exp.Alter: "ALTER",
    exp.TruncateTable: "TRUNCATE",
    exp.Copy: "COPY",
    exp.Set: "SET",
    exp.Pragma: "PRAGMA",
    exp.Attach: "ATTACH",
    exp.Detach: "DETACH",
    exp.Use: "USE",
    exp.Grant: "GRANT",
    exp.Revoke: "REVOKE",
    exp.Transaction: "a transaction statement",
    exp.Commit: "COMMIT",
    exp.Rollback: "ROLLBACK",
    exp.Execute: "EXECUTE",
    exp.Kill: "KILL",
    exp.Analyze: "ANALYZE",
    exp.Refresh: "REFRESH",
    exp.Cache: "CACHE",
    exp.Uncache: "UNCACHE",
    exp.Declare: "DECLARE",
    exp.LoadData: "LOAD DATA",
    exp.Into: "SELECT ... INTO",
    exp.Lock: "a locking clause (FOR UPDATE/SHARE)",
    exp.Command: "a statement sqlglot cannot analyse",
}

# Functions with side effects (files, network, sleeping, locks, sequences,
# configuration, process control). Names are lower case; checked in every dialect
# because a function name means the same thing wherever it exists.
DENIED_FUNCTIONS: frozenset[str] = frozenset(
    {
        # PostgreSQL
        "pg_sleep", "pg_sleep_for", "pg_sleep_until", "pg_read_file", "pg_read_binary_file",
        "pg_ls_dir", "pg_stat_file", "pg_write_file", "lo_import", "lo_export", "lo_create",
        "lo_unlink", "lo_put", "lo_from_bytea", "dblink", "dblink_exec", "dblink_connect",
        "nextval", "setval", "set_config", "pg_terminate_backend", "pg_cancel_backend",
        "pg_reload_conf", "pg_rotate_logfile", "pg_advisory_lock", "pg_advisory_xact_lock",
        "pg_try_advisory_lock", "pg_try_advisory_xact_lock", "pg_advisory_lock_shared",
        "pg_notify", "pg_logical_emit_message", "pg_switch_wal", "pg_create_restore_point",
        "query_to_xml", "query_to_xml_and_xmlschema", "cursor_to_xml",
        # MySQL / MariaDB
        "sleep", "benchmark", "load_file", "get_lock", "release_lock", "release_all_locks",
        "master_pos_wait", "source_pos_wait", "sys_exec", "sys_eval",
        # SQLite
        "load_extension", "writefile", "readfile", "fts3_tokenizer", "edit",
        # SQL Server
        "openrowset", "openquery", "opendatasource", "openxml",
    }
)


@dataclass(frozen=True)
class SafeQuery:
    """A statement the guard accepted. ``sql`` is rendered for ``dialect`` with
    ``$n`` placeholders kept (for people); :meth:`bind` renders it for a driver."""

    sql: str
    dialect: str
    parameter_count: int
    tables: tuple[str, ...]
    rewrites: tuple[str, ...] = ()
    _tree: exp.Expression = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    def bind(self, params: Sequence[Any], paramstyle: str) -> tuple[str, list[Any]]:
        """Render for a DB-API driver: ``$n`` -> ``?`` (``qmark``) or ``%s``
        (``format``), and the parameter list in placeholder order (``$n`` may repeat
        or come out of order)."""
        params = list(params)
        if len(params) != self.parameter_count:
            raise InvalidRequest(
                f"the query uses {self.parameter_count} parameter(s) "
                f"($1..${self.parameter_count}) but {len(params)} were given"
            )
        if paramstyle not in _PLACEHOLDER:
            raise InvalidRequest(f"unsupported parameter style {paramstyle!r}")
        tree = self._tree.copy()
        marker = _unused_marker(self.sql)
        for occurrence, node in enumerate(_parameters(tree)):
            node.replace(exp.Var(this=f"{marker}{occurrence}_{_parameter_index(node)}"))
        text = tree.sql(dialect=self.dialect)
        if paramstyle == "format" and params:
            text = text.replace("%", "%%")  # the driver %-formats the whole statement
        ordered: list[Any] = []

        def substitute(match: re.Match[str]) -> str:
            ordered.append(params[int(match.group(1)) - 1])
            return _PLACEHOLDER[paramstyle]

        text = re.sub(rf"{marker}\d+_(\d+)", substitute, text)
        return text, ordered


_PLACEHOLDER = {"qmark": "?", "format": "%s"}
_DOLLAR_PARAM = re.compile(r"^\$(\d+)$")


def validate_sql(sql: str, dialect: str, *, max_rows: int | None = None) -> SafeQuery:
    """Accept ``sql`` only if it is a single read-only query in ``dialect``.

    Raises :class:`InvalidQuery` when it does not parse, :class:`UnsafeQueryError`
    (``query_not_read_only``) when it could write or has side effects, and
    :class:`InvalidRequest` for placeholders other than ``$n``. With ``max_rows``,
    a LIMIT (or the dialect's equivalent) no larger than it is set in the AST.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise InvalidQuery("the query is empty")
    if len(sql.encode("utf-8", "surrogatepass")) > MAX_SQL_BYTES:
        raise InvalidQuery(f"the query is larger than {MAX_SQL_BYTES // 1000} KB")
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (ParseError, TokenError) as exc:
        raise InvalidQuery(f"could not parse the query as {dialect} SQL: {_parse_message(exc)}") from None
    if len(statements) != 1:
        raise UnsafeQueryError(
            f"exactly one statement is allowed, found {len(statements)}"
            if statements else "the query has no statement"
        )
    tree = statements[0]
    if not isinstance(tree, (exp.Query, exp.Values)):
        raise UnsafeQueryError(f"only queries are allowed, not {_describe(tree)}")
    _reject_side_effects(tree)

    count = _parameter_count(tree)
    rewrites: list[str] = []
    if max_rows is not None:
        tree, capped = _cap_rows(tree, max_rows)
        if capped:
            rewrites.append(f"row cap: LIMIT {max_rows}")
    tables = tuple(dict.fromkeys(_table_name(t) for t in tree.find_all(exp.Table) if t.name))
    return SafeQuery(
        sql=tree.sql(dialect=dialect),
        dialect=dialect,
        parameter_count=count,
        tables=tables,
        rewrites=tuple(rewrites),
        _tree=tree,
    )


def _reject_side_effects(tree: exp.Expression) -> None:
    for node in tree.walk():
        for node_type, construct in _FORBIDDEN_NODES.items():
            if isinstance(node, node_type):
                raise UnsafeQueryError(f"the query contains {construct}, which is not read-only")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in DENIED_FUNCTIONS:
                raise UnsafeQueryError(f"the function {name}() has side effects and is not allowed")
        if isinstance(node, exp.Placeholder):
            raise InvalidRequest("use $1, $2 ... placeholders for parameters")


def _parameters(tree: exp.Expression) -> list[exp.Expression]:
    """``$n`` nodes: ``exp.Parameter`` in PostgreSQL; other dialects read ``$1`` as an
    unquoted column name, which no real column can be (it is not a valid bare name)."""
    found = []
    for node in tree.walk():
        if isinstance(node, exp.Parameter) and _DOLLAR_PARAM.match(node.sql("postgres")):
            found.append(node)
        elif (
            isinstance(node, exp.Column)
            and not node.table
            and isinstance(node.this, exp.Identifier)
            and not node.this.quoted
            and _DOLLAR_PARAM.match(node.this.name)
        ):
            found.append(node)
    return found


def _parameter_index(node: exp.Expression) -> int:
    text = node.sql("postgres") if isinstance(node, exp.Parameter) else node.this.name
    return int(text[1:])


def _parameter_count(tree: exp.Expression) -> int:
    indexes = {_parameter_index(p) for p in _parameters(tree)}
    if 0 in indexes:
        raise InvalidRequest("parameters are numbered from $1")
    return max(indexes, default=0)


def _cap_rows(tree: exp.Expression, max_rows: int) -> tuple[exp.Expression, bool]:
    limit = tree.args.get("limit") if isinstance(tree, exp.Query) else None
    limit_value = limit.expression if isinstance(limit, exp.Limit) else None
    if isinstance(limit_value, exp.Literal) and limit_value.is_int and int(limit_value.name) <= max_rows:
        return tree, False
    if isinstance(tree, exp.Query) and (limit is None or isinstance(limit_value, exp.Literal)):
        return tree.limit(max_rows, copy=False), True
    # LIMIT $1, FETCH FIRST ..., bare VALUES: cap from outside, semantics intact.
    wrapped = exp.select("*").from_(tree.subquery("nlquery_capped"))
    return wrapped.limit(max_rows, copy=False), True


def _table_name(table: exp.Table) -> str:
    return ".".join(part for part in (table.catalog, table.db, table.name) if part)


def _describe(tree: exp.Expression) -> str:
    for node_type, construct in _FORBIDDEN_NODES.items():
        if isinstance(tree, node_type):
            return construct
    return type(tree).__name__.upper()


def _parse_message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        first = errors[0]
        return f"{first.get('description', 'syntax error')} at line {first.get('line')}, column {first.get('col')}"
    return str(exc).splitlines()[0]


def _unused_marker(sql: str) -> str:
    while True:
        marker = f"nlqparam{secrets.token_hex(4)}x"
        if marker not in sql:
            return marker
