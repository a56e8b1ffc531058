"""``nlquery demo``: the embedded default, end to end."""

from __future__ import annotations

import click
from rich.markup import escape

from nlquery.commands.common import err, out, print_json, print_rows


@click.command()
@click.option("--rebuild", is_flag=True, help="Regenerate the demo database.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def demo(rebuild: bool, as_json: bool) -> None:
    """Build the demo shop (SQLite, under $NLQUERY_HOME), register it and ask it questions.

    Registers the source demo-shop with semantic mappings ("clients" = customers), asks
    sample questions with the configured LLM or, offline, the rules planner, runs a
    parameterized query, and shows the guard refusing a write hidden in a CTE.
    Afterwards: nlquery ask demo-shop "How many orders per status?"
    """
    from nlquery.demo import run_demo

    if as_json:
        print_json(run_demo(rebuild=rebuild).to_dict())
        return
    with err.status("Building the demo shop..."):
        run = run_demo(rebuild=rebuild)
    out.print(f"[bold]Demo shop[/bold] {'built' if run.created else 'found'} at {escape(str(run.database))}")
    out.print("Registered as [bold]demo-shop[/bold]; tables: "
              + ", ".join(f"{t['name']} ({t['columns']} columns)" for t in run.tables))
    for answer in run.answers:
        out.print(f"\n[bold]Q: {escape(answer['question'])}[/bold]")
        if "error" in answer:
            out.print(f"[yellow]{escape('error[' + answer['error']['code'] + ']')}: "
                      f"{escape(answer['error']['message'])}[/yellow]")
            continue
        out.print(f"[dim]{escape(answer['sql'])}  parameters: {escape(str(answer['parameters']))}[/dim]")
        print_rows(answer)
    for item in run.queries:
        out.print(f"\n[bold]{escape(item['title'])}[/bold]\n[dim]{escape(item['sql'])}[/dim]")
        print_rows(item)
    out.print(f"\n[bold]A write is refused[/bold]\n[dim]{escape(run.refused['sql'])}[/dim]")
    out.print(f"[red]{escape('error[' + run.refused['code'] + ']')}[/red]: {escape(run.refused['message'])}")
