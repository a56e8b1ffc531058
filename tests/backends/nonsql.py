"""Shared-suite configurations for the sources that are not SQL databases.

* ``mongomock`` / ``mongodb``: the shop as MongoDB collections. Without
  NLQUERY_TEST_MONGODB_URL it runs on mongomock, an in-process STAND-IN registered as the
  source type ``mongomock`` (the real connector class with a mongomock client); with it,
  on that server as type ``mongodb``.
* ``rest_api``: the shop served as paginated JSON by a real HTTP server on 127.0.0.1.

Neither has DDL: tests that alter the schema declare them with ``cannot`` (tests/backends/markers.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import connectors
from connectors.mongodb import MongoDBConnector
from nlquery.shop import COLUMNS, TABLES, generate_shop
from tests.backends.backends import SHOP_END, Backend

MONGODB_URL = os.environ.get("NLQUERY_TEST_MONGODB_URL")
MONGO = ["mongomock", "mongodb"]
NOT_SQL = [*MONGO, "rest_api"]  # for notimpl: the gaps every non-SQL source shares
_mock_client: Any = None


def _shared_mock_client() -> Any:
    global _mock_client
    if _mock_client is None:
        import mongomock

        _mock_client = mongomock.MongoClient()
    return _mock_client


class MongomockConnector(MongoDBConnector):
    """The mongodb connector over the process's one mongomock client (a stand-in)."""

    type_name = "mongomock"

    def __init__(self, config: connectors.ConnectionConfig) -> None:
        super().__init__(config, client=_shared_mock_client())

    def close(self) -> None:
        pass  # the shared in-process client outlives every connector


connectors.register("mongomock", MongomockConnector)


class _NoDDL:
    _reader: Any = None

    def admin(self, statements: list[str]) -> None:
        raise NotImplementedError(f"{self.name} has no DDL")  # type: ignore[attr-defined]

    def scalar(self, sql: str) -> Any:
        """Read through a connector of its own: these sources cannot be written at all."""
        if self._reader is None:
            self._reader = self.connect()  # type: ignore[attr-defined]
        return self._reader.execute(sql).rows[0][0]


class MongoBackend(_NoDDL, Backend):
    name = "mongodb" if MONGODB_URL else "mongomock"
    service = "mongodb" if MONGODB_URL else None
    dialect = "postgres"
    paramstyle = "qmark"
    corpus_dialect = "postgres"
    expected_types = {
        "orders.created_at": "date",
        "orders.total_amount": "double",
        "customers.email": "string",
        "orders.id": "int",
    }
    # an unindexed $lookup per item: seconds on a real server (mongomock would take minutes
    # and cannot cancel: there its timeout test is a declared gap, so any query will do)
    slow_sql = ("SELECT COUNT(*) FROM order_items i JOIN orders o ON o.id = i.order_id "
                "JOIN customers c ON c.id = o.customer_id") if MONGODB_URL else "SELECT COUNT(*) FROM orders"
    typed_values = [("1.5", 1.5), ("'text'", "text"), ("NULL", None), ("9007199254740993", 9007199254740993)]

    def __init__(self) -> None:
        self.database = f"nlq_test_{uuid.uuid4().hex[:8]}"
        base = (MONGODB_URL or "mongomock://localhost").rstrip("/")
        self.url = f"{base}/{self.database}"

    @property
    def client(self) -> Any:
        if not MONGODB_URL:
            return _shared_mock_client()
        import pymongo

        return pymongo.MongoClient(MONGODB_URL, serverSelectionTimeoutMS=5000)

    def setup(self) -> None:
        self.shop = generate_shop(end=SHOP_END)
        db = self.client[self.database]
        for table in TABLES:
            db[table].insert_many([
                {c: float(v) if isinstance(v, Decimal) else v for c, v in zip(COLUMNS[table], row)}
                for row in self.shop.rows[table]
            ])
        db["orders"].create_index("customer_id", name="ix_orders_customer_id")
        db["orders"].create_index("created_at", name="ix_orders_created_at")
        db["order_items"].create_index("order_id", name="ix_order_items_order_id")

    def drop_database(self) -> None:
        self.client.drop_database(self.database)

    def connect(self, url: str | None = None) -> Any:
        if url is not None:
            return connectors.connect(url=url)  # a real mongodb:// URL (unreachable tests)
        return super().connect()

    def unreachable_url(self) -> str:
        return "mongodb://127.0.0.1:1/nlq_none?serverSelectionTimeoutMS=500"

    def bad_password_url(self, password: str) -> str | None:
        return None


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return value


class ShopAPI:
    """``GET /<table>?page=N&per_page=M`` -> ``{"data": [...]}`` for each shop table."""

    def __init__(self, shop: Any) -> None:
        records = {t: [{c: _json_value(v) for c, v in zip(COLUMNS[t], row)} for row in shop.rows[t]] for t in TABLES}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                table = parts.path.strip("/")
                if table not in records:
                    self.send_error(404)
                    return
                page, size = int(query.get("page", 1)), int(query.get("per_page", 100))
                body = json.dumps({"data": records[table][(page - 1) * size: page * size]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RestBackend(_NoDDL, Backend):
    name = "rest_api"
    dialect = "sqlite"
    paramstyle = "qmark"
    source_type = "rest_api"
    expected_types = {
        "orders.created_at": "string",
        "orders.total_amount": "number",
        "customers.email": "string",
        "orders.id": "integer",
    }
    slow_sql = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r"
    typed_values = [("1.5", 1.5), ("'text'", "text"), ("NULL", None), ("X'0102'", "AQI=")]

    def setup(self) -> None:
        self.shop = generate_shop(end=SHOP_END)
        self.api = ShopAPI(self.shop)
        self.url = self.api.url

    @property
    def connection(self) -> dict[str, Any]:
        page = {"type": "page", "param": "page", "size_param": "per_page", "size": 1000}
        return {"base_url": self.url, "options": {"sample_size": 500},
                "endpoints": {t: {"path": f"/{t}", "records_path": "data", "pagination": page} for t in TABLES}}

    def connect(self, url: str | None = None) -> Any:
        connection = {**self.connection, **({"base_url": url} if url else {})}
        return connectors.connect(type="rest_api", **connection)

    def unreachable_url(self) -> str:
        return "http://127.0.0.1:1"

    def drop_database(self) -> None:
        self.api.close()

    def bad_password_url(self, password: str) -> str | None:
        return None
