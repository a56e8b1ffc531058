"""The shared suite against ``csvdir``, the out-of-tree example connector of
``connectors/README.md`` (examples/nlquery-csvdir): the shop exported to one CSV file per
table (and the odd-names tables as ``Odd Parent.csv`` and ``odd.child.csv``).

Like a third party's package, the connector is found on ``sys.path`` (the example's
directory) and registered under its type name; tests/connectors/test_csvdir_plugin.py
checks that the package's own entry point registers it."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import connectors
from nlquery.shop import COLUMNS, TABLES, generate_shop
from tests.backends.backends import SHOP_END, Backend
from tests.backends.nonsql import _NoDDL

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nlquery-csvdir"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))

from nlquery_csvdir import CSVDirConnector  # noqa: E402 - found the way an installed package is

connectors.register("csvdir", CSVDirConnector)

ODD_NAMES = {
    "Odd Parent": (["Key Part", "select", "café", "dot.ted"], [(1, 2, "crème", 3)]),
    "odd.child": (["id", "parent Key", "parent select", "MixedCase"], [(10, 1, 2, "Yes")]),
}


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def write_csv(path: Path, header: list[str], rows: list[tuple[Any, ...]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([_cell(v) for v in row] for row in rows)


class CSVDirBackend(_NoDDL, Backend):
    name = "csvdir"
    dialect = "sqlite"
    paramstyle = "qmark"
    source_type = "csvdir"
    file_based = True
    expected_types = {
        "orders.created_at": "text",
        "orders.total_amount": "real",
        "customers.email": "text",
        "orders.id": "integer",
    }
    slow_sql = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r"
    typed_values = [("1.5", 1.5), ("'text'", "text"), ("NULL", None), ("X'0102'", "AQI="),
                    ("9007199254740993", 9007199254740993)]

    def __init__(self, tmp_dir: Path) -> None:
        self.path = tmp_dir / f"nlq_test_{uuid.uuid4().hex[:8]}"
        self.url = str(self.path)

    @property
    def connection(self) -> dict[str, Any]:
        return {"database": str(self.path)}

    def connect(self, url: str | None = None) -> Any:
        return connectors.connect(type="csvdir", database=url or str(self.path))

    def setup(self) -> None:
        self.path.mkdir(parents=True)
        self.shop = generate_shop(end=SHOP_END)
        for table in TABLES:
            write_csv(self.path / f"{table}.csv", list(COLUMNS[table]), self.shop.rows[table])
        for table, (header, rows) in ODD_NAMES.items():
            write_csv(self.path / f"{table}.csv", header, rows)

    def drop_database(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def unreachable_url(self) -> str:
        return str(self.path.with_name("missing-directory"))

    def bad_password_url(self, password: str) -> str | None:
        return None

    def admin_connection(self) -> Any:
        """The bare driver underneath: SQLite, in memory (constant SELECTs only: the
        tables are the files, which no SQL can write)."""
        import sqlite3

        return sqlite3.connect(":memory:")
