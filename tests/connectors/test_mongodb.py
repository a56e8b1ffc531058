"""MongoDB: schema inference, and a differential test of the SQL -> pipeline translation.

The same SQL runs through the guard on the shop loaded into SQLite and into MongoDB, for
every supported construct, and the results must match. Against a real server when
NLQUERY_TEST_MONGODB_URL is set; otherwise against mongomock, an in-process STAND-IN
for MongoDB (it implements the pipeline stages used here, but it is not a server).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

import connectors
from connectors.base import ConnectionConfig
from connectors.mongodb import MongoDBConnector, infer_fields
from connectors.mongodb_pipeline import like_to_regex, translate
from nlquery import Engine
from nlquery.errors import NLQueryError
from nlquery.shop import COLUMNS, generate_shop, load_shop

REAL_SERVER = os.environ.get("NLQUERY_TEST_MONGODB_URL")
SHOP = generate_shop(end=dt.date(2026, 6, 30), customers=300, orders=1500)
PROFILES = [
    {"id": i, "name": f"p{i}", "address": {"city": [None, "Oslo", "Lima", "Pune"][i % 4], "country": "NO"},
     "tags": ["x"] * (i % 3)}
    for i in range(1, 41)
]


def _document(table: str, row: tuple[Any, ...]) -> dict[str, Any]:
    return {column: float(value) if isinstance(value, Decimal) else value
            for column, value in zip(COLUMNS[table], row)}


@pytest.fixture(scope="module")
def mongo():
    """A connector over the shop in MongoDB (real server or mongomock), dropped after."""
    name = f"nlq_test_{uuid.uuid4().hex[:8]}"
    if REAL_SERVER:
        import pymongo

        client = pymongo.MongoClient(REAL_SERVER, serverSelectionTimeoutMS=5000)
    else:
        import mongomock

        client = mongomock.MongoClient()
    db = client[name]
    for table, rows in SHOP.rows.items():
        db[table].insert_many([_document(table, row) for row in rows])
    db["profiles"].insert_many([dict(p) for p in PROFILES])
    db["orders"].create_index("customer_id", name="ix_orders_customer_id")
    db["customers"].create_index("email", name="ux_email", unique=True)
    connector = MongoDBConnector(ConnectionConfig(database=name), client=client)
    yield connector
    client.drop_database(name)


@pytest.fixture(scope="module")
def shop_sqlite(tmp_path_factory):
    path = tmp_path_factory.mktemp("mongo") / "shop.db"
    conn = sqlite3.connect(path)
    load_shop(conn, "sqlite", "qmark", SHOP)
    conn.execute('CREATE TABLE profiles (id INTEGER, name TEXT, "address.city" TEXT, "address.country" TEXT)')
    conn.executemany("INSERT INTO profiles VALUES (?, ?, ?, ?)",
                     [(p["id"], p["name"], p["address"]["city"], p["address"]["country"]) for p in PROFILES])
    conn.commit()
    conn.close()
    return path


@pytest.fixture(scope="module")
def engines(shop_sqlite, tmp_path_factory):
    home = tmp_path_factory.mktemp("mongo-home")
    with Engine(home=home) as engine:
        engine.add_source("sql", "sqlite", {"database": str(shop_sqlite)})
        yield engine


def _normal(rows: list[list[Any]], ordered: bool) -> Any:
    cleaned = [tuple(round(v, 2) if isinstance(v, float) else v for v in row) for row in rows]
    return cleaned if ordered else Counter(cleaned)


DIFFERENTIAL = [
    ("projection and alias", "SELECT id, name AS customer FROM customers WHERE id <= 5 ORDER BY id", []),
    ("AND / OR / NOT", "SELECT id FROM orders WHERE (status = 'paid' OR status = 'shipped') "
                       "AND NOT total_amount < 100 ORDER BY id LIMIT 50", []),
    ("comparisons", "SELECT COUNT(*) FROM orders WHERE status <> 'delivered' AND total_amount >= 50 "
                    "AND total_amount <= 500 AND id > 10 AND id < 1400", []),
    ("IN", "SELECT country, COUNT(*) FROM customers WHERE country IN ('US', 'CA') GROUP BY country", []),
    ("LIKE", "SELECT COUNT(*) FROM customers WHERE name LIKE 'Ana%' OR email LIKE '%\\_1@%'", []),
    ("IS NULL", "SELECT COUNT(*) FROM profiles WHERE \"address.city\" IS NULL", []),
    ("IS NOT NULL", "SELECT COUNT(*) FROM profiles WHERE \"address.city\" IS NOT NULL", []),
    ("BETWEEN", "SELECT COUNT(*) FROM products WHERE price BETWEEN 10 AND 50", []),
    ("NOT BETWEEN / NOT IN / NOT LIKE",
     "SELECT COUNT(*) FROM customers WHERE id NOT BETWEEN 10 AND 20 AND country NOT IN ('US', 'DE') "
     "AND name NOT LIKE 'B%'", []),
    ("NOT over nulls", "SELECT COUNT(*) FROM profiles WHERE NOT \"address.city\" = 'Oslo'", []),
    ("NOT over AND with nulls", "SELECT COUNT(*) FROM profiles WHERE NOT (\"address.city\" = 'Oslo' AND id > 100)",
     []),
    ("NOT over OR", "SELECT COUNT(*) FROM profiles WHERE NOT (\"address.city\" = 'Oslo' OR \"address.city\" "
                    "IS NULL OR id < 5)", []),
    ("GROUP BY with every aggregate",
     "SELECT status, COUNT(*), SUM(total_amount), AVG(total_amount), MIN(total_amount), MAX(total_amount) "
     "FROM orders GROUP BY status", []),
    ("HAVING", "SELECT customer_id, COUNT(*) AS n FROM orders GROUP BY customer_id HAVING COUNT(*) > 8 "
               "ORDER BY n DESC, customer_id", []),
    ("DISTINCT", "SELECT DISTINCT category FROM products ORDER BY category", []),
    ("ORDER BY, LIMIT, OFFSET", "SELECT id, total_amount FROM orders ORDER BY total_amount DESC, id LIMIT 5 OFFSET 10",
     []),
    ("join", "SELECT c.country, SUM(o.total_amount) FROM orders o JOIN customers c ON c.id = o.customer_id "
             "GROUP BY c.country", []),
    ("two joins", "SELECT p.category, SUM(i.quantity) FROM order_items i JOIN products p ON p.id = i.product_id "
                  "JOIN orders o ON o.id = i.order_id WHERE o.status = 'delivered' GROUP BY p.category", []),
    ("left join", "SELECT COUNT(*) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id WHERE o.id IS NULL", []),
    ("nested fields", "SELECT \"address.city\", COUNT(*) FROM profiles GROUP BY \"address.city\"", []),
    ("parameters", "SELECT COUNT(*) FROM orders WHERE status = $1 AND total_amount > $2", ["paid", 120]),
    ("parameters as text (CLI)", "SELECT COUNT(*) FROM orders WHERE customer_id = $1 AND total_amount > $2 "
                                 "AND created_at > $3", ["17", "20.5", "2025-01-01"]),
    ("dates", "SELECT COUNT(*) FROM orders WHERE created_at >= '2026-06-01' AND created_at < '2026-06-15'", []),
    ("COUNT(DISTINCT)", "SELECT COUNT(DISTINCT customer_id) FROM orders WHERE status = 'refunded'", []),
    ("arithmetic", "SELECT SUM(quantity * unit_price) FROM order_items WHERE order_id < 100", []),
    ("aggregate over nothing", "SELECT COUNT(*), MAX(total_amount) FROM orders WHERE status = 'nope'", []),
]


@pytest.mark.parametrize(("construct", "sql", "params"), DIFFERENTIAL, ids=[d[0] for d in DIFFERENTIAL])
def test_same_answer_as_sqlite(construct, sql, params, mongo, engines):
    expected = engines.query("sql", sql, params, max_rows=5000)
    got = engines.query(mongo, sql, params, max_rows=5000)
    assert expected.rows, f"{construct}: the gold query returned nothing; the test would prove little"
    ordered = "ORDER BY" in sql
    assert _normal(got.rows, ordered) == _normal(expected.rows, ordered), construct
    assert got.columns == expected.columns or construct in {"GROUP BY with every aggregate", "aggregate over nothing"}


@pytest.mark.parametrize(("sql", "named"), [
    ("SELECT id FROM orders WHERE customer_id IN (SELECT id FROM customers)", "SUBQUERY"),
    ("SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM orders", "WINDOW"),
    ("SELECT id FROM orders UNION SELECT id FROM customers", "UNION"),
    ("SELECT CASE WHEN total_amount > 5 THEN 1 ELSE 0 END FROM orders", "CASE"),
    ("SELECT UPPER(name) FROM customers", "UPPER"),
    ("SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id", "SELECT * with joins"),
    ("SELECT o.id FROM orders o RIGHT JOIN customers c ON c.id = o.customer_id", "RIGHT JOIN"),
    ("SELECT o.id FROM orders o JOIN customers c ON c.id > o.customer_id", "one equality"),
    ("SELECT SUM(DISTINCT total_amount) FROM orders", "SUM(DISTINCT"),
])
def test_unsupported_constructs_are_invalid_query_naming_them(sql, named, mongo, engines):
    with pytest.raises(NLQueryError) as caught:
        engines.query(mongo, sql)
    assert caught.value.code == "invalid_query"
    assert named.lower() in caught.value.message.lower()


def test_schema_inference_by_sampling(mongo):
    schema = mongo.introspect()
    profiles = schema.table("profiles")
    assert profiles.kind == "collection"
    columns = {c.name: c for c in profiles.columns}
    assert {"address.city", "address.country", "tags"} <= set(columns)  # dotted paths
    assert columns["tags"].type == "array"
    assert columns["address.city"].nullable and not columns["address.country"].nullable
    assert "null 25%" in columns["address.city"].comment and "string 75%" in columns["address.city"].comment
    orders = schema.table("orders")
    assert {c.name: c.type for c in orders.columns}["created_at"] == "date"
    assert {c.name: c.type for c in orders.columns}["total_amount"] == "double"
    assert orders.row_estimate == len(SHOP.rows["orders"])
    assert orders.primary_key == [] and "_id" not in {c.name for c in orders.columns}  # generated ObjectIds
    assert [i.name for i in orders.indexes] == ["ix_orders_customer_id"]
    assert next(i for i in schema.table("customers").indexes if i.name == "ux_email").unique


def test_inference_counts_missing_fields_as_nullable():
    columns = {c.name: c for c in infer_fields([{"a": 1, "b": {"c": 2.5}}, {"a": 2.0}])}
    assert columns["a"].type == "double" and not columns["a"].nullable
    assert columns["b.c"].nullable and "missing 50%" in columns["b.c"].comment


def test_row_cap_is_part_of_the_pipeline(mongo):
    result = mongo.execute("SELECT id FROM orders ORDER BY id", max_rows=7)
    assert result.row_count == 7 and result.truncated
    assert result.rows[0] == [1]


def test_explain_shows_the_pipeline(mongo):
    plan = mongo.explain("SELECT status, COUNT(*) FROM orders WHERE total_amount > ? GROUP BY status", [10])
    assert plan["collection"] == "orders"
    assert plan["pipeline"][0] == {"$match": {"total_amount": {"$gt": 10}}}
    assert "$group" in plan["pipeline"][1]


def test_writes_never_reach_mongodb(mongo, engines):
    before = mongo.execute("SELECT COUNT(*) FROM orders").rows
    for sql in ("DELETE FROM orders", "UPDATE orders SET status = 'x'", "DROP TABLE orders"):
        with pytest.raises(NLQueryError) as caught:
            engines.query(mongo, sql)
        assert caught.value.code == "query_not_read_only"
        with pytest.raises(connectors.ConnectorError):  # and the connector alone refuses too
            mongo.execute(sql)
    assert mongo.execute("SELECT COUNT(*) FROM orders").rows == before


def test_like_patterns_translate_to_anchored_regexes():
    assert like_to_regex("Ana%") == "^Ana.*$"
    assert like_to_regex("a_c") == "^a.c$"
    assert like_to_regex("100\\%") == "^100%$"
    assert like_to_regex("a.b") == "^a\\.b$"


def test_translation_keeps_sql_null_semantics():
    plan = translate("SELECT id FROM t WHERE a <> 1 AND b = NULL", [])
    match = plan.pipeline[0]["$match"]["$and"]
    assert match[0] == {"a": {"$ne": 1, "$exists": True, "$nin": [None]}}
    assert match[1] == {"$expr": {"$literal": False}}


def test_missing_server_is_disconnected():
    connector = connectors.connect(url="mongodb://127.0.0.1:1/shop?serverSelectionTimeoutMS=300")
    with pytest.raises(connectors.DataSourceDisconnected):
        connector.ping()


@pytest.mark.skipif(not REAL_SERVER, reason="no MongoDB server on this machine: set NLQUERY_TEST_MONGODB_URL "
                                            "to run the timeout test against a real one")
def test_max_time_ms_cancels_on_a_real_server(mongo):
    with pytest.raises(connectors.QueryTimeout):
        mongo.execute("SELECT COUNT(*) FROM orders o JOIN order_items i ON i.order_id = o.id "
                      "JOIN order_items j ON j.order_id = o.id", timeout_s=0.001)


def test_engine_explain_shows_guarded_sql_and_pipeline(mongo, engines):
    explained = engines.explain(mongo, "SELECT status FROM orders WHERE total_amount > $1", [5], max_rows=10)
    assert explained["parameters"] == [5]
    assert explained["plan"]["pipeline"][0] == {"$match": {"total_amount": {"$gt": 5}}}
    assert explained["plan"]["pipeline"][-1] == {"$limit": 11}  # the guard's row cap, translated
