"""One test configuration class per connector (ibis style).

A class says how to create a scratch database on its server, load the shop and the
odd-names schema into it, and what the backend supports. The test files under
``tests/backends/`` are shared: adding a connector adds a class here, not a test file.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import uuid
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import sqlglot

from nlquery.shop import ShopData, generate_shop, load_shop

SHOP_END = dt.date(2026, 6, 30)  # fixed, so expected values never move

# Written once in PostgreSQL syntax and transpiled to each backend's dialect.
ODD_NAMES_DDL = """
CREATE TABLE "Odd Parent" (
    "Key Part" INT NOT NULL, "select" INT NOT NULL, "café" VARCHAR(20), "dot.ted" INT,
    PRIMARY KEY ("Key Part", "select")
);
CREATE TABLE "odd.child" (
    id INT NOT NULL PRIMARY KEY, "parent Key" INT, "parent select" INT,
    "MixedCase" VARCHAR(10) DEFAULT 'x',
    FOREIGN KEY ("parent Key", "parent select") REFERENCES "Odd Parent" ("Key Part", "select")
);
INSERT INTO "Odd Parent" VALUES (1, 2, 'crème', 3);
INSERT INTO "odd.child" VALUES (10, 1, 2, 'Yes');
CREATE VIEW big_orders AS SELECT id, total_amount FROM orders WHERE total_amount > 500
"""


def transpile(sql: str, dialect: str) -> list[str]:
    """PostgreSQL-syntax SQL in ``dialect`` (SQLite reads PostgreSQL quoting as is)."""
    target = "postgres" if dialect == "sqlite" else dialect
    return [s for s in sqlglot.transpile(sql, read="postgres", write=target) if s.strip()]


def server_url(variable: str, default: str, container: str) -> str:
    """The server for a backend's tests: ``$variable`` if set; a throwaway
    testcontainers container when ``NLQUERY_TESTCONTAINERS=1`` (needs Docker, never
    used in CI); else the local default."""
    if os.environ.get(variable):
        return os.environ[variable]
    if os.environ.get("NLQUERY_TESTCONTAINERS") == "1":
        return _container_url(container)
    return default


_containers: dict[str, Any] = {}


def _container_url(image: str) -> str:
    if image not in _containers:
        if image.startswith("postgres"):
            from testcontainers.community.postgres import PostgresContainer

            container = PostgresContainer(image, driver=None)
        else:
            from testcontainers.community.mysql import MySqlContainer

            container = MySqlContainer(image, username="root", root_password="nlquery",
                                       password="nlquery", dbname="test")
        container.start()  # stopped by testcontainers' reaper when the session ends
        _containers[image] = container
    return _containers[image].get_connection_url()


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


class Backend:
    """Base of the per-connector test configurations."""

    name: ClassVar[str]
    dialect: ClassVar[str]
    paramstyle: ClassVar[str]
    service: ClassVar[str | None] = None
    # what the backend can do; tests declare gaps with tests.backends.markers.not_yet / cannot
    supports_comments: ClassVar[bool] = True
    # orders.created_at etc. as the database names the types
    expected_types: ClassVar[dict[str, str]]
    # a statement that runs long enough to hit a 0.5 s timeout
    slow_sql: ClassVar[str]
    # SELECT expressions and the JSON-safe value each must come back as
    typed_values: ClassVar[list[tuple[str, Any]]]
    comment_ddl: ClassVar[list[str]] = []
    # widen diff_probe.a to VARCHAR(50); None: the database cannot change a column's type
    widen_column_sql: ClassVar[str | None] = None
    analyze_sql: ClassVar[list[str]] = []
    extra_ddl: ClassVar[list[str]] = []

    url: str
    shop: ShopData
    # the connector type for the URL; None: the URL's scheme says (duckdb:// -> sqlalchemy)
    source_type: str | None = None
    # a file in a temporary directory rather than a database on a server
    file_based: ClassVar[bool] = False
    # which dialect's cases of tests/guard/corpus.sql it runs (None: its own dialect)
    corpus_dialect: ClassVar[str | None] = None

    @property
    def type(self) -> str:
        """The source type to register the scratch database under."""
        import connectors

        return self.source_type or connectors.registry.type_from_url(self.url)

    @property
    def connection(self) -> dict[str, Any]:
        """The ``connection`` object that registers the scratch database as a source."""
        return {"url": self.url}

    def connect(self, url: str | None = None) -> Any:
        """A connector to the scratch database (or to ``url``, same type)."""
        import connectors

        if url is not None:
            return connectors.connect(type=self.type, url=url)
        return connectors.connect(type=self.type, **self.connection)

    def setup(self) -> None:
        self.create_database()
        self.shop = generate_shop(end=SHOP_END)
        conn = self.admin_connection()
        try:
            load_shop(conn, self.dialect, self.paramstyle, self.shop)
            self.run_admin(conn, transpile(ODD_NAMES_DDL, self.dialect))
            self.run_admin(conn, [*self.comment_ddl, *self.extra_ddl, *self.analyze_sql])
        finally:
            conn.close()

    def run_admin(self, conn: Any, statements: list[str]) -> None:
        cursor = conn.cursor()
        for statement in statements:
            cursor.execute(statement)
            if cursor.description:
                cursor.fetchall()
        conn.commit()

    def admin(self, statements: list[str]) -> None:
        """Run ``statements`` through a writable admin connection opened for them alone
        (DuckDB refuses our read-only connection while a writable one is open)."""
        conn = self.admin_connection()
        try:
            self.run_admin(conn, statements)
        finally:
            conn.close()

    def scalar(self, sql: str) -> Any:
        """One value read through a writable admin connection (outside the connector)."""
        conn = self.admin_connection()
        try:
            cursor = conn.cursor()
            cursor.execute(sql)
            return cursor.fetchone()[0]
        finally:
            conn.close()

    def create_database(self) -> None:
        raise NotImplementedError

    def drop_database(self) -> None:
        raise NotImplementedError

    def admin_connection(self) -> Any:
        raise NotImplementedError

    def unreachable_url(self) -> str:
        """The scratch database's URL pointing where nothing answers."""
        return self.url.replace(":5432/", ":1/").replace(":3306/", ":1/")

    def bad_password_url(self, password: str) -> str | None:
        """The scratch database's URL with credentials the server refuses (None: no
        passwords). An unknown user, since the local PostgreSQL trusts any password."""
        parts = urlsplit(self.url)
        netloc = f"nlq_no_such_user:{password}@{parts.hostname}:{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))


class SQLiteBackend(Backend):
    name = "sqlite"
    dialect = "sqlite"
    paramstyle = "qmark"
    supports_comments = False
    file_based = True
    expected_types = {
        "orders.created_at": "timestamp",
        "orders.total_amount": "decimal",
        "customers.email": "varchar",
        "orders.id": "int",
    }
    slow_sql = (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
        "SELECT COUNT(*) FROM r"
    )
    typed_values = [
        ("1.5", 1.5),
        ("'text'", "text"),
        ("X'0102'", "AQI="),
        ("NULL", None),
        ("9007199254740993", 9007199254740993),
    ]
    analyze_sql = ["ANALYZE"]

    def __init__(self, tmp_dir: Path) -> None:
        self.path = tmp_dir / f"nlq_test_{uuid.uuid4().hex[:8]}.db"
        self.url = f"sqlite:///{self.path}"

    def create_database(self) -> None:
        sqlite3.connect(self.path).close()

    def unreachable_url(self) -> str:
        return f"sqlite:///{self.path.with_name('missing.db')}"

    def drop_database(self) -> None:
        self.path.unlink(missing_ok=True)

    def admin_connection(self) -> Any:
        return sqlite3.connect(self.path)

    def bad_password_url(self, password: str) -> str | None:
        return None


class PostgreSQLBackend(Backend):
    name = "postgresql"
    dialect = "postgres"
    paramstyle = "format"
    service = "postgres"
    expected_types = {
        "orders.created_at": "timestamp",
        "orders.total_amount": "numeric",
        "customers.email": "varchar",
        "orders.id": "integer",
    }
    slow_sql = "SELECT pg_sleep(5)"
    widen_column_sql = "ALTER TABLE diff_probe ALTER COLUMN a TYPE VARCHAR(50)"
    typed_values = [
        ("1.5::numeric", 1.5),
        ("12345678901234567890.123::numeric", "12345678901234567890.123"),
        ("TIMESTAMPTZ '2026-01-15 10:00:00+00'", "2026-01-15T10:00:00Z"),
        ("DATE '2026-01-15'", "2026-01-15"),
        ("'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ("'\\x0102'::bytea", "AQI="),
        ("INTERVAL '1 day 2 hours'", "P1DT7200S"),
        ("'{\"a\": [1, 2]}'::jsonb", {"a": [1, 2]}),
        ("ARRAY[1, 2, 3]", [1, 2, 3]),
        ("NULL::text", None),
    ]
    comment_ddl = [
        "COMMENT ON TABLE customers IS 'People who buy'",
        "COMMENT ON COLUMN customers.email IS 'Login email'",
    ]
    extra_ddl = ["CREATE MATERIALIZED VIEW order_totals AS SELECT customer_id, SUM(total_amount) AS total "
                 "FROM orders GROUP BY customer_id"]
    analyze_sql = ["ANALYZE"]

    def __init__(self) -> None:
        self.server_url = server_url(
            "NLQUERY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test", "postgres:15"
        )
        self.database = f"nlq_test_{uuid.uuid4().hex[:8]}"
        self.url = _with_database(self.server_url, self.database)

    def _server(self) -> Any:
        import psycopg

        return psycopg.connect(self.server_url, autocommit=True, connect_timeout=5)

    def create_database(self) -> None:
        with self._server() as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def drop_database(self) -> None:
        with self._server() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def admin_connection(self) -> Any:
        import psycopg

        return psycopg.connect(self.url)


class MySQLBackend(Backend):
    name = "mysql"
    dialect = "mysql"
    paramstyle = "format"
    service = "mysql"
    expected_types = {
        "orders.created_at": "datetime",
        "orders.total_amount": "decimal",
        "customers.email": "varchar",
        "orders.id": "int",
    }
    slow_sql = "SELECT SLEEP(5)"
    widen_column_sql = "ALTER TABLE diff_probe MODIFY a VARCHAR(50)"
    typed_values = [
        ("CAST(1.5 AS DECIMAL(4, 2))", 1.5),
        ("CAST('2026-01-15 10:00:00' AS DATETIME)", "2026-01-15T10:00:00"),
        ("DATE '2026-01-15'", "2026-01-15"),
        ("CAST('26:00:00' AS TIME)", "P1DT7200S"),
        ("X'0102'", "AQI="),
        ("NULL", None),
    ]
    comment_ddl = [
        "ALTER TABLE customers COMMENT = 'People who buy'",
        "ALTER TABLE customers MODIFY email VARCHAR(255) NOT NULL COMMENT 'Login email'",
    ]
    analyze_sql = ["ANALYZE TABLE customers, products, orders, order_items"]

    def __init__(self) -> None:
        self.server_url = server_url(
            "NLQUERY_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test", "mariadb:10.11"
        )
        self.database = f"nlq_test_{uuid.uuid4().hex[:8]}"
        self.url = _with_database(self.server_url, self.database)

    def _connect(self, database: str | None) -> Any:
        import pymysql

        parts = urlsplit(self.server_url)
        return pymysql.connect(
            host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
            password=parts.password or "", database=database, connect_timeout=5, charset="utf8mb4",
        )

    def create_database(self) -> None:
        conn = self._connect(None)
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{self.database}` CHARACTER SET utf8mb4")
        conn.close()

    def drop_database(self) -> None:
        conn = self._connect(None)
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{self.database}`")
        conn.close()

    def admin_connection(self) -> Any:
        return self._connect(self.database)


class DuckDBBackend(Backend):
    """The ``sqlalchemy`` connector's own test database: a DuckDB file through duckdb-engine."""

    name = "duckdb"
    dialect = "duckdb"
    paramstyle = "qmark"
    file_based = True
    corpus_dialect = "postgres"  # DuckDB's SQL is PostgreSQL's, give or take
    expected_types = {  # duckdb-engine reuses PostgreSQL's type names
        "orders.created_at": "timestamp without time zone",
        "orders.total_amount": "numeric",
        "customers.email": "varchar",
        "orders.id": "integer",
    }
    slow_sql = "SELECT COUNT(*) FROM range(1000000000) AS a, range(100000) AS b"
    typed_values = [
        ("CAST(1.5 AS DECIMAL(4, 2))", 1.5),
        ("TIMESTAMP '2026-01-15 10:00:00'", "2026-01-15T10:00:00"),
        ("DATE '2026-01-15'", "2026-01-15"),
        ("'\\x01\\x02'::BLOB", "AQI="),
        ("[1, 2, 3]", [1, 2, 3]),
        ("NULL", None),
    ]
    comment_ddl = [
        "COMMENT ON TABLE customers IS 'People who buy'",
        "COMMENT ON COLUMN customers.email IS 'Login email'",
    ]
    widen_column_sql = "ALTER TABLE diff_probe ALTER COLUMN a TYPE VARCHAR(50)"

    def __init__(self, tmp_dir: Path) -> None:
        self.path = tmp_dir / f"nlq_test_{uuid.uuid4().hex[:8]}.duckdb"
        self.url = f"duckdb:///{self.path}"

    def create_database(self) -> None:
        import duckdb

        duckdb.connect(str(self.path)).close()

    def unreachable_url(self) -> str:
        return f"duckdb:///{self.path.with_name('missing.duckdb')}"

    def drop_database(self) -> None:
        self.path.unlink(missing_ok=True)
        self.path.with_suffix(".duckdb.wal").unlink(missing_ok=True)

    def admin_connection(self) -> Any:
        import duckdb

        return _DuckDBAdmin(duckdb.connect(str(self.path)))

    def bad_password_url(self, password: str) -> str | None:
        return None


class _DuckDBAdmin:
    """A DuckDB connection whose cursors all run on the connection itself: DuckDB
    cursors are connections of their own, and one left open keeps the file open
    read-write in this process, which then refuses the connector's read-only connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def cursor(self) -> _DuckDBCursor:
        return _DuckDBCursor(self.conn)

    def commit(self) -> None:
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()


class _DuckDBCursor:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Any = None) -> Any:
        return self.conn.execute(sql, params) if params is not None else self.conn.execute(sql)

    def executemany(self, sql: str, rows: list[Any]) -> None:
        # DuckDB's executemany runs one statement per row (40 s for the shop):
        # multi-row VALUES statements take a fraction of that.
        head, _, values = sql.partition(" VALUES ")
        for first in range(0, len(rows), 500):
            chunk = rows[first:first + 500]
            self.conn.execute(f"{head} VALUES {', '.join([values] * len(chunk))}",
                              [value for row in chunk for value in row])

    @property
    def description(self) -> Any:
        return self.conn.description

    def fetchall(self) -> Any:
        return self.conn.fetchall()

    def fetchone(self) -> Any:
        return self.conn.fetchone()

    def close(self) -> None:
        pass  # the connection is closed by its owner


class SQLAlchemyPostgreSQLBackend(PostgreSQLBackend):
    """The ``sqlalchemy`` connector on PostgreSQL: the inspector's full ``get_multi_*``
    reflection (keys, indexes, comments), compared with our native connector's answers."""

    name = "sqlalchemy-postgresql"
    expected_types = {
        "orders.created_at": "timestamp without time zone",
        "orders.total_amount": "numeric",
        "customers.email": "varchar",
        "orders.id": "integer",
    }
    typed_values = [v for v in PostgreSQLBackend.typed_values if "INTERVAL" not in v[0]]

    def __init__(self) -> None:
        super().__init__()
        self.url = self.url.replace("postgresql://", "postgresql+psycopg://", 1)
        self.source_type = "sqlalchemy"

    def admin_connection(self) -> Any:
        import psycopg

        return psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://", 1))

    def bad_password_url(self, password: str) -> str | None:
        url = super().bad_password_url(password)
        return url.replace("postgresql://", "postgresql+psycopg://", 1) if url else None


class MSSQLBackend(Backend):
    """SQL Server, only when NLQUERY_TEST_MSSQL_URL names one (none runs on these machines;
    tests/connectors/test_mssql.py covers the connector on recorded catalog rows)."""

    name = "mssql"
    dialect = "tsql"
    paramstyle = "qmark"
    service = "mssql"
    expected_types = {
        "orders.created_at": "datetime2",
        "orders.total_amount": "decimal",
        "customers.email": "varchar",
        "orders.id": "int",
    }
    slow_sql = "WAITFOR DELAY '00:00:05'"
    widen_column_sql = "ALTER TABLE diff_probe ALTER COLUMN a VARCHAR(50)"
    typed_values = [
        ("CAST(1.5 AS DECIMAL(4, 2))", 1.5),
        ("CAST('2026-01-15' AS DATE)", "2026-01-15"),
        ("CAST('2026-01-15 10:00:00' AS DATETIME2)", "2026-01-15T10:00:00"),
        ("NULL", None),
    ]
    comment_ddl = [
        "EXEC sp_addextendedproperty 'MS_Description', 'People who buy', 'SCHEMA', 'dbo', 'TABLE', 'customers'",
        "EXEC sp_addextendedproperty 'MS_Description', 'Login email', 'SCHEMA', 'dbo', 'TABLE', 'customers', "
        "'COLUMN', 'email'",
    ]
    extra_ddl = ["UPDATE STATISTICS orders"]

    def __init__(self) -> None:
        self.server_url = os.environ["NLQUERY_TEST_MSSQL_URL"]
        self.database = f"nlq_test_{uuid.uuid4().hex[:8]}"
        self.url = _with_database(self.server_url, self.database)

    def _connect(self, url: str, *, autocommit: bool) -> Any:
        import pyodbc

        from connectors.base import ConnectionConfig
        from connectors.mssql import connection_string, pick_driver

        config = ConnectionConfig.from_url(url)
        return pyodbc.connect(connection_string(config, pick_driver(pyodbc.drivers(), config.options.get("driver"))),
                              autocommit=autocommit)

    def create_database(self) -> None:
        conn = self._connect(self.server_url, autocommit=True)
        conn.cursor().execute(f"CREATE DATABASE [{self.database}]")
        conn.close()

    def drop_database(self) -> None:
        conn = self._connect(self.server_url, autocommit=True)
        conn.cursor().execute(f"ALTER DATABASE [{self.database}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; "
                              f"DROP DATABASE [{self.database}]")
        conn.close()

    def admin_connection(self) -> Any:
        return self._connect(self.url, autocommit=False)


BACKENDS: dict[str, Any] = {
    "sqlite": SQLiteBackend,
    "postgresql": PostgreSQLBackend,
    "mysql": MySQLBackend,
    "duckdb": DuckDBBackend,
    "sqlalchemy-postgresql": SQLAlchemyPostgreSQLBackend,
}
if os.environ.get("NLQUERY_TEST_MSSQL_URL"):
    BACKENDS["mssql"] = MSSQLBackend
