"""``python -m benchmarks NAME [options]``; ``list`` names them; ``run NAME... --quick``
runs several, small, one after another."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time

import click

from benchmarks import audit, catalog, execution, guard, http, introspection, mongodb, nl, soak

BENCHMARKS: dict[str, click.Command] = {
    "introspection": introspection.main,
    "execution": execution.main,
    "guard": guard.main,
    "catalog": catalog.main,
    "http": http.main,
    "mongodb": mongodb.main,
    "nl": nl.main,
    "soak": soak.main,
    "audit": audit.main,
}
# Small sizes: every benchmark in well under a minute, so CI keeps them from rotting.
QUICK_ARGS: dict[str, list[str]] = {
    "introspection": ["--tables", "25,50", "--repeat", "1"],
    "execution": ["--rows", "1,1000", "--repeat", "2"],
    "guard": ["--rounds", "1"],
    "catalog": ["--sources", "100", "--refresh-sources", "4", "--tables", "20"],
    "http": ["--requests", "50"],
    "mongodb": ["--collections", "5", "--documents", "100", "--repeat", "1"],
    "nl": ["--planners", "rules"],
    "soak": ["--quick"],
    "audit": ["--requests", "50", "--rounds", "1"],  # ~15 s: 8 clients for 12 s plus set-up
}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """nlquery benchmarks: each one times us and a peer in the same run."""


@cli.command("list")
def list_benchmarks() -> None:
    """Name every benchmark with its one-line description."""
    for name, command in BENCHMARKS.items():
        click.echo(f"{name:16} {command.get_short_help_str(80)}")


@cli.command("run")
@click.argument("names", nargs=-1)
@click.option("--quick", is_flag=True, help="Small sizes (what CI runs).")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="Also write all results to FILE.")
def run(names: tuple[str, ...], quick: bool, json_file: str | None) -> None:
    """Run NAMEs (default: all) one after another."""
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        raise click.UsageError(f"unknown benchmark(s): {', '.join(sorted(unknown))}; see 'list'")
    results = {}
    for name in names or BENCHMARKS:
        args = QUICK_ARGS[name] if quick else []
        started = time.perf_counter()
        if json_file:
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                BENCHMARKS[name].main(args=[*args, "--json"], standalone_mode=False)
            results[name] = json.loads(buffer.getvalue())
        else:
            BENCHMARKS[name].main(args=args, standalone_mode=False)
        click.echo(f"{name}: {time.perf_counter() - started:.1f} s", err=True)
    if json_file:
        with open(json_file, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2, default=str)


for _name, _command in BENCHMARKS.items():
    cli.add_command(_command, _name)

if __name__ == "__main__":
    sys.exit(cli(prog_name="python -m benchmarks"))
