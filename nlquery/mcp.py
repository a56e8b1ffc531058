"""MCP server: the Engine as a few concise tools for agent clients (Claude Desktop,
Cursor, VS Code, any MCP client), over stdio or streamable HTTP.

Tools: ``list_sources``, ``search_schema`` (the planner's schema linking: a
10,000-table database answers in a few hundred tokens), ``describe_table``,
``run_query`` (the read-only guard, ``$n`` parameters, a row cap), ``ask`` (when an
LLM is configured, or simple questions offline), ``get_mappings`` and
``update_mappings`` (the semantic mappings: descriptions, synonyms, metrics and
segments, with the PATCH semantics and checks of ``PATCH /semantic-mappings``). Errors
come back as tool errors that start with our stable code (``query_not_read_only: ...``).

Over streamable HTTP every tool acts as the bearer token's principal, exactly as the
HTTP API would for the same token: its tenant, its source allow-list, its policy
overlay and the scope the matching HTTP route needs (``sources:read`` to read,
``sources:write`` to change mappings, ``query``, ``ask``). Over stdio the caller is the
operator, as on the CLI.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import yaml
from pydantic import Field

from nlquery import audit
from nlquery import principal as principals
from nlquery.engine import Engine
from nlquery.errors import NLQueryError

DEFAULT_ROWS = 50
MAX_ROWS = 500


def _server_class() -> Any:
    try:
        from mcp.server.mcpserver import MCPServer
    except ImportError:
        raise SystemExit("the MCP server needs: pip install 'nlquery[mcp]'") from None
    return MCPServer


def _tool_error(exc: NLQueryError) -> Exception:
    from mcp.server.mcpserver.exceptions import ToolError

    return ToolError(f"{exc.code}: {exc.message}")


def _compact_rows(result: dict[str, Any]) -> str:
    lines = [" | ".join(map(str, result["columns"]))]
    lines += [" | ".join("NULL" if v is None else str(v) for v in row) for row in result["rows"]]
    more = " (truncated: more rows exist)" if result.get("truncated") else ""
    lines.append(f"({result['row_count']} rows{more})")
    return "\n".join(lines)


class _CompactDumper(yaml.SafeDumper):
    """Block mappings, lists on one line (``synonyms: [users, clients]``)."""


_CompactDumper.add_representer(
    list, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True))


def _mappings_yaml(mappings: dict[str, dict[str, Any]]) -> str:
    """Mappings as compact YAML, in the shape ``update_mappings`` takes back (empty
    fields left out)."""
    compact = {key: {k: v for k, v in value.items() if v not in (None, [], "")} for key, value in mappings.items()}
    return yaml.dump(compact, Dumper=_CompactDumper, sort_keys=True, allow_unicode=True, default_flow_style=False,
                     width=120).rstrip()


_PATCH_SCHEMA = {
    "type": "object",
    "description": "KEY -> {description, synonyms} or null to remove. KEY: table, table.column, metric:NAME "
                   "(with sql, e.g. SUM(orders.total)) or segment:NAME (with table and where).",
    "additionalProperties": {"type": ["object", "null"]},
}


def _who_is_asking(engine: Engine) -> Any:
    """MCP middleware: the principal the HTTP guard put in the request's scope becomes
    the current one while the message is handled; a tool call gets its audit record
    (with the HTTP request's ids), submitted when the call ends."""

    async def middleware(ctx: Any, call_next: Any) -> Any:
        return await _handle(engine, ctx, call_next)

    return middleware


async def _handle(engine: Engine, ctx: Any, call_next: Any) -> Any:
    scope = getattr(getattr(ctx, "request", None), "scope", None) or {}
    who = scope.get("nlquery.principal")
    entry = None
    if getattr(ctx, "method", None) == "tools/call":
        http = scope.get("nlquery.audit") or {}
        params = getattr(ctx, "params", None)
        tool = params.get("name") if isinstance(params, dict) else getattr(params, "name", None)
        entry = audit.new_entry(who, channel="mcp", action="request", method="tools/call", path=str(tool)[:400],
                                request_id=http.get("request_id"), trace_id=http.get("trace_id"))
    who_token, entry_token = principals.current.set(who), audit.current_entry.set(entry)
    started = time.perf_counter()
    try:
        return await call_next(ctx)
    finally:
        audit.current_entry.reset(entry_token)
        principals.current.reset(who_token)
        if entry is not None:
            entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
            entry.pop("_described", None)
            engine.audit(entry)


def build_server(engine: Engine) -> Any:
    server = _server_class()(
        name="nlquery",
        instructions="Read-only access to registered databases. Find tables with search_schema, check "
                     "columns with describe_table, then run_query (SQL with $1, $2 parameters) or ask.",
    )
    server.middleware.append(_who_is_asking(engine))

    def call(fn: Any, *args: Any, scope: str = "sources:read", **kwargs: Any) -> Any:
        # Over HTTP the guard's principal (its tenant, scopes, allow-list, overlay) and
        # the scope the matching HTTP route needs; over stdio the operator (None), as the CLI.
        who = principals.current.get()
        try:
            if who is not None:
                who.require(scope)
            return fn(*args, tenant=who, **kwargs)
        except NLQueryError as exc:
            audit.note(outcome=exc.code)
            raise _tool_error(exc) from None

    @server.tool(description="List the registered data sources.")
    def list_sources() -> str:
        sources = call(engine.list_sources)
        return "\n".join(f"{s['name']} ({s['type']}, {s['status']}): {s['description']}".rstrip(": ")
                         for s in sources) or "no data sources registered"

    @server.tool(description="Find the tables and columns of a source that match a phrase (names, "
                             "synonyms, descriptions, stored values). Cheap on huge schemas.")
    def search_schema(source: str, phrase: str, limit: int = 5) -> str:
        lines = []
        for table in call(engine.search_schema, source, phrase, limit=limit):
            head = table["table"] + (f" -- {table['description']}" if table["description"] else "")
            if table["synonyms"]:
                head += f" (also: {', '.join(table['synonyms'])})"
            columns = ", ".join(f"{c['name']} {c['type']}" for c in table["columns"][:30])
            more = f", ... {len(table['columns']) - 30} more" if len(table["columns"]) > 30 else ""
            lines.append(f"{head}\n  {columns}{more}")
        return "\n".join(lines) or "nothing matches"

    @server.tool(description="Columns (type, nullability, key), foreign keys, descriptions, synonyms and "
                             "known values of one table.")
    def describe_table(source: str, table: str) -> str:
        return call(engine.describe_table, source, table)

    @server.tool(description="Run one read-only SQL query with $1, $2 ... parameters. Writes are refused.")
    def run_query(source: str, sql: str, parameters: list[Any] | None = None, max_rows: int = DEFAULT_ROWS) -> str:
        result = call(engine.query, source, sql, parameters or [], max_rows=max(0, min(max_rows, MAX_ROWS)),
                      scope="query")
        return _compact_rows(result.to_dict())

    @server.tool(description="Answer a question in plain language with one read-only query; returns the "
                             "SQL it ran and the rows.")
    def ask(source: str, question: str) -> str:
        answer = call(engine.ask, source, question, max_rows=DEFAULT_ROWS, scope="ask")
        return f"SQL: {answer.sql}\nparameters: {json.dumps(answer.parameters)}\n" + _compact_rows(
            answer.result.to_dict())

    @server.tool(description="A source's semantic mappings as YAML: descriptions and synonyms of tables and "
                             "columns, metrics (metric:NAME: sql) and segments (segment:NAME: table, where).")
    def get_mappings(source: str) -> str:
        data = call(engine.mappings, source)
        text = _mappings_yaml(data["mappings"]) if data["mappings"] else "no mappings"
        return text + (f"\nstale (no longer in the schema): {', '.join(data['stale'])}" if data["stale"] else "")

    @server.tool(description="Change a source's semantic mappings: keys merge, null removes a key, synonyms "
                             "replace the list. Metrics and segments are checked like queries. Returns what "
                             "changed.")
    def update_mappings(source: str,
                        mappings: Annotated[Any, Field(json_schema_extra=_PATCH_SCHEMA)]) -> str:
        # Typed Any: the Engine checks the patch, so a malformed one is invalid_request,
        # worded as over HTTP, rather than the SDK's own validation message.
        before = call(engine.mappings, source, scope="sources:write")["mappings"]
        after = call(engine.update_mappings, source, mappings, scope="sources:write")
        changed = {k: v for k, v in after["mappings"].items() if before.get(k) != v}
        removed = sorted(set(before) - set(after["mappings"]))
        lines = [_mappings_yaml(changed)] if changed else []
        lines += [f"removed: {', '.join(removed)}"] if removed else []
        lines += [f"stale (no longer in the schema): {', '.join(after['stale'])}"] if after["stale"] else []
        return "\n".join(lines) or "no change"

    @server.resource("nlquery://sources/{name}/schema", description="A source's annotated schema summary.",
                     mime_type="text/plain")
    def schema_resource(name: str) -> str:
        return "\n".join(describe_table(name, table) for table in call(engine.list_tables, name))

    return server


def print_config() -> dict[str, Any]:
    """The snippet MCP clients (Claude Desktop, Cursor, VS Code) put in their config.

    Its ``env`` names this catalog (``NLQUERY_HOME``, absolute, and ``NLQUERY_CATALOG_URL``
    when set): a desktop client starts the server with its own environment, which would
    otherwise open an empty catalog in the platform's default place."""
    import os

    from nlquery.paths import home

    env = {"NLQUERY_HOME": str(home().resolve())}
    if os.environ.get("NLQUERY_CATALOG_URL"):
        env["NLQUERY_CATALOG_URL"] = os.environ["NLQUERY_CATALOG_URL"]
    return {"mcpServers": {"nlquery": {"command": sys.executable, "args": ["-m", "nlquery.cli", "mcp"],
                                       "env": env}}}


def http_app(host: str, engine: Engine | None = None, settings: Any | None = None) -> Any:
    """The streamable-HTTP MCP app behind the HTTP API's own guard: bearer tokens from
    ``NLQUERY_API_TOKENS`` and the catalog (loopback callers only when there is none), the
    request body cap and the failed-authentication limit."""
    from nlquery.service import Settings, bearer_guard
    from nlquery.service.auth import TokenAuth
    from nlquery.service.ratelimit import AuthFailures

    engine = engine or Engine()
    settings = settings or Settings()
    app = build_server(engine).streamable_http_app(host=host)
    return bearer_guard(app, TokenAuth.for_engine(engine, settings.tokens), record=engine.audit,
                        max_body_bytes=settings.max_request_bytes,
                        auth_failures=AuthFailures(settings.auth_failure_limit, settings.counter()))
