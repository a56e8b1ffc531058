"""``nlquery examples``: verified question -> SQL pairs of a source."""

from __future__ import annotations

import click
from rich.markup import escape

from nlquery.commands.common import engine, json_option, out, print_json


@click.group()
def examples() -> None:
    """Verified examples: the closest join the LLM's prompt; a repeat of one reuses its SQL."""


@examples.command("add")
@click.argument("name")
@click.argument("question")
@click.argument("sql")
@json_option
def add(name: str, question: str, sql: str, as_json: bool) -> None:
    """Store QUESTION -> SQL for source NAME (the SQL is checked by the guard first)."""
    with engine() as e:
        data = e.add_example(name, question, sql)
    if as_json:
        print_json(data)
    else:
        out.print(f"Added example {data['id']}")


@examples.command("list")
@click.argument("name")
@json_option
def list_examples(name: str, as_json: bool) -> None:
    """List a source's verified examples."""
    with engine() as e:
        data = e.list_examples(name)
    if as_json:
        print_json({"examples": data})
        return
    for example in data:
        out.print(f"[bold]{example['id']}[/bold] {escape(example['question'])}\n  [dim]{escape(example['sql'])}[/dim]")


@examples.command("rm")
@click.argument("name")
@click.argument("example_id")
@json_option
def remove(name: str, example_id: str, as_json: bool) -> None:
    """Remove one verified example."""
    with engine() as e:
        e.remove_example(name, example_id)
    if as_json:
        print_json({"id": example_id, "deleted": True})
    else:
        out.print(f"Removed {example_id}")
