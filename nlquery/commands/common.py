"""What every command shares: error handling, JSON output, connection options."""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from nlquery.engine import Engine
from nlquery.errors import InvalidRequest, NLQueryError

out = Console()
err = Console(stderr=True)


class Group(click.Group):
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


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


json_option = click.option("--json", "as_json", is_flag=True, help="Print the API's JSON data object.")


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


def load_connection_file(path: str) -> dict[str, Any]:
    """The connection object in a JSON or YAML file (a clear error when it is not one)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)  # YAML is a superset of JSON
    except (OSError, yaml.YAMLError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--config") from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path} must hold an object (the connection), e.g. base_url: ...",
                                 param_hint="--config")
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


def print_schema(schema: Any) -> None:
    table = RichTable(title=f"{len(schema.tables)} tables")
    for header in ("table", "kind", "columns", "primary key", "references", "rows (est.)"):
        table.add_column(header)
    for t in schema.tables:
        table.add_row(
            escape(schema.qualified_name(t)), t.kind,
            escape(", ".join(f"{c.name} {c.type}" for c in t.columns)),
            escape(", ".join(t.primary_key)),
            escape(", ".join(fk.ref_table for fk in t.foreign_keys)),
            "" if t.row_estimate is None else str(t.row_estimate),
        )
    out.print(table)


def print_diff(name: str, version: int, diff: dict[str, Any]) -> None:
    changes = [
        *(f"[green]+ table {escape(t)}[/green]" for t in diff["tables_added"]),
        *(f"[red]- table {escape(t)}[/red]" for t in diff["tables_removed"]),
        *(f"[green]+ column {escape(c)}[/green]" for c in diff["columns_added"]),
        *(f"[red]- column {escape(c)}[/red]" for c in diff["columns_removed"]),
        *(f"[yellow]~ column {escape(c['column'])}: {escape(str(c['before']))} -> {escape(str(c['after']))}"
          f"[/yellow]" for c in diff["columns_changed"]),
    ]
    out.print(f"[bold]{escape(name)}[/bold]: schema version {version}" + ("" if changes else ", no changes"))
    for line in changes[:200]:
        out.print(f"  {line}")
    if len(changes) > 200:
        out.print(f"  ... and {len(changes) - 200} more")

