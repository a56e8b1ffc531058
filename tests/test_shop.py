import datetime as dt
import sqlite3

from nlquery.shop import generate_shop, load_shop


def test_same_seed_same_rows():
    end = dt.date(2026, 3, 1)
    assert generate_shop(end=end).rows == generate_shop(end=end).rows


def test_sizes_and_date_span():
    shop = generate_shop(end=dt.date(2026, 3, 1))
    assert shop.count("orders") == 10_000 and shop.count("customers") == 2000
    dates = [o[4] for o in shop.rows["orders"]]
    assert min(dates) >= dt.datetime(2024, 3, 2) and max(dates) <= dt.datetime(2026, 3, 1, 23, 59, 59)
    assert max(dates) - min(dates) > dt.timedelta(days=600)


def test_order_totals_equal_their_items():
    shop = generate_shop(end=dt.date(2026, 3, 1), orders=200)
    totals = {}
    for _, order_id, _, quantity, price in shop.rows["order_items"]:
        totals[order_id] = totals.get(order_id, 0) + quantity * price
    assert all(totals[o[0]] == o[3] for o in shop.rows["orders"])


def test_orders_never_precede_their_customer():
    shop = generate_shop(end=dt.date(2026, 3, 1), orders=500)
    joined = {c[0]: c[5] for c in shop.rows["customers"]}
    assert all(o[4] >= joined[o[1]] for o in shop.rows["orders"])


def test_loads_into_sqlite(tmp_path):
    conn = sqlite3.connect(tmp_path / "shop.db")
    shop = load_shop(conn, "sqlite", "qmark", generate_shop(end=dt.date(2026, 3, 1), orders=300))
    assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == shop.count("orders") == 300
