"""``nlquery demo``: the embedded default, end to end, offline.

Builds the demo shop as a SQLite file under ``$NLQUERY_HOME/demo/`` (once), reads
its schema, and runs sample reads through the same guarded path every query takes,
plus a write attempt the guard refuses.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlquery.engine import Engine
from nlquery.errors import NLQueryError
from nlquery.paths import home
from nlquery.shop import generate_shop, load_shop

SAMPLE_QUERIES: tuple[tuple[str, str, tuple[Any, ...]], ...] = (
    ("Customers per country", "SELECT country, COUNT(*) AS customers FROM customers "
     "GROUP BY country ORDER BY customers DESC LIMIT 5", ()),
    ("Revenue by category ($1 = status)", "SELECT p.category, ROUND(SUM(i.quantity * i.unit_price), 2) AS revenue "
     "FROM order_items AS i JOIN products AS p ON p.id = i.product_id "
     "JOIN orders AS o ON o.id = i.order_id WHERE o.status = $1 "
     "GROUP BY p.category ORDER BY revenue DESC", ("delivered",)),
    ("Five latest orders", "SELECT o.id, c.name, o.total_amount, o.created_at FROM orders AS o "
     "JOIN customers AS c ON c.id = o.customer_id ORDER BY o.created_at DESC LIMIT 5", ()),
)
REFUSED_QUERY = "WITH gone AS (DELETE FROM orders RETURNING id) SELECT COUNT(*) FROM gone"


@dataclass
class DemoRun:
    """What the demo did, for the CLI to render (``--json`` prints ``to_dict``)."""

    database: Path
    created: bool
    tables: list[dict[str, Any]] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"database": str(self.database), "created": self.created, "tables": self.tables,
                "queries": self.queries, "refused": self.refused}


def demo_database(rebuild: bool = False) -> tuple[Path, bool]:
    """The demo shop SQLite file, built if absent (or if ``rebuild``)."""
    path = home() / "demo" / "shop.db"
    if path.exists() and not rebuild:
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".building")
    partial.unlink(missing_ok=True)
    with sqlite3.connect(partial) as conn:
        load_shop(conn, "sqlite", "qmark", generate_shop())
    conn.close()
    partial.replace(path)  # atomic: a crash mid-build never leaves a half-filled demo
    return path, True


def run_demo(rebuild: bool = False) -> DemoRun:
    path, created = demo_database(rebuild)
    run = DemoRun(database=path, created=created)
    with Engine() as engine:
        shop = engine.connect("sqlite", database=str(path))
        for table in engine.introspect(shop).tables:
            run.tables.append({"name": table.name, "columns": len(table.columns),
                               "foreign_keys": len(table.foreign_keys)})
        for title, sql, params in SAMPLE_QUERIES:
            result = engine.query(shop, sql, list(params))
            run.queries.append({"title": title, "sql": sql, "parameters": list(params), **result.to_dict()})
        try:
            engine.query(shop, REFUSED_QUERY)
        except NLQueryError as exc:
            run.refused = {"sql": REFUSED_QUERY, **exc.to_dict()}
    return run
