"""MySQL and MariaDB through PyMySQL.

Introspection reads ``information_schema`` in four queries. Execution runs in
``START TRANSACTION READ ONLY`` with the server's statement timeout
(``max_execution_time`` on MySQL, ``max_statement_time`` on MariaDB), streams rows
with an unbuffered cursor and always rolls back.
"""

from __future__ import annotations

import contextlib
import socket
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from connectors.base import DEFAULT_TIMEOUT_S, DBAPIConnector, rows_taken, take_rows
from connectors.base import Capability, DialectFacts
from connectors.connection import ConnectionModel
from connectors.deadline import GRACE_S, DeadlineExecution, connect_timeout_s, socket_readable
from connectors.errors import (
    ConnectorError,
    DataSourceDisconnected,
    DriverNotInstalled,
    QueryExecutionFailed,
    QueryTimeout,
)
from connectors.models import Column, ForeignKey, Index, Schema, Table, UniqueConstraint
from connectors.pool import DEFAULT_POOL_SIZE

_SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")


class MySQLConnection(ConnectionModel):
    """``mysql`` settings (MySQL and MariaDB). Only ``charset`` and ``connect_timeout``
    reach the driver; ``LOAD DATA LOCAL`` is always off, whoever registered the source."""

    remote_options = frozenset({"charset", "connect_timeout", "schemas"})

# Server error numbers.
_TIMEOUT_ERRORS = {3024, 1969, 1317}  # MySQL max_execution_time, MariaDB max_statement_time, interrupted
_CONNECTION_ERRORS = {1044, 1045, 1049, 2002, 2003, 2005, 2006, 2013, 2055}

_TABLES_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_COMMENT, TABLE_ROWS
FROM information_schema.TABLES WHERE {where} ORDER BY TABLE_SCHEMA, TABLE_NAME"""

_COLUMNS_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE,
       COLUMN_DEFAULT, COLUMN_COMMENT
FROM information_schema.COLUMNS WHERE {where}
ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION"""

# KEY_COLUMN_USAGE lists exactly the PRIMARY KEY, UNIQUE and FOREIGN KEY columns; the
# kind follows from the row (name PRIMARY; a referenced table). Joining
# TABLE_CONSTRAINTS for the kind is 15x slower on MariaDB (2.4 s at 2,000 tables).
_CONSTRAINTS_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME,
       REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME
FROM information_schema.KEY_COLUMN_USAGE WHERE {where}
ORDER BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION"""

_INDEXES_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME
FROM information_schema.STATISTICS WHERE {where} AND INDEX_NAME <> 'PRIMARY'
ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"""


def _driver() -> Any:
    try:
        import pymysql
        import pymysql.cursors
    except ImportError:
        raise DriverNotInstalled(
            "the mysql connector needs PyMySQL: pip install 'nlquery[mysql]'"
        ) from None
    return pymysql


class MySQLConnector(DeadlineExecution, DBAPIConnector):
    """``mysql`` sources, MySQL 5.7+/8 and MariaDB 10.3+. Without ``database``,
    introspection covers every non-system database; ``schemas`` narrows it."""

    type_name = "mysql"
    connection_model = MySQLConnection
    dialect = "mysql"
    dialect_facts = DialectFacts(
        dialect,
        prompt_notes="MySQL/MariaDB. Use DATE_FORMAT(col, '%Y-%m'), DATE_SUB(NOW(), INTERVAL 7 DAY), backticks "
                     "for odd identifiers, LIMIT n.")
    paramstyle = "format"
    capabilities = frozenset({Capability.DATE_BUCKETS, Capability.COMMENTS, Capability.ROW_ESTIMATES})
    default_port = 3306
    default_pool_size = DEFAULT_POOL_SIZE
    introspection_steps = ("tables", "columns", "constraints", "indexes")
    # SQL grouping a timestamp column by period.
    date_buckets = {
        "day": "DATE_FORMAT({column}, '%Y-%m-%d')", "week": "DATE_FORMAT({column}, '%x-W%v')",
        "month": "DATE_FORMAT({column}, '%Y-%m')", "year": "DATE_FORMAT({column}, '%Y')",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._is_mariadb = False

    def _connect(self) -> Any:
        pymysql = _driver()
        config = self.config
        host, port = config.host or "localhost", config.port or self.default_port
        if config.egress is not None:  # connect to the address the policy checked
            host = config.egress.resolve(host, port)[0]
        conn = pymysql.connect(
            host=host,
            port=port,
            user=config.username,
            password=config.password or "",
            database=config.database,
            charset=config.options.get("charset", "utf8mb4"),
            # A call's deadline bounds the connect and every socket read and write: the
            # server's statement timeout cannot end a wait on a dead link.
            connect_timeout=connect_timeout_s(self._time_left(DEFAULT_TIMEOUT_S),
                                              config.options.get("connect_timeout")),
            read_timeout=self._time_left(DEFAULT_TIMEOUT_S) + GRACE_S,
            write_timeout=self._time_left(DEFAULT_TIMEOUT_S) + GRACE_S,
            autocommit=False,
            local_infile=False,  # a server must never make us upload a local file
        )
        self._is_mariadb = "mariadb" in conn.get_server_info().lower()
        # Session default too, not only per transaction: DDL commits implicitly and would
        # otherwise run in a fresh transaction that is not read-only.
        with conn.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
        return conn

    def _classify_error(self, exc: BaseException) -> type[ConnectorError] | None:
        pymysql = _driver()
        if not isinstance(exc, pymysql.err.MySQLError):
            return None
        errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        if errno in _TIMEOUT_ERRORS:
            return QueryTimeout
        if errno in _CONNECTION_ERRORS or isinstance(exc, pymysql.err.InterfaceError):
            self._discard_connection()  # broken: never back into the pool
            return DataSourceDisconnected
        return QueryExecutionFailed

    def _describe_error(self, exc: BaseException) -> str:
        # PyMySQL's str() is "(1146, \"Table 'x' doesn't exist\")": keep the server's words.
        if len(exc.args) >= 2 and isinstance(exc.args[1], str):
            return exc.args[1]
        return str(exc)

    def _usable(self, conn: Any) -> bool:
        # An idle connection has nothing to read unless the server closed it (a restart,
        # kill, wait_timeout).
        return bool(conn.open) and not socket_readable(conn._sock.fileno())

    def _shutdown(self, conn: Any) -> None:
        conn._sock.shutdown(socket.SHUT_RDWR)

    @contextlib.contextmanager
    def _socket_timeouts(self, conn: Any) -> Iterator[Any]:
        """Every socket read and write of ``conn`` bounded by the call's deadline (PyMySQL
        has no statement-wide timeout of its own); the connection's default after."""
        conn._read_timeout = conn._write_timeout = self._time_left(DEFAULT_TIMEOUT_S) + GRACE_S
        try:
            yield conn
        finally:
            conn._read_timeout = conn._write_timeout = DEFAULT_TIMEOUT_S + GRACE_S

    def _read_only_rows(
        self, sql: str, params: tuple[Any, ...], fetch_limit: int, timeout_s: float
    ) -> tuple[list[str], list[Any]]:
        with self._socket_timeouts(self.connection) as conn:
            return self._read_only_rows_on(conn, sql, params, fetch_limit, timeout_s)

    def _read_only_rows_on(
        self, conn: Any, sql: str, params: tuple[Any, ...], fetch_limit: int, timeout_s: float
    ) -> tuple[list[str], list[Any]]:
        pymysql = _driver()
        complete = False
        cursor = conn.cursor(pymysql.cursors.SSCursor)
        try:
            self._statement_timeout(cursor, timeout_s)
            cursor.execute("START TRANSACTION READ ONLY")
            cursor.execute(sql, params or None)
            columns = [d[0] for d in cursor.description or ()]
            rows = take_rows(cursor, fetch_limit, self.max_result_bytes) if cursor.description else []
            complete = rows_taken(rows) < fetch_limit
            if complete:
                cursor.close()
                conn.rollback()
                self._reset_session(conn)
            return columns, rows
        finally:
            if not complete:
                # Rows are still on the wire. Draining them would read what the cap cuts;
                # dropping the connection discards them and rolls back server-side.
                self._abandon(cursor)

    def _statement_timeout(self, cursor: Any, seconds: float) -> None:
        """The server's own bound on every statement of this session from now on."""
        if self._is_mariadb:
            cursor.execute("SET SESSION max_statement_time = %s", (max(seconds, 0.001),))
        else:
            cursor.execute("SET SESSION max_execution_time = %s", (max(1, int(seconds * 1000)),))

    def _reset_session(self, conn: Any) -> None:
        """User locks (GET_LOCK) outlive a rollback: release them, or drop the connection.
        (A dropped connection, as in :meth:`_abandon`, releases everything server-side.)"""
        pymysql = _driver()
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT RELEASE_ALL_LOCKS()")
                cursor.fetchall()
            conn.rollback()  # end the transaction that SELECT opened
        except pymysql.err.MySQLError:
            self._discard_connection()

    def _abandon(self, cursor: Any) -> None:
        result = getattr(cursor, "_result", None)
        if result is not None:
            # PyMySQL would try to drain the dropped result on garbage collection.
            result.unbuffered_active = False
            cursor._result = None
        self._discard_connection()

    def _introspect(self, schemas: Sequence[str] | None, step: Callable[[str], None]) -> Schema:
        with self._socket_timeouts(self.connection) as conn:
            return self._introspect_on(conn, schemas, step)

    def _introspect_on(self, conn: Any, schemas: Sequence[str] | None, step: Callable[[str], None]) -> Schema:
        if schemas:
            where, args = "{col} IN ({marks})", list(schemas)
        elif self.config.database:
            where, args = "{col} = %s", [self.config.database]
        else:
            where, args = "{col} NOT IN ({marks})", list(_SYSTEM_SCHEMAS)

        def run(sql: str, column: str) -> list[tuple[Any, ...]]:
            condition = where.format(col=column, marks=", ".join(["%s"] * len(args)))
            cursor.execute(sql.format(where=condition), args)
            return list(cursor.fetchall())

        tables: dict[tuple[str, str], Table] = {}
        with conn.cursor() as cursor:
            self._statement_timeout(cursor, self._time_left(DEFAULT_TIMEOUT_S))  # the extraction's deadline
            cursor.execute("START TRANSACTION READ ONLY")
            try:
                for schema, name, kind, comment, estimate in run(_TABLES_SQL, "TABLE_SCHEMA"):
                    tables[(schema, name)] = Table(
                        name=name, schema=schema, kind="view" if kind == "VIEW" else "table",
                        comment=comment or None, row_estimate=estimate,
                    )
                step("tables")

                for schema, table, name, short, full, nullable, default, comment in run(
                    _COLUMNS_SQL, "TABLE_SCHEMA"
                ):
                    if (schema, table) not in tables:
                        continue
                    tables[(schema, table)].columns.append(
                        Column(
                            name=name, type=short.lower(), nullable=nullable == "YES",
                            # MariaDB reports "no default" on nullable columns as the text NULL
                            default=None if default in (None, "NULL") else default,
                            comment=comment or None,
                            full_type=full if full.lower() != short.lower() else None,
                        )
                    )
                step("columns")

                grouped: dict[tuple[str, str, str], list[tuple[Any, ...]]] = defaultdict(list)
                for row in run(_CONSTRAINTS_SQL, "TABLE_SCHEMA"):
                    grouped[(row[0], row[1], row[2])].append(row)
                for (schema, table_name, name), rows in grouped.items():
                    table = tables.get((schema, table_name))
                    if table is None:
                        continue
                    columns = [r[3] for r in rows]
                    if name == "PRIMARY":
                        table.primary_key = columns
                    elif rows[0][5] is None:
                        table.unique_constraints.append(UniqueConstraint(columns=columns, name=name))
                    else:
                        table.foreign_keys.append(
                            ForeignKey(columns=columns, ref_schema=rows[0][4], ref_table=rows[0][5],
                                       ref_columns=[r[6] for r in rows], name=name)
                        )
                step("constraints")

                indexes: dict[tuple[str, str, str], Index] = {}
                for schema, table_name, name, non_unique, column in run(_INDEXES_SQL, "TABLE_SCHEMA"):
                    key = (schema, table_name, name)
                    if key not in indexes:
                        indexes[key] = Index(name=name, columns=[], unique=not non_unique)
                        if (schema, table_name) in tables:
                            tables[(schema, table_name)].indexes.append(indexes[key])
                    indexes[key].columns.append(column or "<expression>")
                step("indexes")
            finally:
                conn.rollback()
        default_schema = self.config.database or (schemas[0] if schemas else None)
        return Schema(tables=list(tables.values()), default_schema=default_schema)
