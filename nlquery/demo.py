"""``nlquery demo``: the embedded default, end to end, offline.

Builds the demo shop as a SQLite file under ``$NLQUERY_HOME/demo/`` (once), registers
it as the source ``demo-shop`` with semantic mappings, asks sample questions (with the
configured LLM, else the offline rules planner), runs a parameterized SQL query, and
shows the guard refusing a write.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlquery.engine import Engine
from nlquery.errors import DataSourceNotFound, NLQueryError
from nlquery.paths import home
from nlquery.shop import generate_shop, load_shop

SOURCE = "demo-shop"
MAPPINGS = {
    "customers": {"description": "Customer accounts and profiles",
                  "synonyms": ["users", "clients", "accounts", "members"]},
    "customers.created_at": {"description": "When the customer signed up",
                             "synonyms": ["signup date", "registration date", "joined date", "signed up"]},
    "customers.country": {"description": "ISO country code", "synonyms": ["nation"]},
    "orders": {"description": "Customer purchase orders", "synonyms": ["purchases", "transactions", "sales"]},
    "orders.total_amount": {"description": "Total order value in USD",
                            "synonyms": ["order total", "purchase amount", "sale value", "revenue"]},
    "products": {"description": "Products for sale", "synonyms": ["items", "catalog"]},
    "products.price": {"description": "Unit price in USD", "synonyms": ["cost"]},
}
QUESTIONS = (
    "How many customers signed up last month?",
    "What's the total sales this week?",
    "How many orders per status?",
    "Average order total by month this year",
)
SAMPLE_QUERY = ("SELECT country, COUNT(*) AS customers FROM customers WHERE created_at >= $1 "
                "GROUP BY country ORDER BY customers DESC LIMIT 5")
REFUSED_QUERY = "WITH gone AS (DELETE FROM orders RETURNING id) SELECT COUNT(*) FROM gone"


@dataclass
class DemoRun:
    """What the demo did, for the CLI to render (``--json`` prints ``to_dict``)."""

    database: Path
    created: bool
    tables: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"database": str(self.database), "created": self.created, "source": SOURCE,
                "tables": self.tables, "answers": self.answers, "queries": self.queries, "refused": self.refused}


def demo_database(rebuild: bool = False) -> tuple[Path, bool]:
    """The demo shop SQLite file, built if absent (or if ``rebuild``)."""
    path = home() / "demo" / "shop.db"
    if path.exists() and not rebuild:
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".building")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(partial)
    try:
        load_shop(conn, "sqlite", "qmark", generate_shop())
    finally:
        conn.close()
    partial.replace(path)  # atomic: a crash mid-build never leaves a half-filled demo
    return path, True


def run_demo(rebuild: bool = False) -> DemoRun:
    path, created = demo_database(rebuild)
    run = DemoRun(database=path, created=created)
    with Engine() as engine:
        try:
            engine.get_source(SOURCE)
            if created:
                engine.refresh_schema(SOURCE)
        except DataSourceNotFound:
            engine.add_source(SOURCE, "sqlite", {"database": str(path)}, "Demo shop: customers, products, orders")
        engine.update_mappings(SOURCE, MAPPINGS)
        for table in engine.schema(SOURCE).tables:
            run.tables.append({"name": table.name, "columns": len(table.columns)})
        for question in QUESTIONS:
            try:
                run.answers.append(engine.ask(SOURCE, question).to_dict(explain=False))
            except NLQueryError as exc:
                run.answers.append({"question": question, "error": exc.to_dict()})
        result = engine.query(SOURCE, SAMPLE_QUERY, ["2026-01-01"])
        run.queries.append({"title": "Customers who joined this year, per country", "sql": SAMPLE_QUERY,
                            "parameters": ["2026-01-01"], **result.to_dict()})
        try:
            engine.query(SOURCE, REFUSED_QUERY)
        except NLQueryError as exc:
            run.refused = {"sql": REFUSED_QUERY, **exc.to_dict()}
    return run
