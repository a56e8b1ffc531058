"""SQL Server and Azure SQL through pyodbc.

The ODBC driver is found in ``pyodbc.drivers()`` (Microsoft ODBC Driver 18, then 17, then
FreeTDS) unless ``options.driver`` names one. Introspection reads ``sys.*`` in five
statements whatever the table count: objects with partition row counts and
``MS_Description`` comments, columns with their types, defaults and comments, keys and
indexes, foreign keys, and the default schema. Every schema but the system ones.

Execution: ``SET LOCK_TIMEOUT`` and pyodbc's query timeout, inside a transaction that is
always rolled back; ``?`` parameters. ``options.application_intent=ReadOnly`` routes the
session to a readable secondary (Always On) where there is one.
"""

from __future__ import annotations

import math
from dataclasses import replace
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from connectors.base import DEFAULT_TIMEOUT_S, Capability, ConnectionConfig, DBAPIConnector, DialectFacts, take_rows
from connectors.connection import ConnectionModel
from connectors.errors import (
    ConnectorError,
    DataSourceDisconnected,
    DriverNotInstalled,
    InvalidConnection,
    QueryExecutionFailed,
    QueryTimeout,
)
from connectors.models import Column, ForeignKey, Index, Schema, Table, UniqueConstraint
from connectors.pool import DEFAULT_POOL_SIZE

PREFERRED_DRIVERS = ("ODBC Driver 18 for SQL Server", "ODBC Driver 17 for SQL Server", "FreeTDS")
_SYSTEM_SCHEMAS = ("sys", "INFORMATION_SCHEMA", "guest", "db_owner", "db_accessadmin", "db_securityadmin",
                   "db_ddladmin", "db_backupoperator", "db_datareader", "db_datawriter", "db_denydatareader",
                   "db_denydatawriter")
_USER_OBJECTS = "o.type IN ('U', 'V') AND o.is_ms_shipped = 0 AND s.name NOT IN ({system}){schemas}"

_TABLES_SQL = """
SELECT s.name, o.name, o.type, CAST(ep.value AS NVARCHAR(4000)), pr.row_count
FROM sys.objects AS o
JOIN sys.schemas AS s ON s.schema_id = o.schema_id
LEFT JOIN sys.extended_properties AS ep
  ON ep.class = 1 AND ep.major_id = o.object_id AND ep.minor_id = 0 AND ep.name = 'MS_Description'
LEFT JOIN (SELECT object_id, SUM(rows) AS row_count FROM sys.partitions WHERE index_id IN (0, 1)
           GROUP BY object_id) AS pr ON pr.object_id = o.object_id
WHERE {where}
ORDER BY s.name, o.name"""

_COLUMNS_SQL = """
SELECT s.name, o.name, c.name, t.name, c.max_length, c.precision, c.scale, c.is_nullable,
       dc.definition, CAST(ep.value AS NVARCHAR(4000))
FROM sys.columns AS c
JOIN sys.objects AS o ON o.object_id = c.object_id
JOIN sys.schemas AS s ON s.schema_id = o.schema_id
JOIN sys.types AS t ON t.user_type_id = c.user_type_id
LEFT JOIN sys.default_constraints AS dc ON dc.object_id = c.default_object_id
LEFT JOIN sys.extended_properties AS ep
  ON ep.class = 1 AND ep.major_id = c.object_id AND ep.minor_id = c.column_id AND ep.name = 'MS_Description'
WHERE {where}
ORDER BY s.name, o.name, c.column_id"""

_INDEXES_SQL = """
SELECT s.name, o.name, i.name, i.is_primary_key, i.is_unique_constraint, i.is_unique, col.name
FROM sys.indexes AS i
JOIN sys.objects AS o ON o.object_id = i.object_id
JOIN sys.schemas AS s ON s.schema_id = o.schema_id
JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id AND ic.is_included_column = 0
JOIN sys.columns AS col ON col.object_id = ic.object_id AND col.column_id = ic.column_id
WHERE i.type > 0 AND {where}
ORDER BY s.name, o.name, i.name, ic.key_ordinal"""

_FOREIGN_KEYS_SQL = """
SELECT s.name, o.name, fk.name, pc.name, rs.name, ro.name, rc.name
FROM sys.foreign_keys AS fk
JOIN sys.foreign_key_columns AS fkc ON fkc.constraint_object_id = fk.object_id
JOIN sys.objects AS o ON o.object_id = fk.parent_object_id
JOIN sys.schemas AS s ON s.schema_id = o.schema_id
JOIN sys.columns AS pc ON pc.object_id = fkc.parent_object_id AND pc.column_id = fkc.parent_column_id
JOIN sys.objects AS ro ON ro.object_id = fk.referenced_object_id
JOIN sys.schemas AS rs ON rs.schema_id = ro.schema_id
JOIN sys.columns AS rc ON rc.object_id = fkc.referenced_object_id AND rc.column_id = fkc.referenced_column_id
WHERE {where}
ORDER BY s.name, o.name, fk.name, fkc.constraint_column_id"""

_DEFAULT_SCHEMA_SQL = "SELECT SCHEMA_NAME()"

# SQLSTATEs (pyodbc puts the state first in the exception's args) and server errors.
_TIMEOUT_STATES = {"HYT00", "HYT01"}
_CONNECTION_STATES = {"08001", "08S01", "08004", "28000", "IM002", "IM003"}
_LOCK_TIMEOUT_ERROR = "1222"


def _driver() -> Any:
    try:
        import pyodbc
    except ImportError as exc:
        hint = ("the system ODBC library is missing: apt-get install unixodbc tdsodbc"
                if "libodbc" in str(exc) else "pip install 'nlquery[mssql]'")
        raise DriverNotInstalled(f"the mssql connector needs pyodbc ({hint})") from None
    return pyodbc


def pick_driver(installed: Sequence[str], wanted: str | None = None) -> str:
    """The ODBC driver to use: ``wanted`` if installed, else the first preferred one."""
    if wanted:
        if wanted not in installed:
            raise DriverNotInstalled(f"ODBC driver {wanted!r} is not installed; installed: "
                                     f"{', '.join(installed) or 'none'}")
        return wanted
    for name in PREFERRED_DRIVERS:
        if name in installed:
            return name
    raise DriverNotInstalled("no SQL Server ODBC driver installed: install Microsoft's 'ODBC Driver 18 for SQL "
                             "Server' or FreeTDS (apt-get install unixodbc tdsodbc)")


class MSSQLConnection(ConnectionModel):
    """``mssql`` settings. ``driver`` (an ODBC driver name or a library path) is the
    operator's choice only: a remote caller's sources use the detected driver."""

    remote_options = frozenset({"connect_timeout", "tds_version", "encrypt", "trust_server_certificate",
                                "application_intent", "schemas"})


def connection_string(config: ConnectionConfig, driver: str) -> str:
    """The ODBC connection string for ``config`` (values braced so ``;`` cannot inject)."""
    if not config.host:
        raise InvalidConnection("a mssql source needs a host, e.g. mssql://user@dbhost:1433/sales")
    options = {k.lower(): v for k, v in config.options.items()}
    parts = {"DRIVER": driver, "SERVER": f"{config.host},{config.port or 1433}"}
    if config.database:
        parts["DATABASE"] = config.database
    if config.username:
        parts["UID"] = config.username
    if config.password:
        parts["PWD"] = config.password
    if driver == "FreeTDS":
        parts["TDS_Version"] = str(options.get("tds_version", "7.4"))
    if "encrypt" in options:
        parts["Encrypt"] = str(options["encrypt"])
    if str(options.get("trust_server_certificate", "")).lower() in ("yes", "true", "1"):
        parts["TrustServerCertificate"] = "yes"
    if str(options.get("application_intent", "")).lower() == "readonly":
        parts["ApplicationIntent"] = "ReadOnly"
    return ";".join(f"{key}={{{str(value).replace('}', '}}')}}}" for key, value in parts.items())


def type_names(type_name: str, max_length: int, precision: int, scale: int) -> tuple[str, str | None]:
    """(short, full) as SQL Server writes them: ``nvarchar(255)`` from max_length 510,
    ``varchar(max)`` from -1, ``decimal(12,2)``, ``datetime2(7)``."""
    name = type_name.lower()
    if name in ("nvarchar", "nchar"):
        full = f"{name}({'max' if max_length == -1 else max_length // 2})"
    elif name in ("varchar", "char", "varbinary", "binary"):
        full = f"{name}({'max' if max_length == -1 else max_length})"
    elif name in ("decimal", "numeric"):
        full = f"{name}({precision},{scale})"
    elif name in ("datetime2", "time", "datetimeoffset") and scale != 7:
        full = f"{name}({scale})"
    else:
        return name, None
    return name, full


def _default(definition: str | None) -> str | None:
    """``((0))`` -> ``0``; ``(getdate())`` -> ``getdate()``."""
    if definition is None:
        return None
    text = definition.strip()
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


class MSSQLConnector(DBAPIConnector):
    """``mssql`` sources: ``mssql://user:pw@host:1433/database?encrypt=yes``."""

    type_name = "mssql"
    connection_model = MSSQLConnection
    dialect = "tsql"
    dialect_facts = DialectFacts(
        dialect,
        prompt_notes="SQL Server. Use TOP n (no LIMIT), DATEADD/DATEDIFF, FORMAT(col, 'yyyy-MM'), square brackets "
                     "for odd identifiers.")
    paramstyle = "qmark"
    capabilities = frozenset({Capability.DATE_BUCKETS, Capability.COMMENTS, Capability.ROW_ESTIMATES})
    default_port = 1433
    default_pool_size = DEFAULT_POOL_SIZE
    introspection_steps = ("tables", "columns", "keys and indexes", "foreign keys", "default schema")
    date_buckets = {
        "day": "CONVERT(char(10), {column}, 23)", "week": "FORMAT({column}, 'yyyy') + '-W' + "
        "RIGHT('0' + CAST(DATEPART(ISO_WEEK, {column}) AS varchar(2)), 2)",
        "month": "FORMAT({column}, 'yyyy-MM')", "year": "FORMAT({column}, 'yyyy')",
    }

    def _connect(self) -> Any:
        pyodbc = _driver()
        driver = pick_driver(pyodbc.drivers(), self.config.options.get("driver"))
        login_timeout = int(self.config.options.get("connect_timeout", 10))
        config = self.config
        if config.egress is not None and config.host:  # connect to the address the policy checked
            config = replace(config, host=config.egress.resolve(config.host, config.port or 1433)[0])
        return pyodbc.connect(connection_string(config, driver), autocommit=False, timeout=login_timeout)

    def _classify_error(self, exc: BaseException) -> type[ConnectorError] | None:
        pyodbc = _driver()
        if not isinstance(exc, pyodbc.Error):
            return None
        state = str(exc.args[0]) if exc.args else ""
        message = str(exc.args[1]) if len(exc.args) > 1 else ""
        if state in _TIMEOUT_STATES or f"({_LOCK_TIMEOUT_ERROR})" in message:
            return QueryTimeout
        if state in _CONNECTION_STATES or isinstance(exc, pyodbc.InterfaceError):
            self._discard_connection()  # broken: never back into the pool
            return DataSourceDisconnected
        return QueryExecutionFailed

    def _describe_error(self, exc: BaseException) -> str:
        # "[42S02] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Invalid object name 'x'. (208)"
        message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        return message.rsplit("]", 1)[-1].strip() or message

    def _read_only_rows(
        self, sql: str, params: tuple[Any, ...], fetch_limit: int, timeout_s: float
    ) -> tuple[list[str], list[Any]]:
        conn = self.connection
        conn.timeout = max(1, math.ceil(timeout_s))  # pyodbc's query timeout, whole seconds
        cursor = conn.cursor()
        try:
            cursor.execute(f"SET LOCK_TIMEOUT {max(1, round(timeout_s * 1000))}")
            cursor.execute(sql, *params)
            columns = [d[0] for d in cursor.description or ()]
            rows = take_rows(cursor, fetch_limit, self.max_result_bytes, as_row=tuple) if cursor.description else []
            return columns, rows
        finally:
            cursor.close()
            conn.rollback()

    def _introspect(self, schemas: Sequence[str] | None, step: Callable[[str], None]) -> Schema:
        conn = self.connection
        conn.timeout = max(1, math.ceil(self._time_left(DEFAULT_TIMEOUT_S)))  # the extraction's deadline
        system = ", ".join(f"'{name}'" for name in _SYSTEM_SCHEMAS)
        params: list[Any] = list(schemas or [])
        filter_sql = f" AND s.name IN ({', '.join('?' * len(params))})" if params else ""
        where = _USER_OBJECTS.format(system=system, schemas=filter_sql)

        def rows(sql: str) -> list[Any]:
            cursor = conn.cursor()
            try:
                cursor.execute(sql.format(where=where), *params)
                return cursor.fetchall()
            finally:
                cursor.close()

        try:
            tables: dict[tuple[str, str], Table] = {}
            for schema, name, kind, comment, row_count in rows(_TABLES_SQL):
                tables[(schema, name)] = Table(
                    name=name, schema=schema, kind="view" if kind.strip() == "V" else "table", comment=comment,
                    row_estimate=None if row_count is None else int(row_count))
            step("tables")
            for schema, name, column, type_name, max_length, precision, scale, nullable, default, comment in rows(
                    _COLUMNS_SQL):
                short, full = type_names(type_name, max_length, precision, scale)
                tables[(schema, name)].columns.append(Column(
                    name=column, type=short, nullable=bool(nullable), default=_default(default), comment=comment,
                    full_type=full))
            step("columns")
            self._apply_indexes(tables, rows(_INDEXES_SQL))
            step("keys and indexes")
            grouped: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
            for schema, name, fk_name, column, ref_schema, ref_table, ref_column in rows(_FOREIGN_KEYS_SQL):
                grouped[(schema, name, fk_name)].append((column, ref_schema, ref_table, ref_column))
            for (schema, name, fk_name), parts in grouped.items():
                tables[(schema, name)].foreign_keys.append(ForeignKey(
                    columns=[p[0] for p in parts], ref_schema=parts[0][1], ref_table=parts[0][2],
                    ref_columns=[p[3] for p in parts], name=fk_name))
            step("foreign keys")
            cursor = conn.cursor()
            cursor.execute(_DEFAULT_SCHEMA_SQL)
            default_schema = cursor.fetchone()[0]
            cursor.close()
            step("default schema")
        finally:
            conn.rollback()
        return Schema(tables=list(tables.values()), default_schema=default_schema)

    @staticmethod
    def _apply_indexes(tables: dict[tuple[str, str], Table], found: list[Any]) -> None:
        columns: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        flags: dict[tuple[str, str, str], tuple[bool, bool, bool]] = {}
        for schema, name, index, is_primary, is_unique_constraint, is_unique, column in found:
            columns[(schema, name, index)].append(column)
            flags[(schema, name, index)] = (bool(is_primary), bool(is_unique_constraint), bool(is_unique))
        for (schema, name, index), names in columns.items():
            table = tables.get((schema, name))
            if table is None:
                continue
            is_primary, is_unique_constraint, is_unique = flags[(schema, name, index)]
            if is_primary:
                table.primary_key = names
            elif is_unique_constraint:
                table.unique_constraints.append(UniqueConstraint(columns=names, name=index))
                table.indexes.append(Index(name=index, columns=names, unique=True))
            else:
                table.indexes.append(Index(name=index, columns=names, unique=is_unique))
