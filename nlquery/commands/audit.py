"""``nlquery audit``: the audit trail (who ran what against which source)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from rich.markup import escape

from nlquery.commands.common import engine, out, print_json
from nlquery.errors import InvalidRequest


def _line(record: dict) -> str:
    who = f"{record['tenant'] or 'operator'}/{record['token_id'] or '-'}"
    what = record["question"] or record["sql"] or record["path"] or ""
    rows = "" if record["row_count"] is None else f" {record['row_count']} rows"
    color = "green" if record["outcome"] == "ok" else "red"
    return (f"{record['at']}  {escape(who)}  {record['channel']}  {record['action']}  "
            f"{escape(record['source_name'] or record['source'] or '-')}  [{color}]{record['outcome']}[/{color}]"
            f"{rows}  {record['duration_ms'] or 0:.1f} ms  {escape(what[:200])}")


@click.command("audit")
@click.option("--since", help="ISO 8601 time, or 15m, 2h, 7d before now.")
@click.option("--until", help="ISO 8601 time, or 15m, 2h, 7d before now.")
@click.option("--source", help="A source's name or id.")
@click.option("--tenant", help="One tenant's records.")
@click.option("--outcome", help="ok, error (any failure) or an error code.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new records as they arrive (Ctrl-C stops).")
@click.option("--export", "export", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every matching record to FILE.jsonl (one JSON object a line, oldest first), for a SIEM.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON data object (with --follow: JSON lines).")
def audit(since: str | None, until: str | None, source: str | None, tenant: str | None, outcome: str | None,
          limit: int, follow: bool, export: Path | None, as_json: bool) -> None:
    """The audit trail, newest first: every query, ask, tool callback, source change and
    refused request, with its tenant, token id, SQL, redacted parameters and outcome.
    Records older than NLQUERY_AUDIT_RETENTION_DAYS (default 90) are pruned."""
    filters = {"source": source, "tenant": tenant, "since": since, "until": until, "outcome": outcome}
    with engine() as e:
        if export is not None:
            count = _export(e, export, filters)
            if as_json:
                print_json({"file": str(export), "records": count})
            else:
                out.print(f"Wrote {count} records to {escape(str(export))}")
            return
        page = e.audit_log(limit=limit, **filters)
        if as_json and not follow:
            print_json(page)
            return
        records = list(reversed(page["records"]))  # oldest first on a terminal
        for record in records:
            _show(record, as_json)
        if not follow:
            return
        last = records[-1]["id"] if records else _newest(e)
        while True:
            time.sleep(1.0)
            for record in e.audit_log(after=last, limit=1000, **filters)["records"]:
                _show(record, as_json)
                last = record["id"]


def _show(record: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(record, ensure_ascii=False, default=str))
    else:
        out.print(_line(record))


def _newest(e) -> int:
    records = e.audit_log(limit=1)["records"]
    return records[0]["id"] if records else 0


def _export(e, path: Path, filters: dict) -> int:
    """Every matching record, oldest first, one JSON object a line."""
    try:
        handle = path.open("w", encoding="utf-8")
    except OSError as exc:
        raise InvalidRequest(f"cannot write {path}: {exc.strerror or exc}") from None
    count, after = 0, 0
    with handle:
        while True:
            batch = e.audit_log(after=after, limit=1000, **filters)["records"]
            for record in batch:
                handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            count += len(batch)
            if len(batch) < 1000:
                return count
            after = batch[-1]["id"]
