"""The catalog: opening it and listing many sources; refreshing many sources at once.

* list: open a fresh Engine and list N registered sources, vs one raw SELECT on the
  catalog file (the floor).
* refresh: ``schema refresh --all``'s concurrent path over M sources (each a
  PostgreSQL database of T tables), vs refreshing the same sources one by one.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

from benchmarks.harness import measure, ratio, report
from benchmarks.introspection import build_tables
from benchmarks.scratch import scratch_database
from nlquery import Engine


def bench_list(home: Path, count: int) -> list[dict[str, Any]]:
    with Engine(home=home) as engine:
        for i in range(count):
            engine._catalog.add_source(  # the store itself: no connection check per seeded source
                f"source-{i:05d}", "sqlite", {"database": f"/data/{i}.db"})

    def ours() -> None:
        with Engine(home=home) as engine:
            assert len(engine.list_sources()) == count

    def floor() -> None:
        with sqlite3.connect(home / "catalog.db") as conn:
            conn.execute("SELECT * FROM nlq_sources ORDER BY name").fetchall()

    mine, raw = measure("open + list_sources", ours), measure("raw SELECT (floor)", floor)
    return [{"name": m.name, "sources": count, "median_s": m.median_s, "vs_ours": ratio(mine, m)}
            for m in (mine, raw)]


def bench_refresh(home: Path, sources: int, tables: int, workers: int) -> list[dict[str, Any]]:
    with scratch_database("postgresql") as url:
        build_tables("postgresql", url, 0, tables)
        with Engine(home=home) as engine:
            names = [f"pg-{i}" for i in range(sources)]
            for name in names:
                engine.add_source(name, "postgresql", {"url": url}, extract=False)
            sequential = measure("one by one", lambda: [engine.refresh_schema(n) for n in names], repeat=1)

            def concurrent() -> None:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    list(pool.map(engine.refresh_schema, names))

            together = measure(f"concurrent ({workers} workers)", concurrent, repeat=1)
            single = measure("slowest single source", lambda: engine.refresh_schema(names[0]), repeat=3)
    return [{"name": m.name, "sources": sources, "median_s": m.median_s, "vs_ours": ratio(together, m)}
            for m in (together, sequential, single)]


@click.command()
@click.option("--sources", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Sources registered for the list benchmark.")
@click.option("--refresh-sources", type=click.IntRange(min=0), default=20, show_default=True,
              help="Sources refreshed at once (0 skips; needs PostgreSQL).")
@click.option("--tables", type=click.IntRange(min=1), default=100, show_default=True,
              help="Tables in each refreshed source.")
@click.option("--workers", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def main(sources: int, refresh_sources: int, tables: int, workers: int, as_json: bool) -> None:
    """Catalog speed: listing many sources, refreshing many at once."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        rows = bench_list(Path(tmp) / "list", sources)
        print(f"  list benchmark done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        if refresh_sources:
            rows += bench_refresh(Path(tmp) / "refresh", refresh_sources, tables, workers)
    report("Catalog (vs_ours = their time / ours)", rows, ["name", "sources", "median_s", "vs_ours"],
           as_json=as_json)
