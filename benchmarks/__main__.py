"""``python -m benchmarks NAME [options]``; ``python -m benchmarks list`` names them."""

from __future__ import annotations

import sys

import click

from benchmarks import catalog, guard, http, introspection, nl

BENCHMARKS: dict[str, click.Command] = {
    "introspection": introspection.main,
    "guard": guard.main,
    "catalog": catalog.main,
    "nl": nl.main,
    "http": http.main,
}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """nlquery benchmarks: each one times us and a peer in the same run."""


@cli.command("list")
def list_benchmarks() -> None:
    """Name every benchmark with its one-line description."""
    for name, command in BENCHMARKS.items():
        click.echo(f"{name:16} {command.get_short_help_str(80)}")


for _name, _command in BENCHMARKS.items():
    cli.add_command(_command, _name)

if __name__ == "__main__":
    sys.exit(cli(prog_name="python -m benchmarks"))
