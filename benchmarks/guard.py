"""Guard throughput: ``validate_sql`` (cold: every statement parsed and checked) and the
statement cache the Engine uses (``cached_validate``, warm: the same statements again) vs a
bare ``sqlglot.parse_one`` of the same SQL.

A realistic mix (the corpus's legitimate reads, 100 B to ~500 B, plus generated
analytical queries up to 10 KB), then growth up to the 100 KB cap: time per KB must
stay flat (no input makes validation quadratic).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import click
import sqlglot

from benchmarks.harness import report
from nlquery.guard import StatementCache, validate_sql
from tests.guard.corpus import load


def _analytical(width: int) -> str:
    """A CTE-and-window query that grows with ``width``: about 120 B per unit."""
    columns = ", ".join(f"SUM(CASE WHEN status = 's{i}' THEN total_amount END) AS s{i}" for i in range(width))
    return (
        "WITH monthly AS (SELECT customer_id, date_trunc('month', created_at) AS month, "
        f"{columns} FROM orders WHERE created_at >= $1 GROUP BY 1, 2) "
        "SELECT m.*, RANK() OVER (PARTITION BY month ORDER BY s0 DESC) AS r FROM monthly m "
        "JOIN customers c ON c.id = m.customer_id ORDER BY month"
    )


def mix() -> list[tuple[str, str]]:
    corpus = [(c.dialect, c.sql) for c in load() if c.verdict == "allow" and c.dialect != "tsql"]
    generated = [("postgres", _analytical(w)) for w in (1, 5, 20, 40, 80)]
    return corpus + generated


def _time_each(fn: Callable[[str, str], Any], queries: list[tuple[str, str]], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        for dialect, sql in queries:
            started = time.perf_counter()
            fn(sql, dialect)
            samples.append(time.perf_counter() - started)
    return samples


def _stats(name: str, samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "name": name,
        "validations_per_s": len(samples) / sum(samples),
        "median_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
    }


def growth(sizes: list[int]) -> list[dict[str, Any]]:
    rows = []
    for target in sizes:
        width = max(1, target // 60)
        sql = _analytical(width)
        while len(sql) > target and width > 1:
            width = int(width * 0.95)
            sql = _analytical(width)
        samples = _time_each(lambda s, d: validate_sql(s, d, max_rows=1000), [("postgres", sql)], 5)
        median = statistics.median(samples)
        rows.append({"name": f"{len(sql) / 1000:.0f} KB", "bytes": len(sql), "median_ms": median * 1000,
                     "ms_per_kb": median * 1000 / (len(sql) / 1000)})
    return rows


@click.command()
@click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True,
              help="How many times the mix is validated.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def main(rounds: int, as_json: bool) -> None:
    """Guard throughput and latency vs a bare sqlglot parse; growth up to 100 KB."""
    queries = mix()
    _time_each(lambda s, d: validate_sql(s, d), queries, 1)  # warm-up
    ours = _stats("validate_sql", _time_each(lambda s, d: validate_sql(s, d, max_rows=1000), queries, rounds))
    peer = _stats("sqlglot.parse_one (peer)", _time_each(lambda s, d: sqlglot.parse_one(s, read=d), queries, rounds))
    cache = StatementCache(maxsize=len(queries) * 2)
    _time_each(lambda s, d: cache.validate(s, d, max_rows=1000), queries, 1)  # fill it
    cached = _stats("cached_validate (hit)", _time_each(
        lambda s, d: cache.validate(s, d, max_rows=1000), queries, rounds))
    cached["median_us"] = cached["median_ms"] * 1000
    ours["median_us"] = ours["median_ms"] * 1000
    peer["median_us"] = peer["median_ms"] * 1000
    for row in (ours, cached):
        row["ours_cost_ratio"] = row["median_ms"] / peer["median_ms"]
    peer["ours_cost_ratio"] = ours["median_ms"] / peer["median_ms"]
    compiled = sqlglot.parser.__file__.endswith(".so")
    grown = growth([1_000, 10_000, 25_000, 50_000, 99_000])
    report(
        f"Guard on {len(queries)} queries x {rounds} (sqlglot {sqlglot.__version__}, "
        f"{'compiled sqlglotc' if compiled else 'pure Python'}); cost ratio = ours / bare parse "
        "(the peer's row: cold validate_sql / bare parse)",
        [ours, cached, peer], ["name", "validations_per_s", "median_us", "p99_ms", "ours_cost_ratio"],
        as_json=as_json, extra={"growth": grown},
    )
    if not as_json:
        report("Growth up to the 100 KB cap (flat ms_per_kb = linear)", grown,
               ["name", "bytes", "median_ms", "ms_per_kb"], as_json=False)
