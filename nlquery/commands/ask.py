"""``nlquery ask``: a question in plain language, answered with one guarded read."""

from __future__ import annotations

import click
from rich.markup import escape

from nlquery.commands.common import engine, format_option, out, print_csv, print_json, print_rows


def write_chart(path: str, columns: list[str], rows: list[list]) -> None:
    """The chart :mod:`nlquery.chart` chooses for the result, as SVG (or PNG); a note on
    stderr when the result's shape has no chart."""
    from nlquery import chart

    spec = chart.infer(columns, rows)
    if spec is None:
        click.echo("no chart: the result has no time, category or number to plot", err=True)
        return
    try:
        if path.lower().endswith(".png"):
            data = chart.render_png(spec, columns, rows)
        else:
            data = chart.render_svg(spec, columns, rows).encode()
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    with open(path, "wb") as handle:
        handle.write(data)
    click.echo(f"chart ({spec['mark']['type']}) written to {path}", err=True)


@click.command()
@click.argument("name")
@click.argument("question")
@click.option("--planner", type=click.Choice(["auto", "llm", "rules"]), default="auto", show_default=True,
              help="llm: the configured endpoint; rules: offline, simple questions; auto: llm if configured.")
@click.option("--explain", is_flag=True, help="Also show linked tables, every attempt and timings.")
@click.option("--max-rows", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--timezone", help="The asker's time zone, for 'today' and 'last month' (e.g. Europe/Paris).")
@click.option("--chart", "chart_file", type=click.Path(dir_okay=False, writable=True),
              help="Also write a chart of the answer, chosen from its shape: FILE.svg (or FILE.png with "
                   "vl-convert-python installed).")
@click.option("--candidates", type=click.IntRange(1, 8), default=1, show_default=True,
              help="LLM candidates to run; the answer is the result most agree on (confidence shown).")
@format_option
def ask(name: str, question: str, planner: str, explain: bool, max_rows: int, timezone: str | None,
        chart_file: str | None, candidates: int, fmt: str) -> None:
    """Ask a registered source a question.

    The LLM planner needs NLQUERY_LLM_BASE_URL / NLQUERY_LLM_MODEL (any OpenAI-compatible
    endpoint); without one, the offline rules planner answers counts, totals, averages,
    minimums, maximums, top N and per-X breakdowns with date ranges.

    \b
    Examples:
      nlquery ask demo-shop "How many customers signed up last month?"
      nlquery ask sales "What's the total sales this week?" --explain
      nlquery ask sales "Total sales per country" --format csv > by-country.csv
      nlquery ask demo-shop "Total sales per month this year" --chart sales.svg
    """
    if chart_file and not chart_file.lower().endswith((".svg", ".png")):
        raise click.BadParameter("the chart file must end in .svg or .png", param_hint="--chart")
    with engine() as e:
        answer = e.ask(name, question, planner=planner, max_rows=max_rows, timezone=timezone,
                       **({"candidates": candidates} if candidates > 1 else {}))
    if chart_file:
        write_chart(chart_file, answer.result.columns, answer.result.to_dict()["rows"])
    if fmt == "json":
        print_json(answer.to_dict(explain=explain))
        return
    if fmt == "csv":  # the rows only: the SQL is in --format json
        print_csv(answer.result.columns, answer.result.to_dict()["rows"])
        return
    out.print(f"[dim]{escape(answer.sql)}[/dim]")
    if answer.parameters:
        out.print(f"[dim]parameters: {escape(str(answer.parameters))}[/dim]")
    print_rows(answer.result.to_dict())
    if answer.confidence is not None:
        out.print(f"[dim]confidence {answer.confidence:.0%}[/dim]")
    for note in answer.notes:
        out.print(f"[yellow]{escape(note)}[/yellow]")
    if explain:
        out.print(f"planner: {answer.planner}{' (cached)' if answer.cached else ''}; "
                  f"linked tables: {escape(', '.join(answer.linked_tables))}")
        for number, attempt in enumerate(answer.attempts, 1):
            verdict = f"error[{attempt.error['code']}]: {attempt.error['message']}" if attempt.error else "ran"
            out.print(f"  attempt {number}: {escape(attempt.sql)}\n    -> {escape(verdict)}")
        out.print("timings (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in answer.timings.items())
                  + f"; tokens: {answer.usage['prompt_tokens']} in, {answer.usage['completion_tokens']} out")
