"""The ``nlquery`` command line: parse arguments, call the Engine, render.

Every command has ``--json``, which prints exactly the ``data`` object of the
matching HTTP response. Errors print one line, ``error[code]: message``, on stderr
and exit 1; usage errors exit 2.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table as RichTable

from nlquery.engine import Engine
from nlquery.errors import InvalidRequest, NLQueryError

out = Console()
err = Console(stderr=True)


class _Group(click.Group):
    """Turns every NLQueryError into one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NLQueryError as exc:
            click.echo(f"error[{exc.code}]: {exc.message}", err=True)
            ctx.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # never a traceback as the answer
            if os.environ.get("NLQUERY_DEBUG"):
                traceback.print_exc()
            click.echo(f"error[internal_error]: {type(exc).__name__}: {exc} "
                       "(set NLQUERY_DEBUG=1 for the traceback)", err=True)
            ctx.exit(1)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


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


def _connect(engine: Engine, source_type: str | None, url: str | None, host: str | None,
             port: int | None, database: str | None, username: str | None,
             password_env: str | None) -> Any:
    if not source_type and not url:
        raise click.UsageError("give --url, or --type with --host/--database")
    password = None
    if password_env:
        password = os.environ.get(password_env)
        if password is None:
            raise InvalidRequest(f"the environment variable {password_env} is not set")
    return engine.connect(source_type, url, host=host, port=port, database=database,
                          username=username, password=password)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nlquery")
def cli() -> None:
    """nlquery: ask your databases questions, safely.

    Every query is parsed and checked read-only before it runs, in a read-only
    session, with a row cap and a timeout.

    \b
    Start here:
      nlquery demo                                   # a demo shop on SQLite, no setup
      nlquery schema extract --url sqlite:///shop.db  # print a schema
      nlquery query --url postgresql://me@db/sales "SELECT * FROM orders WHERE id = $1" -p 42
    """


@cli.command()
@click.option("--rebuild", is_flag=True, help="Regenerate the demo database.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def demo(rebuild: bool, as_json: bool) -> None:
    """Build the demo shop (SQLite, under $NLQUERY_HOME) and query it.

    Runs a few sample reads through the same guarded path every query takes, and
    shows the guard refusing a write hidden in a CTE.
    """
    from nlquery.demo import run_demo

    with err.status("Building the demo shop...") if not as_json else _nothing():
        run = run_demo(rebuild=rebuild)
    if as_json:
        _print_json(run.to_dict())
        return
    out.print(f"[bold]Demo shop[/bold] {'built' if run.created else 'found'} at {run.database}")
    out.print("Tables: " + ", ".join(f"{t['name']} ({t['columns']} columns)" for t in run.tables))
    for query in run.queries:
        out.print(f"\n[bold]{escape(query['title'])}[/bold]\n[dim]{escape(query['sql'])}[/dim]")
        _print_rows(query)
    out.print(f"\n[bold]A write is refused[/bold]\n[dim]{escape(run.refused['sql'])}[/dim]")
    out.print(f"[red]{escape('error[' + run.refused['code'] + ']')}[/red]: {escape(run.refused['message'])}")


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@cli.group()
def schema() -> None:
    """Read database schemas."""


@schema.command("extract")
@connection_options
@click.option("--schema", "schemas", multiple=True, metavar="NAME",
              help="Only this schema (repeatable). Default: every non-system schema.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON: {tables: [...]}.")
def schema_extract(schemas: tuple[str, ...], as_json: bool, **connection: Any) -> None:
    """One-shot schema extraction, no catalog: for cron jobs and CI.

    \b
    Examples:
      nlquery schema extract --url sqlite:///shop.db
      PGPASSWORD_VAR=... nlquery schema extract --type postgresql --host db --database sales \\
          --username reader --password-env PGPASSWORD_VAR --json > schema.json
    """
    with Engine() as engine:
        source = _connect(engine, **connection)
        with Progress(console=err, transient=True, disable=as_json or not err.is_terminal) as bar:
            task = bar.add_task("Reading the catalog", total=None)

            def progress(step: str, done: int, total: int) -> None:
                bar.update(task, description=f"Read {step}", completed=done, total=total)

            result = engine.introspect(source, schemas=list(schemas) or None, progress=progress)
    if as_json:
        _print_json(result.to_dict())
        return
    table = RichTable(title=f"{len(result.tables)} tables")
    for header in ("table", "kind", "columns", "primary key", "references", "rows (est.)"):
        table.add_column(header)
    for t in result.tables:
        table.add_row(
            result.qualified_name(t), t.kind,
            ", ".join(f"{c.name} {c.type}" for c in t.columns),
            ", ".join(t.primary_key),
            ", ".join(fk.ref_table for fk in t.foreign_keys),
            "" if t.row_estimate is None else str(t.row_estimate),
        )
    out.print(table)


@cli.command()
@connection_options
@click.argument("sql")
@click.option("-p", "--param", "params", multiple=True, metavar="VALUE",
              help="Value for $1, $2 ... in order (repeatable).")
@click.option("--max-rows", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Return at most this many rows; the result says if it was truncated.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.001), default=30.0,
              show_default=True, help="Statement timeout in seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print {columns, rows, row_count, ...} as JSON.")
def query(sql: str, params: tuple[str, ...], max_rows: int, timeout_s: float, as_json: bool,
          **connection: Any) -> None:
    """Run a read-only SQL query, with $1, $2 ... parameters.

    \b
    Example:
      nlquery query --url sqlite:///shop.db \\
          "SELECT name FROM customers WHERE country = $1 LIMIT 5" -p CA
    """
    with Engine() as engine:
        source = _connect(engine, **connection)
        result = engine.query(source, sql, list(params), max_rows=max_rows, timeout_s=timeout_s)
    if as_json:
        _print_json(result.to_dict())
        return
    _print_rows(result.to_dict())


def _print_rows(result: dict[str, Any]) -> None:
    table = RichTable()
    for column in result["columns"]:
        table.add_column(str(column))
    for row in result["rows"]:
        table.add_row(*("NULL" if v is None else escape(str(v)) for v in row))
    out.print(table)
    more = " (truncated: more rows exist)" if result.get("truncated") else ""
    out.print(f"[dim]{result['row_count']} row(s) in {result['execution_time_ms']:.1f} ms{more}[/dim]")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="nlquery")


if __name__ == "__main__":
    sys.exit(main())
