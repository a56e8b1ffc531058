"""The ``nlquery`` command line: parse arguments, call the Engine, render.

Every command has ``--json``, which prints exactly the ``data`` object of the
matching HTTP response. Errors print one line, ``error[code]: message``, on stderr
and exit 1; usage errors exit 2. Commands live in :mod:`nlquery.commands`.
"""

from __future__ import annotations

import sys

import click

from nlquery.commands.ask import ask
from nlquery.commands.audit import audit
from nlquery.commands.common import INTERRUPTED, Group
from nlquery.commands.doctor import doctor
from nlquery.commands.demo import demo
from nlquery.commands.examples import examples
from nlquery.commands.mappings import mappings
from nlquery.commands.mcp import mcp_command
from nlquery.commands.query import query
from nlquery.commands.schema import schema
from nlquery.commands.serve import serve, tool_definition
from nlquery.commands.sources import sources
from nlquery.commands.tokens import tokens
from nlquery.commands.ui import ui


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nlquery")
def cli() -> None:
    """nlquery: ask your databases questions, safely.

    Every query is parsed and checked read-only before it runs, in a read-only
    session, with a row cap and a timeout.

    \b
    Start here:
      nlquery demo                                    # a demo shop on SQLite, no setup
      nlquery schema extract --url sqlite:///shop.db  # print a schema, no catalog
      nlquery sources add shop --url sqlite:///shop.db
      nlquery query shop "SELECT * FROM orders WHERE id = $1" -p 42
      nlquery ask shop "How many customers signed up last month?"
      nlquery doctor                                  # what is installed, configured, reachable
    """


for command in (demo, doctor, sources, schema, mappings, query, ask, examples, serve, tool_definition, tokens,
                mcp_command, ui, audit):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point. Ctrl-C anywhere (also outside a command: while
    parsing, importing) exits 130 without a traceback."""
    try:
        cli(prog_name="nlquery")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
