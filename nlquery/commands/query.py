"""``nlquery query``: a guarded, parameterized read on a registered or ad-hoc source."""

from __future__ import annotations

from typing import Any

import click

from nlquery import encoding
from nlquery.streaming import ResultStream
from nlquery.commands.common import (
    ad_hoc_connector,
    connection_options,
    engine,
    format_option,
    print_json,
    print_rows,
)


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="[NAME] SQL")
@connection_options
@click.option("-p", "--param", "params", multiple=True, metavar="VALUE",
              help="Value for $1, $2 ... in order (repeatable).")
@click.option("--max-rows", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Return at most this many rows; the result says if it was truncated.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.001), default=30.0,
              show_default=True, help="Statement timeout in seconds.")
@click.option("--explain", is_flag=True,
              help="Show what would run (guarded SQL, bound parameters; a MongoDB source's pipeline) "
                   "without running it.")
@format_option
def query(args: tuple[str, ...], params: tuple[str, ...], max_rows: int, timeout_s: float, explain: bool,
          fmt: str, **connection: Any) -> None:
    """Run a read-only SQL query with $1, $2 ... parameters.

    NAME is a registered source (its exposure policy and schema apply); without it,
    give the source with --url or --type and fields.

    \b
    Examples:
      nlquery query shop "SELECT name FROM customers WHERE country = $1 LIMIT 5" -p CA
      nlquery query --url sqlite:///shop.db "SELECT COUNT(*) FROM orders"
      nlquery query mongo "SELECT status, COUNT(*) FROM orders GROUP BY status" --explain
      nlquery query shop "SELECT * FROM orders" --format csv > orders.csv
      nlquery query shop "SELECT * FROM orders" --max-rows 100000 --format jsonl > orders.jsonl
    """
    ad_hoc = connection["url"] or connection["source_type"]
    if len(args) > 2 or (ad_hoc and len(args) != 1) or (not ad_hoc and len(args) != 2):
        raise click.UsageError("give NAME and SQL for a registered source, or SQL with --url/--type")
    with engine() as e:
        source = ad_hoc_connector(e, **connection) if ad_hoc else args[0]
        if explain:
            print_json(e.explain(source, args[-1], list(params), max_rows=max_rows))
            return
        if fmt in ("csv", "jsonl"):
            # Driver values from the source's cursor to stdout, chunk by chunk as they are fetched.
            with e.stream(source, args[-1], list(params), max_rows=max_rows, timeout_s=timeout_s) as rows:
                _write(fmt, rows)
            return
        result = e.query(source, args[-1], list(params), max_rows=max_rows, timeout_s=timeout_s)
    data = result.to_dict()
    if fmt == "json":
        print_json(data)
    else:
        print_rows(data)


def _write(fmt: str, rows: ResultStream) -> None:
    """CSV or JSON lines on stdout, chunk by chunk (the mapping of :mod:`nlquery.encoding`)."""
    out = click.get_binary_stream("stdout")
    if fmt == "jsonl":
        for chunk in encoding.jsonl_lines(rows.columns, rows.rows()):
            out.write(chunk)
    else:
        for text in encoding.csv_lines(rows.columns, rows.rows()):
            out.write(text.encode("utf-8"))
    out.flush()


# `nlquery query` also writes JSON lines (one object per row): --format jsonl.
for _param in query.params:
    if _param.name == "fmt":
        _param.type = click.Choice(["table", "json", "csv", "jsonl"])
        _param.help = ("table (for people; the default), json (the API's data object), csv (a header row, "
                       "then one line per row) or jsonl (one JSON object per row); csv and jsonl stream")
