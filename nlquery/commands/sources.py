"""``nlquery sources``: register, list, show, update and remove data sources."""

from __future__ import annotations

import re
import sys
from typing import Any

import click
from rich.markup import escape
from rich.table import Table as RichTable

from nlquery.commands.common import (
    INTERRUPTED,
    connection_fields,
    connection_options,
    engine,
    json_option,
    load_connection_file,
    one_line,
    out,
    print_error,
    print_json,
)


@click.group()
def sources() -> None:
    """Registered data sources (stored in the catalog under $NLQUERY_HOME)."""


@sources.command("add")
@click.argument("name")
@connection_options
@click.option("--description", default="", help="What the data is about (helps people and the planner).")
@click.option("--deny-column", "denied_columns", multiple=True, metavar="TABLE.COLUMN",
              help="Never expose this column (repeatable), e.g. users.password_hash.")
@click.option("--deny-table", "denied_tables", multiple=True, metavar="TABLE", help="Never expose this table.")
@click.option("--no-extract", is_flag=True, help="Do not read the schema now.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="A JSON or YAML file holding the connection object (a REST API's base_url, headers and "
                   "endpoints); options given on the command line override it.")
@click.option("--allow-unreachable", is_flag=True,
              help="Exit 0 even if the source cannot be reached now (a database that is down, a driver "
                   "installed later). Without it such a source is still registered, but the command fails.")
@json_option
def add(name: str, source_type: str | None, description: str, denied_columns: tuple[str, ...],
        denied_tables: tuple[str, ...], no_extract: bool, config_file: str | None, allow_unreachable: bool,
        as_json: bool, **connection: Any) -> None:
    """Register a source, check its connection and read its schema.

    A source that cannot be used (missing driver, wrong password, malformed URL) is
    registered anyway, so it can be fixed with `sources update`, but the command exits
    1 with the reason, unless --allow-unreachable.

    \b
    Examples:
      nlquery sources add shop --type sqlite --database ./shop.db
      nlquery sources add sales --url postgresql://reader@db:5432/sales --password-env SALES_PW \\
          --deny-column customers.email
      nlquery sources add warehouse --url duckdb:////data/warehouse.duckdb
      nlquery sources add crm --type rest_api --config crm-api.yaml
    """
    fields = {**(load_connection_file(config_file) if config_file else {}), **connection_fields(**connection)}
    if not source_type and not fields.get("url"):
        raise click.UsageError("give --type, or a --url whose scheme names it")
    policy = {k: list(v) for k, v in (("denied_columns", denied_columns), ("denied_tables", denied_tables)) if v}
    with engine() as e:
        data = e.add_source(name, source_type, fields, description, policy=policy or None, extract=not no_extract)
    usable = data["status"] == "connected"
    failing = not usable and not allow_unreachable
    if as_json:
        print_json(data)
    else:
        out.print(f"{'Added' if usable else 'Registered'} [bold]{escape(data['name'])}[/bold] ({data['id']}): "
                  f"status {data['status']}, schema {data['schema_status']}")
        for key in ("status_reason", "schema_error"):
            shown_below = failing and key == "status_reason"
            if data.get(key) and not shown_below and (usable or key == "status_reason"):
                out.print(f"  [yellow]{key}: {escape(one_line(data[key]))}[/yellow]")
    if failing:
        # The record keeps the reason, not the error's code: a reason with an install line
        # is a missing driver (driver_not_installed), any other 'error' a bad connection.
        reason = data.get("status_reason") or ""
        code = ("driver_not_installed" if re.search(r"\b(pip|apt-get) install\b", reason)
                else "data_source_disconnected" if data["status"] == "disconnected" else "invalid_request")
        print_error(code, f"{data['name']} is registered but cannot be used: "
                          f"{one_line(data.get('status_reason') or data['status'])} -- fix it with "
                          f"'nlquery sources update {data['name']} ...' or remove it with "
                          f"'nlquery sources rm {data['name']}' (--allow-unreachable accepts it as is)")
        raise click.exceptions.Exit(1)


@sources.command("list")
@json_option
def list_sources(as_json: bool) -> None:
    """List registered sources."""
    with engine() as e:
        data = e.list_sources()
    if as_json:
        print_json({"data_sources": data})
        return
    table = RichTable()
    for header in ("name", "id", "type", "status", "schema", "description"):
        table.add_column(header)
    for source in data:
        table.add_row(escape(source["name"]), source["id"], source["type"], source["status"],
                      source["schema_status"], escape(source["description"]))
    out.print(table)


@sources.command("show")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """Show a source and its tables (never its password)."""
    with engine() as e:
        data = e.get_source(name, tables=True)
    if as_json:
        print_json(data)
        return
    for key in ("name", "id", "type", "status", "status_reason", "schema_status", "schema_error",
                "schema_version", "description", "created_at", "updated_at"):
        if data.get(key) not in (None, ""):
            value = one_line(data[key]) if key in ("status_reason", "schema_error") else str(data[key])
            out.print(f"[bold]{key}[/bold]: {escape(value)}")
    out.print(f"[bold]connection[/bold]: {escape(str(data['connection']))}")
    for table in data["tables"]:
        out.print(f"  {escape(table['name'])}: " + escape(", ".join(c["name"] for c in table["columns"])))


@sources.command("update")
@click.argument("name")
@click.option("--rename", metavar="NEW_NAME", help="New name.")
@click.option("--description", help="New description.")
@click.option("--url")
@click.option("--host")
@click.option("--port", type=int)
@click.option("--database")
@click.option("--username")
@click.option("--password-env", metavar="VAR", help="Read the password from this environment variable.")
@json_option
def update(name: str, rename: str | None, description: str | None, as_json: bool, **connection: Any) -> None:
    """Change a source's name, description or connection (checked again)."""
    fields = connection_fields(**connection)
    with engine() as e:
        data = e.update_source(name, name=rename, description=description, connection=fields or None)
    if as_json:
        print_json(data)
        return
    out.print(f"Updated [bold]{escape(data['name'])}[/bold]: status {data['status']}")
    if data["status"] != "connected" and data.get("status_reason"):
        out.print(f"  [yellow]status_reason: {escape(one_line(data['status_reason']))}[/yellow]")


def stdin_is_terminal() -> bool:
    """Whether a person can answer a question (tests replace this)."""
    return sys.stdin.isatty()


@sources.command("rm")
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@json_option
def remove(name: str, yes: bool, as_json: bool) -> None:
    """Remove a source with its snapshots, mappings and examples.

    Asks for confirmation on a terminal; scripts pass --yes (without a terminal and
    without --yes nothing is removed and the command exits 1).
    """
    with engine() as e:
        found = e.get_source(name)  # a misspelt name fails here, before any question
        if not yes:
            if not stdin_is_terminal():
                print_error("invalid_request", f"not removing {found['name']} ({found['id']}) without "
                                               "confirmation: stdin is not a terminal; pass --yes")
                raise click.exceptions.Exit(1)
            try:
                confirmed = click.confirm(f"Remove {found['name']} ({found['id']}) with its schema snapshots, "
                                          "mappings and examples?", default=False, err=True)
            except click.Abort:  # Ctrl-C (or end of input) at the prompt
                raise click.exceptions.Exit(INTERRUPTED) from None
            if not confirmed:
                click.echo(f"{found['name']} kept", err=True)
                raise click.exceptions.Exit(1)
        data = e.remove_source(found["id"])
    if as_json:
        print_json({"id": data["id"], "deleted": True})
        return
    out.print(f"Removed {escape(data['name'])} ({data['id']})")
