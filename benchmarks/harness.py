"""Timing, memory and reporting helpers shared by the benchmarks."""

from __future__ import annotations

import gc
import json
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import click
from rich.console import Console
from rich.table import Table


@dataclass
class Measurement:
    """Timings (seconds) of one contender; ``error`` when it failed (e.g. RecursionError)."""

    name: str
    median_s: float | None = None
    min_s: float | None = None
    runs: int = 0
    peak_mb: float | None = None
    error: str | None = None


def measure(name: str, fn: Callable[[], Any], *, repeat: int = 3, warmup: int = 0,
            memory: bool = False) -> Measurement:
    """Run ``fn`` ``warmup`` + ``repeat`` times; with ``memory``, one extra traced run
    gives the peak of Python allocations (tracing slows it, so it is not timed)."""
    result = Measurement(name=name)
    try:
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeat):
            gc.collect()
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        result.median_s, result.min_s, result.runs = statistics.median(times), min(times), len(times)
        if memory:
            gc.collect()
            tracemalloc.start()
            fn()
            result.peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    except Exception as exc:  # a peer crashing is a result, not the end of the run
        tracemalloc.stop()
        result.error = f"{type(exc).__name__}: {str(exc)[:80]}"
    return result


def counts_option(text: str, what: str, option: str) -> list[int]:
    """A ``--tables 1000,2000``-style option: positive whole numbers, sorted, no repeats."""
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise click.BadParameter(f"{text!r}: give a number or a comma list of {what}, e.g. 1000,2000,5000",
                                 param_hint=option) from None
    if not counts or counts[0] < 1:
        raise click.BadParameter(f"{what} must be positive", param_hint=option)
    return counts


def ratio(ours: Measurement, peer: Measurement) -> float | None:
    """How many times faster ours is than ``peer`` (>1: ours is faster)."""
    if ours.median_s and peer.median_s:
        return peer.median_s / ours.median_s
    return None


def report(title: str, rows: list[dict[str, Any]], columns: list[str], *, as_json: bool,
           extra: dict[str, Any] | None = None) -> None:
    """Print ``rows`` as a table, or everything as JSON on stdout."""
    if as_json:
        print(json.dumps({"benchmark": title, "results": rows, **(extra or {})}, indent=2, default=str))
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column != columns[0] else "left")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    Console(width=max(Console().width, 120)).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return ", ".join(f"{key} {item}" for key, item in value.items())
    return str(value)


def as_dict(measurement: Measurement) -> dict[str, Any]:
    return asdict(measurement)
