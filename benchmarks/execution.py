"""Execution overhead: ``Engine.query`` (guard, exposure policy, read-only session) vs the
bare driver cursor running the same SELECT, for 1, 10k and 100k rows, on SQLite,
PostgreSQL and MariaDB, in one run; each result shape against its own peer:

* ``query native`` (``Engine.query(result="native")``, driver values) vs the raw cursor's
  ``fetchall`` (``raw cursor``);
* ``JSON bytes`` (native rows through :func:`nlquery.encoding.dumps`, the one mapping) vs
  ``raw + encoder``: the raw cursor + the same encoder writing the driver's rows with
  ``default=str`` (no mapping);
* ``query json`` (``result="json"``, JSON-safe values) and ``connector json``
  (``connector.execute``, no guard) vs the raw cursor;
* ``streamed JSON`` (``Engine.stream``, each chunk through the same encoder, as HTTP sends
  a large result) vs ``JSON bytes``; ``peak_mb`` is the peak Python memory (tracemalloc)
  of one call of each: the streamed path holds a few chunks, the other the whole result;
* ``psycopg COPY`` (PostgreSQL): psycopg's own fastest path to Python rows, binary ``COPY``
  with the column types given, for reference beside the raw cursor;
* ``query_arrow`` (``Engine.query_arrow``: ADBC on PostgreSQL) vs the raw cursor or, on
  PostgreSQL with ``adbc-driver-postgresql`` installed, ``ADBC arrow``: ADBC's own
  ``fetch_arrow_table`` (no guard, no read-only session: the driver's fastest path).

``x_peer`` = our time / the peer's time (1.10 = 10% slower than the peer).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import sqlite3
import sys
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

import connectors
from benchmarks.harness import Measurement, as_dict, counts_option, measure, ratio, report
from benchmarks.scratch import admin_connection, scratch_database
from nlquery import Engine, encoding

COLUMNS = "id INTEGER PRIMARY KEY, name VARCHAR(40), amount NUMERIC(10, 2), created_at TIMESTAMP NULL, active BOOLEAN"
SELECT = "SELECT id, name, amount, created_at, active FROM facts ORDER BY id LIMIT {n}"
PLACEHOLDER = {"sqlite": "?", "postgresql": "%s", "mysql": "%s"}


def _rows(count: int) -> Iterator[tuple[Any, ...]]:
    start = dt.datetime(2026, 1, 1)
    for i in range(count):
        yield i, f"name {i}", i % 1000 + 0.25, start + dt.timedelta(minutes=i), i % 2 == 0


def _fill(kind: str, conn: Any, count: int) -> None:
    cursor = conn.cursor()
    cursor.execute(f"CREATE TABLE facts ({COLUMNS})")
    mark = PLACEHOLDER[kind]
    rows = list(_rows(count))
    for first in range(0, count, 5000):
        cursor.executemany(f"INSERT INTO facts VALUES ({', '.join([mark] * 5)})", rows[first:first + 5000])
    conn.commit()


@contextlib.contextmanager
def _database(kind: str, count: int, workdir: Path) -> Iterator[tuple[str, Callable[[], Any]]]:
    """Yield the source URL and a factory of raw DB-API connections to a filled database."""
    if kind == "sqlite":
        path = workdir / "facts.db"
        conn = sqlite3.connect(path)
        _fill(kind, conn, count)
        conn.close()
        yield f"sqlite:///{path}", lambda: sqlite3.connect(path)
        return
    with scratch_database(kind) as url:
        conn = admin_connection(kind, url)
        _fill(kind, conn, count)
        conn.close()
        yield url, lambda: admin_connection(kind, url)


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _raw_encode(rows: list[Any]) -> bytes:
    """The peer's encoder: the same JSON library on the driver's rows, ``default=str``."""
    if _has("orjson"):
        import orjson

        return orjson.dumps(rows, default=str)
    return json.dumps(rows, default=str).encode()


def _adbc_connect(url: str) -> Any:
    if not _has("adbc_driver_postgresql"):
        return None
    import adbc_driver_postgresql.dbapi

    return adbc_driver_postgresql.dbapi.connect(url)


def _adbc_read(conn: Any, sql: str) -> Any:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        table = cursor.fetch_arrow_table()
    conn.rollback()
    return table


def _copy_binary(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    """psycopg's fastest path to Python rows: binary ``COPY`` with the column types given."""
    with conn.cursor() as cursor:
        with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)") as copy:
            copy.set_types(["integer", "text", "numeric", "timestamp", "boolean"])
            rows = list(copy.rows())
    conn.rollback()
    return rows


def _stream_encoded(engine: Engine, source: str, sql: str, size: int) -> int:
    """What HTTP does with a large result: JSON bytes chunk by chunk from Engine.stream."""
    written = 0
    with engine.stream(source, sql, max_rows=size) as stream:
        for chunk in stream:
            written += len(encoding.dumps(chunk))
    return written


def _peak_mb(fn: Callable[[], Any]) -> float:
    """Peak Python memory (tracemalloc) of one call, in MB: what a result path holds at once."""
    tracemalloc.start()
    try:
        fn()
        return round(tracemalloc.get_traced_memory()[1] / 1e6, 2)
    finally:
        tracemalloc.stop()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def run_backend(kind: str, sizes: list[int], repeat: int, workdir: Path) -> list[dict[str, Any]]:
    rows = []
    with _database(kind, max(sizes), workdir) as (url, raw_connect), Engine(home=workdir / f"home-{kind}") as engine:
        engine.add_source(kind, kind, {"url": url})
        connector = connectors.connect(url=url)
        raw = raw_connect()
        adbc = _adbc_connect(url) if kind == "postgresql" else None
        try:
            for size in sizes:
                sql = SELECT.format(n=size)

                def bare_cursor() -> None:
                    cursor = raw.cursor()
                    cursor.execute(sql)
                    cursor.fetchall()
                    raw.rollback()

                def bare_cursor_encoded() -> None:
                    cursor = raw.cursor()
                    cursor.execute(sql)
                    _raw_encode(cursor.fetchall())
                    raw.rollback()

                # name -> (function, its peer)
                contenders: dict[str, tuple[Callable[[], Any], str | None]] = {
                    "raw cursor": (bare_cursor, None),
                    "raw + encoder": (bare_cursor_encoded, None),
                    "connector json": (lambda: connector.execute(sql, max_rows=size), "raw cursor"),
                    "query json": (lambda: engine.query(kind, sql, max_rows=size), "raw cursor"),
                    "query native": (lambda: engine.query(kind, sql, max_rows=size, result="native"),
                                            "raw cursor"),
                    "JSON bytes": (
                        lambda: encoding.dumps(engine.query(kind, sql, max_rows=size, result="native").to_dict()),
                        "raw + encoder"),
                }
                contenders["streamed JSON"] = (lambda: _stream_encoded(engine, kind, sql, size), "JSON bytes")
                if _has("pyarrow"):
                    contenders["query_arrow"] = (lambda: engine.query_arrow(kind, sql, max_rows=size),
                                                        "raw cursor")
                if kind == "postgresql":
                    contenders["psycopg COPY"] = (lambda: _copy_binary(raw, sql), None)
                if kind == "postgresql" and adbc is not None:
                    contenders["ADBC arrow"] = (lambda: _adbc_read(adbc, sql), None)
                    if "query_arrow" in contenders:
                        contenders["query_arrow"] = (contenders["query_arrow"][0],
                                                            "ADBC arrow")
                results: dict[str, Measurement] = {
                    name: measure(name, fn, repeat=repeat, warmup=1) for name, (fn, _) in contenders.items()}
                bare = results["raw cursor"]
                peaks = {name: _peak_mb(contenders[name][0]) for name in ("JSON bytes", "streamed JSON")}
                for name, result in results.items():
                    peer_name = contenders[name][1]
                    peer = results[peer_name] if peer_name else None
                    rows.append({"backend": kind, "rows": size, **as_dict(result),
                                 "median_ms": _ms(result.median_s), "min_ms": _ms(result.min_s),
                                 "added_ms": _ms(result.median_s - bare.median_s)
                                 if result.median_s is not None and bare.median_s is not None else None,
                                 "peer": peer_name, "peak_mb": peaks.get(name),
                                 "x_peer": 1 / ratio(result, peer) if peer and ratio(result, peer) else None})
                print(f"  {kind}: {size} rows done", file=sys.stderr)
        finally:
            raw.close()
            connector.close()
            if adbc is not None:
                adbc.close()
    return rows


@click.command()
@click.option("--rows", "sizes", default="1,10000,100000", show_default=True,
              help="Comma list of result sizes.")
@click.option("--backend", "backends", multiple=True, type=click.Choice(["sqlite", "postgresql", "mysql"]),
              help="Which databases (default: all three).")
@click.option("--repeat", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def main(sizes: str, backends: tuple[str, ...], repeat: int, as_json: bool) -> None:
    """Engine.query vs the raw driver cursor for 1, 10k and 100k rows."""
    counts = counts_option(sizes, "row counts", "--rows")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in backends or ("sqlite", "postgresql", "mysql"):
            rows.extend(run_backend(kind, counts, repeat, Path(tmp)))
    report("Execution: milliseconds per query; added_ms = over the raw cursor; x_peer = our time / the "
           "peer's time (1.10: 10% slower)", rows,
           ["backend", "rows", "name", "median_ms", "min_ms", "added_ms", "peer", "x_peer", "peak_mb", "error"],
           as_json=as_json)
