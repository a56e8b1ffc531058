"""The demo "shop" dataset: customers, products, orders and order items.

Deterministic: the same ``seed`` and ``end`` date give the same rows, in every
database. Dates spread over the two years before ``end`` (default: today), so
questions such as "last month" always find data. Tests, the demo and the benchmarks
load it through any DB-API connection with :func:`load_shop`.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlglot

TABLES = ("customers", "products", "orders", "order_items")

# Written once, in SQL every supported database accepts once sqlglot has adapted the
# types (TIMESTAMP -> DATETIME on MySQL). Foreign keys are table constraints because
# MySQL ignores column-level REFERENCES.
_DDL = """
CREATE TABLE customers (
    id INTEGER NOT NULL PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    email VARCHAR(255) NOT NULL UNIQUE,
    country CHAR(2) NOT NULL,
    city VARCHAR(100),
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE products (
    id INTEGER NOT NULL PRIMARY KEY,
    name VARCHAR(200) NOT NULL,
    category VARCHAR(50) NOT NULL,
    price DECIMAL(10, 2) NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE orders (
    id INTEGER NOT NULL PRIMARY KEY,
    customer_id INTEGER NOT NULL,
    status VARCHAR(20) NOT NULL,
    total_amount DECIMAL(12, 2) NOT NULL,
    created_at TIMESTAMP NOT NULL,
    FOREIGN KEY (customer_id) REFERENCES customers (id)
);
CREATE TABLE order_items (
    id INTEGER NOT NULL PRIMARY KEY,
    order_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price DECIMAL(10, 2) NOT NULL,
    FOREIGN KEY (order_id) REFERENCES orders (id),
    FOREIGN KEY (product_id) REFERENCES products (id)
)
"""

# Plain enough for every database as written (sqlglot would decorate them for MySQL).
_INDEXES = (
    "CREATE INDEX ix_orders_customer_id ON orders (customer_id)",
    "CREATE INDEX ix_orders_created_at ON orders (created_at)",
    "CREATE INDEX ix_order_items_order_id ON order_items (order_id)",
)

COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("id", "name", "email", "country", "city", "created_at"),
    "products": ("id", "name", "category", "price", "created_at"),
    "orders": ("id", "customer_id", "status", "total_amount", "created_at"),
    "order_items": ("id", "order_id", "product_id", "quantity", "unit_price"),
}

_FIRST = ("Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo",
          "Kofi", "Lena", "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara")
_LAST = ("Silva", "Okafor", "Kim", "Novak", "Garcia", "Muller", "Rossi", "Sato", "Haddad",
         "Johnson", "Dubois", "Kowalski", "Nguyen", "Andersen", "Lopez", "Costa")
_CITIES = {
    "US": ("New York", "Austin", "Seattle", "Chicago"), "CA": ("Toronto", "Vancouver", "Montreal"),
    "GB": ("London", "Leeds", "Bristol"), "DE": ("Berlin", "Munich", "Hamburg"),
    "FR": ("Paris", "Lyon"), "AU": ("Sydney", "Melbourne"), "JP": ("Tokyo", "Osaka"),
    "BR": ("Sao Paulo", "Recife"), "IN": ("Bengaluru", "Pune"), "ES": ("Madrid", "Valencia"),
}
_COUNTRY_WEIGHTS = (30, 12, 12, 10, 8, 7, 6, 6, 5, 4)
_CATEGORIES = {
    "Electronics": ("Headphones", "Charger", "Keyboard", "Monitor", "Speaker"),
    "Books": ("Novel", "Cookbook", "Atlas", "Biography"),
    "Home": ("Lamp", "Rug", "Kettle", "Mug", "Blanket"),
    "Garden": ("Hose", "Trowel", "Planter"),
    "Toys": ("Puzzle", "Kite", "Robot Kit"),
    "Sports": ("Yoga Mat", "Football", "Water Bottle", "Racket"),
}
_STATUSES = ("delivered", "shipped", "paid", "pending", "cancelled", "refunded")
_STATUS_WEIGHTS = (55, 15, 12, 8, 6, 4)
_ADJECTIVES = ("Classic", "Pro", "Mini", "Eco", "Deluxe", "Travel")


@dataclass
class ShopData:
    """Rows per table, each a tuple in :data:`COLUMNS` order."""

    rows: dict[str, list[tuple[Any, ...]]]
    end: dt.date

    def count(self, table: str) -> int:
        return len(self.rows[table])


def generate_shop(
    *, seed: int = 7, end: dt.date | None = None, customers: int = 2000, orders: int = 10_000
) -> ShopData:
    """Build the dataset in memory. ``end`` is the last day with activity."""
    end = end or dt.date.today()
    rng = random.Random(seed)
    end_at = dt.datetime.combine(end, dt.time(23, 59, 59))
    span_s = int((end_at - (end_at - dt.timedelta(days=730))).total_seconds())
    start_at = end_at - dt.timedelta(days=730)

    def moment_after(earliest: dt.datetime) -> dt.datetime:
        window = max(1, int((end_at - earliest).total_seconds()))
        return earliest + dt.timedelta(seconds=rng.randrange(window))

    customer_rows = []
    countries = list(_CITIES)
    for cid in range(1, customers + 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        country = rng.choices(countries, _COUNTRY_WEIGHTS)[0]
        city = rng.choice(_CITIES[country]) if rng.random() > 0.05 else None
        created = start_at + dt.timedelta(seconds=rng.randrange(span_s))
        customer_rows.append(
            (cid, f"{first} {last}", f"{first}.{last}.{cid}@example.com".lower(), country, city, created)
        )

    product_rows = []
    pid = 0
    for category, nouns in _CATEGORIES.items():
        for noun in nouns:
            for adjective in _ADJECTIVES:
                pid += 1
                price = Decimal(rng.randrange(199, 25000)) / 100
                created = start_at + dt.timedelta(seconds=rng.randrange(span_s // 4))
                product_rows.append((pid, f"{adjective} {noun}", category, price, created))

    order_rows, item_rows = [], []
    item_id = 0
    for oid in range(1, orders + 1):
        customer = rng.choice(customer_rows)
        created = moment_after(customer[5])
        total = Decimal("0.00")
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
            item_id += 1
            product = rng.choice(product_rows)
            quantity = rng.choice((1, 1, 1, 2, 3))
            item_rows.append((item_id, oid, product[0], quantity, product[3]))
            total += product[3] * quantity
        status = rng.choices(_STATUSES, _STATUS_WEIGHTS)[0]
        order_rows.append((oid, customer[0], status, total, created))

    return ShopData(
        rows={"customers": customer_rows, "products": product_rows,
              "orders": order_rows, "order_items": item_rows},
        end=end,
    )


def shop_ddl(dialect: str) -> list[str]:
    """The CREATE statements of the shop, in ``dialect`` (a sqlglot dialect name)."""
    # SQLite keeps any declared type as written (and introspection reports it), while
    # sqlglot would reduce DECIMAL(10, 2) to REAL: give it the source text unchanged.
    target = "postgres" if dialect == "sqlite" else dialect
    tables = [s for s in sqlglot.transpile(_DDL, read="postgres", write=target) if s.strip()]
    return tables + list(_INDEXES)


def load_shop(connection: Any, dialect: str, paramstyle: str, data: ShopData | None = None) -> ShopData:
    """Create the shop tables through a writable DB-API ``connection`` and fill them.

    ``paramstyle`` is the driver's (``qmark`` for sqlite3, ``format`` for psycopg and
    PyMySQL). Commits at the end.
    """
    data = data or generate_shop()
    marker = "?" if paramstyle == "qmark" else "%s"
    cursor = connection.cursor()
    for statement in shop_ddl(dialect):
        cursor.execute(statement)
    for table in TABLES:
        columns = COLUMNS[table]
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))})"
        cursor.executemany(sql, _storable(data.rows[table], paramstyle))
    connection.commit()
    cursor.close()
    return data


def _storable(rows: Sequence[tuple[Any, ...]], paramstyle: str) -> list[tuple[Any, ...]]:
    if paramstyle != "qmark":
        return list(rows)
    # sqlite3 stores neither Decimal nor datetime natively: text keeps them exact and sortable.
    return [
        tuple(
            str(v) if isinstance(v, Decimal) else v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v
            for v in row
        )
        for row in rows
    ]
