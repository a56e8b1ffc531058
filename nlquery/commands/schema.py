"""``nlquery schema``: extract (one-shot), refresh (catalog, with a diff), show."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

import click
from rich.markup import escape
from rich.progress import Progress

from nlquery.commands.common import (
    SCHEMA_CSV_COLUMNS,
    ad_hoc_connector,
    connection_options,
    engine,
    err,
    format_option,
    json_option,
    one_line,
    out,
    print_csv,
    print_diff,
    print_json,
    print_schema,
    print_table,
    schema_rows,
)
from nlquery.errors import NLQueryError


@click.group()
def schema() -> None:
    """Read database schemas."""


@schema.command("extract")
@connection_options
@click.option("--schema", "schemas", multiple=True, metavar="NAME",
              help="Only this schema (repeatable). Default: every non-system schema.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON: {tables: [...]}.")
def extract(schemas: tuple[str, ...], as_json: bool, **connection: Any) -> None:
    """One-shot schema extraction, no catalog: for cron jobs and CI.

    \b
    Examples:
      nlquery schema extract --url sqlite:///shop.db
      nlquery schema extract --type postgresql --host db --database sales \\
          --username reader --password-env SALES_PW --json > schema.json
    """
    with engine() as e:
        source = ad_hoc_connector(e, **connection)
        with Progress(console=err, transient=True, disable=as_json or not err.is_terminal) as bar:
            task = bar.add_task("Reading the catalog", total=None)

            def progress(step: str, done: int, total: int) -> None:
                bar.update(task, description=f"Read {step}", completed=done, total=total)

            result = e.introspect(source, schemas=list(schemas) or None, progress=progress)
    if as_json:
        print_json(result.to_dict())
        return
    print_schema(result)


@schema.command("refresh")
@click.argument("name", required=False)
@click.option("--all", "refresh_all", is_flag=True, help="Refresh every registered source, concurrently.")
@click.option("--workers", type=click.IntRange(min=1, max=64), default=8, show_default=True,
              help="How many sources to refresh at once with --all.")
@json_option
def refresh(name: str | None, refresh_all: bool, workers: int, as_json: bool) -> None:
    """Re-read a source's schema and print what changed.

    Mappings are kept; a mapping whose table or column disappeared is reported as stale.
    Exit status 1 if any source failed.
    """
    if bool(name) == refresh_all:
        raise click.UsageError("give a source NAME or --all")
    with engine() as e:
        names = [s["name"] for s in e.list_sources()] if refresh_all else [name]
        results, failures = _refresh_many(e, names, workers, quiet=as_json)
    if as_json:
        print_json({"refreshed": [r.to_dict() for r in results],
                    "failed": [{"source": n, **exc.to_dict()} for n, exc in failures]})
    else:
        for result in results:
            print_diff(result.source, result.version, result.diff)
            if result.stale_mappings:
                out.print(f"  [yellow]stale mappings: {escape(', '.join(result.stale_mappings))}[/yellow]")
    if failures and not refresh_all:
        raise failures[0][1]  # one source: the usual error line, printed once
    if not as_json:
        for source, exc in failures:
            err.print(f"[red]{escape(source)}: error[{exc.code}][/red] {escape(one_line(exc.message))}")
    if failures:
        raise click.exceptions.Exit(1)


def _refresh_many(e: Any, names: list[str], workers: int, *, quiet: bool) -> tuple[list[Any], list[Any]]:
    results, failures = [], []
    with Progress(console=err, transient=True, disable=quiet or not err.is_terminal) as bar:
        overall = bar.add_task("Refreshing", total=len(names))

        def one(source: str) -> Any:
            task = bar.add_task(f"  {source}", total=None)

            def progress(step: str, done: int, total: int) -> None:
                bar.update(task, description=f"  {source}: {step}", completed=done, total=total)

            try:
                return e.refresh_schema(source, progress=progress)
            finally:
                bar.remove_task(task)

        with ThreadPoolExecutor(max_workers=min(workers, max(1, len(names)))) as pool:
            futures = {pool.submit(one, source): source for source in names}
            for future in as_completed(futures):
                try:
                    results.append(future.result())
                except NLQueryError as exc:
                    failures.append((futures[future], exc))
                bar.advance(overall)
    results.sort(key=lambda r: r.source)
    return results, failures


@schema.command("show")
@click.argument("name")
@click.argument("table", required=False)
@format_option
def show(name: str, table: str | None, fmt: str) -> None:
    """Show the latest stored schema of a source, with table and column comments;
    with TABLE, that table's columns in detail.

    \b
    Examples:
      nlquery schema show shop
      nlquery schema show shop orders
      nlquery schema show shop --format csv > columns.csv
    """
    with engine() as e:
        result = e.schema(name)
        found = None if table is None else e.find_table(name, table, apply_policy=False)
    if fmt == "json":
        print_json(found.to_dict() if found else result.to_dict())
    elif fmt == "csv":
        print_csv(SCHEMA_CSV_COLUMNS, schema_rows(result, [found] if found else result.tables))
    elif found:
        print_table(result, found)
    else:
        print_schema(result)
