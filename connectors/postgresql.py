"""PostgreSQL through psycopg 3.

Introspection reads ``pg_catalog`` directly in four queries (relations, columns,
constraints, indexes), whatever the table count. Execution runs in a
``READ ONLY`` transaction with a transaction-local ``statement_timeout``, streams
rows so that no more than the cap is ever transferred, and always rolls back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from connectors import postgresql_arrow
from connectors.base import DEFAULT_TIMEOUT_S, DBAPIConnector, take_rows
from connectors.base import Capability, DialectFacts
from connectors.connection import ConnectionModel
from connectors.deadline import GRACE_S, DeadlineExecution, connect_timeout_s, shutdown_fd, socket_readable
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

# Options that are ours, not libpq's.
_NLQUERY_OPTIONS = {"schemas", "max_result_bytes", "pool_size"}
# Statements a server-side cursor can run (DECLARE ... CURSOR FOR <query>): every query
# the guard admits; anything else (SHOW, the operator's own statements) runs client-side.
_DECLARABLE = {"SELECT", "WITH", "VALUES", "TABLE"}


class PostgreSQLConnection(ConnectionModel):
    """``postgresql`` settings; options are libpq's. A remote caller may set only those
    that neither read local files (``passfile``, ``service``, ``sslkey``...) nor bypass
    the checked host (``hostaddr``)."""

    remote_options = frozenset({
        "sslmode", "connect_timeout", "application_name", "target_session_attrs", "channel_binding",
        "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
        "gssencmode", "sslsni", "sslcompression", "schemas",
    })

_RELKINDS = {"r": "table", "p": "table", "f": "table", "v": "view", "m": "materialized_view"}

# format_type() spellings -> the short names the API shows.
_LONG_TYPE_NAMES = {
    "character varying": "varchar",
    "character": "char",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "time without time zone": "time",
    "time with time zone": "timetz",
    "bit varying": "varbit",
}

# Every catalog query starts from the same set of relations.
_RELATIONS_CTE = """
WITH rels AS (
    SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND NOT c.relispartition
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%%'
      AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
      AND (%(schemas)s::text[] IS NULL OR n.nspname = ANY(%(schemas)s::text[]))
)"""

_TABLES_SQL = _RELATIONS_CTE + """
SELECT r.oid, r.nspname, r.relname, r.relkind, d.description, r.reltuples::bigint
FROM rels AS r
LEFT JOIN pg_catalog.pg_description AS d
  ON d.objoid = r.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
ORDER BY r.nspname, r.relname"""

# No ORDER BY and no pg_type join: both cost more than the rest of the query on large
# catalogs. Rows arrive in attribute order per table in practice; Python checks.
_COLUMNS_SQL = _RELATIONS_CTE + """
SELECT a.attrelid, a.attnum, a.attname,
       pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
       CASE WHEN a.atthasdef THEN (
           SELECT pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) FROM pg_catalog.pg_attrdef AS ad
           WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum) END,
       d.description
FROM rels AS r
JOIN pg_catalog.pg_attribute AS a ON a.attrelid = r.oid
LEFT JOIN pg_catalog.pg_description AS d
  ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass
 AND d.objsubid = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped"""

# Key columns come back as attribute numbers, named in Python from the columns
# already read; only a foreign key into a schema outside the selection is named here.
_CONSTRAINTS_SQL = _RELATIONS_CTE + """
SELECT con.conrelid, con.conname, con.contype, con.conkey::int2[], fn.nspname, fc.relname,
       con.confrelid, con.confkey::int2[],
       CASE WHEN con.contype = 'f' AND con.confrelid NOT IN (SELECT oid FROM rels) THEN
           ARRAY(SELECT att.attname FROM unnest(con.confkey) WITH ORDINALITY AS k(num, pos)
                 JOIN pg_catalog.pg_attribute AS att
                   ON att.attrelid = con.confrelid AND att.attnum = k.num ORDER BY k.pos)
       END
FROM rels AS r
JOIN pg_catalog.pg_constraint AS con ON con.conrelid = r.oid
LEFT JOIN pg_catalog.pg_class AS fc ON fc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace AS fn ON fn.oid = fc.relnamespace
WHERE con.contype IN ('p', 'u', 'f')
ORDER BY con.conrelid, con.conname"""

_INDEXES_SQL = _RELATIONS_CTE + """
SELECT i.indrelid, ic.relname, i.indisunique, (i.indkey::int2[])[0:i.indnkeyatts - 1]
FROM rels AS r
JOIN pg_catalog.pg_index AS i ON i.indrelid = r.oid
JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
WHERE NOT i.indisprimary
ORDER BY i.indrelid, ic.relname"""


def _driver() -> Any:
    try:
        import psycopg
    except ImportError:
        raise DriverNotInstalled(
            "the postgresql connector needs psycopg 3: pip install 'nlquery[postgresql]'"
        ) from None
    return psycopg


class PostgreSQLConnector(DeadlineExecution, DBAPIConnector):
    """``postgresql`` sources (psycopg 3). Options pass through to libpq
    (``sslmode``, ``connect_timeout``...); ``schemas`` limits introspection."""

    type_name = "postgresql"
    connection_model = PostgreSQLConnection
    dialect = "postgres"
    dialect_facts = DialectFacts(
        dialect,
        prompt_notes="PostgreSQL. Use date_trunc('month', col), col >= now() - interval '7 days', ILIKE for "
                     "case-insensitive matching, || for concatenation.")
    paramstyle = "format"
    capabilities = frozenset({Capability.DATE_BUCKETS, Capability.COMMENTS, Capability.MATERIALIZED_VIEWS,
                              Capability.ROW_ESTIMATES, Capability.ARROW})
    arrow_paramstyle = "dollar"
    default_port = 5432
    default_pool_size = DEFAULT_POOL_SIZE
    introspection_steps = ("tables", "columns", "constraints", "indexes")
    # SQL grouping a timestamp column by period.
    date_buckets = {
        "day": "to_char({column}, 'YYYY-MM-DD')", "week": "to_char({column}, 'IYYY-\"W\"IW')",
        "month": "to_char({column}, 'YYYY-MM')", "year": "to_char({column}, 'YYYY')",
    }

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._arrow = postgresql_arrow.ArrowReader(self)

    def _connect(self) -> Any:
        psycopg = _driver()
        conn = psycopg.connect(autocommit=False, **self.libpq_settings(self._time_left(DEFAULT_TIMEOUT_S)))
        conn.read_only = True  # every transaction this connection starts is READ ONLY
        return conn

    def arrow_available(self) -> bool:
        """Whether ADBC can read this source's results as Arrow (``nlquery[arrow]``)."""
        return postgresql_arrow.available()

    def execute_arrow(self, sql: str, params: Sequence[Any] = (), *, max_rows: int = 1000,
                      timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
        """``execute`` as a ``pyarrow.Table`` read by ADBC (``$n`` placeholders): the
        same read-only session and statement timeout, decoded in C++ from binary COPY."""
        if max_rows < 0:
            raise InvalidConnection("max_rows must be >= 0")
        with self._errors():
            return self._arrow.read(sql, params, max_rows=max_rows, timeout_s=timeout_s,
                                    max_bytes=self.max_result_bytes)

    def close(self) -> None:
        super().close()
        self._arrow.close()

    def libpq_settings(self, call_timeout: float) -> dict[str, Any]:
        """The libpq keywords of a connection (``psycopg.connect(**settings)``; the ADBC
        path of :mod:`connectors.postgresql_arrow` renders the same as a conninfo string):
        read-only session, keepalives and a connect timeout bounded by ``call_timeout``,
        and for an untrusted source only what its owner gave."""
        config = self.config
        libpq_options = {k: v for k, v in config.options.items() if k not in _NLQUERY_OPTIONS}
        # The fields win over the same settings given again as options (?password=...).
        password = config.password or libpq_options.pop("password", None)
        for name in ("user", "dbname", "host", "port"):
            libpq_options.pop(name, None)
        # A call's deadline bounds its connect too; keepalives and tcp_user_timeout end a
        # wait on a dead peer at the kernel level (the call's watchdog, DeadlineExecution, is the
        # last resort when the peer's kernel still acknowledges, e.g. a stalled proxy).
        libpq_options["connect_timeout"] = connect_timeout_s(call_timeout, libpq_options.get("connect_timeout"))
        libpq_options.setdefault("keepalives", 1)
        libpq_options.setdefault("keepalives_idle", 5)
        libpq_options.setdefault("keepalives_interval", 2)
        libpq_options.setdefault("keepalives_count", 3)
        libpq_options.setdefault("tcp_user_timeout", int((DEFAULT_TIMEOUT_S + GRACE_S) * 1000))
        libpq_options.setdefault("application_name", "nlquery")
        # Session default as well as per transaction: a second line of defence.
        libpq_options["options"] = (
            str(libpq_options.get("options", "")) + " -c default_transaction_read_only=on"
        ).strip()
        host, port = config.host or "localhost", config.port or self.default_port
        if config.egress is not None:  # connect to the address the policy checked (no second DNS answer)
            libpq_options["hostaddr"] = config.egress.resolve(host, port)[0]
        if config.untrusted:
            # libpq fills what a connection leaves unset from this server's environment
            # and home (PGPASSWORD, a PGSERVICE file's password, ~/.pgpass): a host someone
            # else chose gets only what they gave. An empty password is "none" to libpq.
            password = password or ""
            libpq_options["passfile"] = os.devnull
            libpq_options["sslpassword"] = ""
        return {"host": host, "port": port, "dbname": config.database, "user": config.username,
                "password": password, **libpq_options}

    def _classify_error(self, exc: BaseException) -> type[ConnectorError] | None:
        psycopg = _driver()
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return QueryTimeout
        if isinstance(exc, psycopg.OperationalError) or isinstance(exc, psycopg.InterfaceError):
            self._discard_connection()  # broken: never back into the pool
            return DataSourceDisconnected
        if isinstance(exc, psycopg.Error):
            return QueryExecutionFailed
        return None

    def _usable(self, conn: Any) -> bool:
        # An idle connection has nothing to read unless the server closed it (a restart,
        # kill, idle timeout) or sent its termination notice.
        return not conn.closed and not socket_readable(conn.fileno())

    def _shutdown(self, conn: Any) -> None:
        shutdown_fd(conn.fileno())

    def _read_only_rows(
        self, sql: str, params: tuple[Any, ...], fetch_limit: int, timeout_s: float
    ) -> tuple[list[str], list[Any]]:
        conn = self.connection
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_catalog.set_config('statement_timeout', %s, true)",
                    (str(max(1, int(timeout_s * 1000))),),
                )
            # A server-side cursor: take_rows FETCHes one row, then growing chunks, so
            # neither the server nor libpq hands over more than the byte cap allows
            # (five 100 MB values cost one row of memory, not five); closing the cursor
            # with the transaction drops the rest.
            declarable = sql.lstrip("( \t\r\n").split(None, 1)[0].upper() in _DECLARABLE if sql.strip() else False
            with (conn.cursor(name="nlquery_result") if declarable else conn.cursor()) as result:
                result.execute(sql, params or None)
                rows = take_rows(result, fetch_limit, self.max_result_bytes)
                columns = [d.name for d in result.description or ()]
            return columns, rows
        finally:
            if not conn.closed:
                conn.rollback()
                self._reset_session(conn)

    def _reset_session(self, conn: Any) -> None:
        """Nothing a query took survives it on this connection: a rollback ends the
        transaction, ``DISCARD ALL`` also releases session advisory locks, prepared
        statements, LISTENs and temporary objects, and resets settings to the session
        defaults (the startup ``default_transaction_read_only=on`` included; psycopg
        forgets its prepared statements on seeing it). If that fails, the connection goes."""
        psycopg = _driver()
        try:
            conn.autocommit = True  # DISCARD ALL cannot run inside a transaction
            try:
                conn.execute("DISCARD ALL")
            finally:
                conn.autocommit = False
        except psycopg.Error:
            self._discard_connection()

    def _introspect(self, schemas: Sequence[str] | None, step: Callable[[str], None]) -> Schema:
        conn = self.connection
        args = {"schemas": list(schemas) if schemas else None}
        try:
            with conn.cursor() as cursor:
                # Catalog result sets are large: sort in memory, not on disk. The
                # extraction's deadline is the server's statement timeout too.
                cursor.execute("SELECT pg_catalog.set_config('work_mem', '64MB', true), "
                               "pg_catalog.set_config('statement_timeout', %s, true)",
                               (str(max(1, int(self._time_left(DEFAULT_TIMEOUT_S) * 1000))),))
                tables: dict[int, Table] = {}
                for oid, schema, name, relkind, comment, estimate in cursor.execute(
                    _TABLES_SQL, args
                ).fetchall():
                    kind = _RELKINDS[relkind]
                    tables[oid] = Table(
                        name=name, schema=schema, kind=kind, comment=comment,
                        row_estimate=estimate if kind != "view" and estimate >= 0 else None,
                    )
                step("tables")

                names: dict[tuple[int, int], str] = {}  # (table oid, attnum) -> column name
                short_names: dict[str, str] = {}  # format_type text -> short type name
                unordered: set[int] = set()
                last: tuple[int, int] = (0, 0)
                for row in cursor.execute(_COLUMNS_SQL, args).fetchall():
                    oid, attnum, name, full, notnull, default, comment = row
                    if oid == last[0] and attnum < last[1]:
                        unordered.add(oid)
                    last = (oid, attnum)
                    names[(oid, attnum)] = name
                    short = short_names.get(full) or short_names.setdefault(full, _short_type(full))
                    tables[oid].columns.append(
                        Column(name, short, not notnull, default, comment, None if full == short else full)
                    )
                for oid in unordered:
                    order = {name: num for (table_oid, num), name in names.items() if table_oid == oid}
                    tables[oid].columns.sort(key=lambda column: order[column.name])
                step("columns")

                for row in cursor.execute(_CONSTRAINTS_SQL, args).fetchall():
                    oid, name, kind, keys, ref_schema, ref_table, ref_oid, ref_keys, ref_names = row
                    table = tables[oid]
                    columns = [names[(oid, k)] for k in keys]
                    if kind == "p":
                        table.primary_key = columns
                    elif kind == "u":
                        table.unique_constraints.append(UniqueConstraint(columns=columns, name=name))
                    else:
                        ref_columns = ref_names or [names[(ref_oid, k)] for k in ref_keys]
                        table.foreign_keys.append(
                            ForeignKey(columns=columns, ref_table=ref_table,
                                       ref_columns=list(ref_columns), ref_schema=ref_schema, name=name)
                        )
                step("constraints")

                for oid, name, unique, keys in cursor.execute(_INDEXES_SQL, args).fetchall():
                    columns = [names.get((oid, k), "<expression>") for k in keys]
                    tables[oid].indexes.append(Index(name=name, columns=columns, unique=unique))
                step("indexes")
                default_schema = cursor.execute("SELECT current_schema()").fetchone()[0]
                read_only = [row[0] for row in cursor.execute(_READ_ONLY_FUNCTIONS_SQL).fetchall()]
        finally:
            if not conn.closed:
                conn.rollback()
        return Schema(tables=list(tables.values()), default_schema=default_schema, read_only_functions=read_only)


# The database's own word on which built-ins have no side effects: IMMUTABLE and STABLE
# functions of pg_catalog (VOLATILE ones stay refused unless a source allows them; the
# guard's deny list still wins, e.g. query_to_xml runs a query string).
_READ_ONLY_FUNCTIONS_SQL = """
SELECT DISTINCT p.proname FROM pg_catalog.pg_proc AS p
WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.provolatile IN ('i', 's') AND p.prokind IN ('f', 'a', 'w')
  -- read-only but reporting the server rather than the data: settings (custom ones may hold
  -- an application's secrets), other sessions' statements, files, large objects, WAL
  AND p.proname !~ '^(pg_(stat|show|ls|read|file|hba|ident|get_backend|current_logfile|log|wal|control|tablespace|get_wal|backup|get_replication|replication|snapshot|export_snapshot|options_to_table|settings|get_functiondef)|current_setting|lo_|txid_|inet_server_)'
ORDER BY 1"""


def _short_type(full: str) -> str:
    """``character varying(255)`` -> ``varchar``; ``timestamp(3) without time zone`` ->
    ``timestamp``; ``integer[]`` stays; user types keep their name."""
    array = full.endswith("[]")
    base = full[:-2] if array else full
    base = " ".join(re.sub(r"\([^)]*\)", " ", base).split())
    base = _LONG_TYPE_NAMES.get(base, base)
    return base + "[]" if array else base
