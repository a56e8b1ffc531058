"""``nlquery map``: semantic mappings (descriptions and synonyms) of a source."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from nlquery.commands.common import engine, json_option, load_document, out, print_json
from nlquery.errors import InvalidRequest


@click.group("map")
def mappings() -> None:
    """Describe tables and columns, and the words people use for them.

    \b
    Keys: TABLE, TABLE.COLUMN or SCHEMA.TABLE.COLUMN (case-insensitive).
      nlquery map set shop customers --description "Customer accounts" -s users -s clients
      nlquery map set shop customers.created_at -s "signup date"
      nlquery map export shop > mappings.yaml && nlquery map import shop mappings.yaml
    Metrics and segments (checked by the guard against the schema):
      nlquery map set shop metric:revenue --sql "SUM(order_items.unit_price * order_items.quantity)"
      nlquery map set shop "segment:big orders" --table orders --where "total_amount > 500"
    """


@mappings.command("set")
@click.argument("name")
@click.argument("key")
@click.option("--description", help="What it means.")
@click.option("-s", "--synonym", "synonyms", multiple=True, help="A word people use for it (repeatable; "
              "replaces the list).")
@click.option("--sql", help="metric:NAME keys: the SQL expression, e.g. SUM(orders.total_amount).")
@click.option("--table", help="segment:NAME keys: the table the segment filters.")
@click.option("--where", help="segment:NAME keys: the filter, e.g. title = 'Sales Support Agent'.")
@click.option("--remove", is_flag=True, help="Remove the mapping of KEY.")
@json_option
def set_mapping(name: str, key: str, description: str | None, synonyms: tuple[str, ...], sql: str | None,
                table: str | None, where: str | None, remove: bool, as_json: bool) -> None:
    """Set (merge) or remove the mapping of one table, column, metric:NAME or segment:NAME."""
    definition = {k: v for k, v in (("sql", sql), ("table", table), ("where", where)) if v is not None}
    if remove and (description is not None or synonyms or definition):
        raise click.UsageError("--remove takes no --description, --synonym, --sql, --table or --where")
    if not remove and description is None and not synonyms and not definition:
        raise click.UsageError("give --description, --synonym, --sql or --table/--where, or --remove")
    value = None if remove else {
        **({"description": description} if description is not None else {}),
        **({"synonyms": list(synonyms)} if synonyms else {}),
        **definition,
    }
    with engine() as e:
        data = e.update_mappings(name, {key: value})
    _report(data, as_json)


@mappings.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def import_mappings(name: str, file: Path, as_json: bool) -> None:
    """Merge mappings from a YAML or JSON file ({key: {description, synonyms}}, optionally
    under a top-level mappings key), in UTF-8."""
    document = load_document(file)  # also top-level metrics: / segments:
    if not isinstance(document, dict):
        raise InvalidRequest(f"{file} must hold an object of key -> {{description, synonyms}}")
    with engine() as e:
        data = e.import_mappings(name, document)
    _report(data, as_json)


@mappings.command("export")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("--json", "as_json", is_flag=True,
              help="Print the API's JSON data object ({mappings, stale}); --format json prints the "
                   "re-importable file instead.")
def export_mappings(name: str, fmt: str, as_json: bool) -> None:
    """Print a source's mappings as YAML or JSON (re-importable)."""
    with engine() as e:
        if as_json:
            print_json(e.mappings(name))
            return
        text = e.export_mappings(name, fmt)
    click.echo(text, nl=False)


def _report(data: dict, as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    for key, mapping in data["mappings"].items():
        synonyms = ", ".join(mapping["synonyms"])
        definition = " ".join(f"{k}={mapping[k]}" for k in ("sql", "table", "where") if mapping.get(k))
        out.print(f"[bold]{escape(key)}[/bold]: {escape(mapping['description'] or '')}"
                  + (f" [cyan]{escape(definition)}[/cyan]" if definition else "")
                  + (f" [dim](synonyms: {escape(synonyms)})[/dim]" if synonyms else ""))
    if data["stale"]:
        out.print(f"[yellow]stale (table or column no longer exists): {escape(', '.join(data['stale']))}[/yellow]")
