"""What every command shares: error handling, JSON output, connection options."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.table import Table as RichTable

from nlquery.engine import Engine
from nlquery.errors import InvalidRequest, NLQueryError

INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""

_PIPED_WIDTH = 1_000_000


class _Console(Console):
    """A rich console that, when its stream is not a terminal (a pipe, a file), neither
    wraps nor crops: ids stay whole and install hints stay on one line for ``grep``."""

    @property
    def size(self) -> ConsoleDimensions:
        if self._width is None and not self.is_terminal:
            return ConsoleDimensions(_PIPED_WIDTH, super().size.height)
        return super().size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    @property
    def soft_wrap(self) -> bool:  # type: ignore[override]
        return not self.is_terminal

    @soft_wrap.setter
    def soft_wrap(self, value: bool) -> None:
        pass  # decided per stream, above


out = _Console()
err = _Console(stderr=True)

_CARETS = re.compile(r"^[\s^~|]*$")


def one_line(message: str, limit: int = 400) -> str:
    """A message as one short line: its first meaningful line (a driver's or parser's
    multi-line text: psycopg's "connection to server ... failed" then hints, YAML's
    context lines and carets), whitespace runs collapsed."""
    lines = [line.strip() for line in str(message).splitlines()]
    meaningful = [line for line in lines if line and not _CARETS.match(line)]
    text = re.sub(r"\s+", " ", meaningful[0] if meaningful else str(message)).strip()
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


def print_error(code: str, message: str) -> None:
    """The contract's error line: ``error[code]: message`` on stderr, one line."""
    click.echo(f"error[{code}]: {one_line(message)}", err=True)


class Group(click.Group):
    """Turns every NLQueryError into one line on stderr and exit code 1; Ctrl-C into
    exit code 130, without a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NLQueryError as exc:
            print_error(exc.code, exc.message)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # never a traceback as the answer
            if os.environ.get("NLQUERY_DEBUG"):
                traceback.print_exc()
            print_error("internal_error", f"{type(exc).__name__}: {one_line(str(exc))} "
                        "(set NLQUERY_DEBUG=1 for the traceback)")
            ctx.exit(1)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


json_option = click.option("--json", "as_json", is_flag=True, help="Print the API's JSON data object.")


def format_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--format table|json|csv`` and ``--json`` (the same as ``--format json``); the
    command receives one ``fmt``."""

    @functools.wraps(command)
    def resolved(*args: Any, fmt: str | None, as_json: bool, **kwargs: Any) -> Any:
        if as_json and fmt not in (None, "json"):
            raise click.UsageError(f"--json and --format {fmt} disagree: give one of them")
        return command(*args, fmt="json" if as_json else (fmt or "table"), **kwargs)

    resolved = click.option("--json", "as_json", is_flag=True,
                            help="Print the API's JSON data object (the same as --format json).")(resolved)
    return click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default=None,
                        help="table (for people; the default), json (the API's data object) or csv "
                             "(a header row, then one line per row).")(resolved)


def print_csv(columns: list[Any], rows: list[list[Any]]) -> None:
    """CSV on stdout, written by :func:`nlquery.encoding.csv_lines` like HTTP and ``nlquery
    query`` (NULL is an empty field; text a spreadsheet would run as a formula gets a leading
    ``'``)."""
    from nlquery.encoding import csv_lines

    for text in csv_lines(columns, rows):
        sys.stdout.write(text)


@contextmanager
def engine() -> Iterator[Engine]:
    with Engine() as instance:
        yield instance


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--type``, ``--url`` or the separate fields; the password only from an env var."""
    options = [
        click.option("--type", "source_type", metavar="TYPE",
                     help="Source type: sqlite, postgresql, mysql, ... (default: from the URL scheme)."),
        click.option("--url", help="Connection URL, e.g. postgresql://user@host:5432/db or sqlite:///shop.db."),
        click.option("--host"), click.option("--port", type=int), click.option("--database"),
        click.option("--username"),
        click.option("--password-env", metavar="VAR",
                     help="Name of the environment variable holding the password (never pass it as an argument)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def connection_fields(url: str | None, host: str | None, port: int | None, database: str | None,
                      username: str | None, password_env: str | None) -> dict[str, Any]:
    """The connection object of the API from CLI options (no None values)."""
    fields = {"url": url, "host": host, "port": port, "database": database, "username": username,
              "password_env": password_env}
    return {k: v for k, v in fields.items() if v is not None}


def load_document(path: str | Path) -> Any:
    """A JSON or YAML file's content. Every problem is one line naming the file and,
    for a syntax error, the position: ``FILE: invalid YAML at line 3, column 5: ...``."""
    import yaml

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InvalidRequest(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at line {line}, column "
                             f"{column}); save the file as UTF-8") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                                 f"{exc.msg}") from None
    try:
        return yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidRequest(f"{path}: invalid YAML{where}: {one_line(exc.problem or exc.context or '')}") \
            from None
    except yaml.YAMLError as exc:
        raise InvalidRequest(f"{path}: invalid YAML: {one_line(str(exc))}") from None


def load_connection_file(path: str) -> dict[str, Any]:
    """The connection object in a JSON or YAML file (a clear error when it is not one)."""
    data = load_document(path)
    if not isinstance(data, dict):
        raise InvalidRequest(f"{path} must hold an object (the connection), e.g. base_url: ...")
    return data


def ad_hoc_connector(engine: Engine, source_type: str | None, url: str | None, host: str | None,
                     port: int | None, database: str | None, username: str | None,
                     password_env: str | None) -> Any:
    """A connector for a source given on the command line (no catalog)."""
    if not source_type and not url:
        raise click.UsageError("give --url, or --type with --host/--database")
    password = None
    if password_env:
        password = os.environ.get(password_env)
        if password is None:
            raise InvalidRequest(f"the environment variable {password_env} is not set")
    return engine.connect(source_type, url, host=host, port=port, database=database,
                          username=username, password=password)


def print_rows(result: dict[str, Any]) -> None:
    table = RichTable()
    for column in result["columns"]:
        table.add_column(escape(str(column)))
    for row in result["rows"]:
        table.add_row(*("NULL" if v is None else escape(str(v)) for v in row))
    out.print(table)
    more = " (truncated: more rows exist)" if result.get("truncated") else ""
    out.print(f"[dim]{result['row_count']} row(s) in {result['execution_time_ms']:.1f} ms{more}[/dim]")


def _column_text(column: Any) -> str:
    text = f"{column.name} {column.type}"
    return text + (f' ("{column.comment}")' if column.comment else "")


def print_schema(schema: Any) -> None:
    """Every table on one row, with its comment and its columns' comments."""
    table = RichTable(title=f"{len(schema.tables)} tables")
    for header in ("table", "kind", "comment", "columns", "primary key", "references", "rows (est.)"):
        table.add_column(header)
    for t in schema.tables:
        table.add_row(
            escape(schema.qualified_name(t)), t.kind, escape(t.comment or ""),
            escape(", ".join(_column_text(c) for c in t.columns)),
            escape(", ".join(t.primary_key)),
            escape(", ".join(fk.ref_table for fk in t.foreign_keys)),
            "" if t.row_estimate is None else str(t.row_estimate),
        )
    out.print(table)


def print_table(schema: Any, found: Any) -> None:
    """One table in detail: a row per column with its type, key and comment."""
    name = schema.qualified_name(found)
    out.print(f"[bold]{escape(name)}[/bold] ({found.kind})"
              + (f": {escape(found.comment)}" if found.comment else ""))
    references = {column: f"{fk.ref_table}.{ref}" for fk in found.foreign_keys
                  for column, ref in zip(fk.columns, fk.ref_columns)}
    table = RichTable()
    for header in ("column", "type", "nullable", "key", "comment"):
        table.add_column(header)
    for c in found.columns:
        key = "primary key" if c.name in found.primary_key else ""
        if c.name in references:
            key = ", ".join(filter(None, (key, f"-> {references[c.name]}")))
        table.add_row(escape(c.name), escape(c.full_type or c.type), "yes" if c.nullable else "no",
                      escape(key), escape(c.comment or ""))
    out.print(table)


SCHEMA_CSV_COLUMNS = ["table", "table_comment", "column", "type", "nullable", "primary_key", "comment"]


def schema_rows(schema: Any, tables: list[Any]) -> list[list[Any]]:
    """One row per column (``SCHEMA_CSV_COLUMNS``), for CSV output."""
    return [[schema.qualified_name(t), t.comment, c.name, c.full_type or c.type, c.nullable,
             c.name in t.primary_key, c.comment] for t in tables for c in t.columns]


def print_diff(name: str, version: int, diff: dict[str, Any]) -> None:
    changes = [
        *(f"[green]+ table {escape(t)}[/green]" for t in diff["tables_added"]),
        *(f"[red]- table {escape(t)}[/red]" for t in diff["tables_removed"]),
        *(f"[green]+ column {escape(c)}[/green]" for c in diff["columns_added"]),
        *(f"[red]- column {escape(c)}[/red]" for c in diff["columns_removed"]),
        *(f"[yellow]~ column {escape(c['column'])}: {escape(str(c['before']))} -> {escape(str(c['after']))}"
          f"[/yellow]" for c in diff["columns_changed"]),
    ]
    if not changes:  # the catalog keeps the version it had: nothing new to store
        out.print(f"[bold]{escape(name)}[/bold]: no change (schema version {version})")
        return
    out.print(f"[bold]{escape(name)}[/bold]: schema version {version}")
    for line in changes[:200]:
        out.print(f"  {line}")
    if len(changes) > 200:
        out.print(f"  ... and {len(changes) - 200} more")
