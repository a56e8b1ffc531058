"""Introspection speed and memory: ours vs SQLAlchemy on the same fresh database.

N tables of 10 columns, each with a primary key, a foreign key to the previous table
(a chain N deep), an index and a comment. Contenders, timed in one run:
``ours`` (``connector.introspect()``), SQLAlchemy's inspector ``get_multi_*``,
``MetaData.reflect()`` (what LangChain's SQLDatabase uses) and one raw catalog query
(the floor: columns with types and nullability only, through the bare driver).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

import connectors
from benchmarks.harness import Measurement, as_dict, counts_option, measure, ratio, report
from benchmarks.scratch import admin_connection, scratch_database

# The floor: one catalog query for the column facts ours returns (type, nullability,
# default, comment), fetched with the bare driver and no objects built.
_RAW_FLOOR_SQL = {
    "postgresql": """
        SELECT c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), pg_catalog.col_description(c.oid, a.attnum)
        FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped""",
    "mysql": """
        SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT
        FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()""",
}
_SQLALCHEMY_DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}


def table_ddl(kind: str, i: int, fk_shape: str = "chain") -> list[str]:
    """The DDL of table ``t{i}``, referencing ``t{i-1}`` (chain) or ``t0`` (star)."""
    columns = ("c1 VARCHAR(50), c2 INTEGER, c3 NUMERIC(10, 2), c4 TIMESTAMP NULL, c5 VARCHAR(20) NOT NULL "
               "DEFAULT 'x', c6 BOOLEAN, c7 DATE, c8 BIGINT")
    parent = i - 1 if fk_shape == "chain" else 0
    fk = f", FOREIGN KEY (parent_id) REFERENCES t{parent} (id)" if i else ""
    if kind == "postgresql":
        return [
            f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, parent_id INTEGER, {columns}{fk})",
            f"CREATE INDEX ix_t{i}_c2 ON t{i} (c2)",
            f"COMMENT ON TABLE t{i} IS 'benchmark table {i}'",
        ]
    return [f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, parent_id INTEGER, {columns}{fk}, "
            f"INDEX ix_t{i}_c2 (c2)) COMMENT = 'benchmark table {i}'"]


def build_tables(kind: str, url: str, first: int, count: int, fk_shape: str = "chain", batch: int = 250) -> float:
    """Create tables ``t{first}`` .. ``t{count - 1}`` in batches; return the seconds it took."""
    started = time.perf_counter()
    conn = admin_connection(kind, url)
    cursor = conn.cursor()
    for start in range(first, count, batch):
        for i in range(start, min(start + batch, count)):
            for statement in table_ddl(kind, i, fk_shape):
                cursor.execute(statement)
        conn.commit()
        print(f"  created {min(start + batch, count)}/{count} tables", file=sys.stderr, end="\r")
    if kind == "postgresql":
        conn.commit()
        conn.autocommit = True
        cursor.execute("ANALYZE")
    conn.close()
    print(file=sys.stderr)
    return time.perf_counter() - started


def contenders(kind: str, url: str) -> dict[str, Any]:
    """name -> zero-argument callable doing one full introspection."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url.replace(kind, _SQLALCHEMY_DRIVERS[kind], 1))
    ours = connectors.connect(url=url)
    raw = admin_connection(kind, url)

    def raw_floor_query() -> None:
        cursor = raw.cursor()
        cursor.execute(_RAW_FLOOR_SQL[kind])
        cursor.fetchall()
        raw.rollback()

    def inspector_get_multi() -> None:
        inspector = sqlalchemy.inspect(engine)  # a fresh inspector: no cached answers
        inspector.get_multi_columns()
        inspector.get_multi_pk_constraint()
        inspector.get_multi_foreign_keys()
        inspector.get_multi_indexes()

    def metadata_reflect() -> None:
        sqlalchemy.MetaData().reflect(bind=engine)

    return {
        "ours": ours.introspect,
        "raw floor query": raw_floor_query,
        "SA get_multi_*": inspector_get_multi,
        "SA MetaData.reflect": metadata_reflect,
    }


def run_backend(kind: str, counts: list[int], fk_shape: str, repeat: int, keep: bool) -> list[dict[str, Any]]:
    """One scratch database grown to each count in turn (the curve), every contender
    timed at each size; peak memory traced for ours and get_multi_*."""
    rows = []
    with scratch_database(kind, keep=keep) as url:
        built = 0
        for tables in counts:
            build_s = build_tables(kind, url, built, tables, fk_shape)
            built = tables
            print(f"  {kind}: {tables} tables ({build_s:.1f} s to build)", file=sys.stderr)
            results: dict[str, Measurement] = {}
            for name, fn in contenders(kind, url).items():
                slow_peer = name.endswith("reflect") and tables > 1000
                results[name] = measure(name, fn, repeat=1 if slow_peer else repeat, warmup=0 if slow_peer else 1,
                                        memory=name in ("ours", "SA get_multi_*"))
                print(f"  {kind}: {name} done", file=sys.stderr)
            ours = results["ours"]
            for name, result in results.items():
                rows.append({"backend": kind, "tables": tables, "fk_shape": fk_shape, **as_dict(result),
                             "ms_per_table": result.median_s * 1000 / tables if result.median_s else None,
                             "ours_speedup": None if name == "ours" else ratio(ours, result)})
    return rows


@click.command()
@click.option("--tables", default="1000", show_default=True,
              help="How many tables (10 columns, PK, FK, index, comment each); a comma list such as "
                   "1000,2000,5000,10000 gives the scaling curve, one database grown step by step.")
@click.option("--backend", "backends", multiple=True, type=click.Choice(["postgresql", "mysql"]),
              help="Which servers (default: both).")
@click.option("--fk-shape", type=click.Choice(["chain", "star"]), default="chain", show_default=True,
              help="chain: t{i} references t{i-1} (N deep; MetaData.reflect recurses and may crash); "
                   "star: every table references t0.")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--keep", is_flag=True, help="Keep the scratch databases.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def main(tables: str, backends: tuple[str, ...], fk_shape: str, repeat: int, keep: bool,
         as_json: bool) -> None:
    """Introspection time and memory: ours vs SQLAlchemy inspector and reflect."""
    counts = counts_option(tables, "table counts", "--tables")
    rows: list[dict[str, Any]] = []
    for kind in backends or ("postgresql", "mysql"):
        rows.extend(run_backend(kind, counts, fk_shape, repeat, keep))
    report(
        f"Introspection of {tables} tables (median seconds; speedup = peer time / ours)",
        rows,
        ["backend", "tables", "name", "median_s", "min_s", "runs", "ms_per_table", "peak_mb", "ours_speedup",
         "error"],
        as_json=as_json,
    )
