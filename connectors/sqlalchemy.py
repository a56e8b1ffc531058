"""Any database SQLAlchemy has a dialect for (DuckDB through duckdb-engine, Snowflake,
Trino, Oracle...): ``{"url": "duckdb:////data/warehouse.duckdb"}``, type ``sqlalchemy``.

Introspection is SQLAlchemy's inspector, one ``get_multi_*`` call per kind of fact and
schema. A fact the dialect cannot reflect (duckdb-engine reflects no keys or indexes) is
left out and named in :attr:`SQLAlchemyConnector.reflection_gaps`, not a failure.

Read-only as far as the dialect allows: DuckDB files open ``read_only``; PostgreSQL and
MySQL sessions default to read-only transactions; for every other dialect the guard and
the rollback after each statement are the protection.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from connectors.base import Capability, ConnectionConfig, DBAPIConnector, DialectFacts, take_rows
from connectors.connection import NLQUERY_OPTIONS, ConnectionModel
from connectors.deadline import GRACE_S, shutdown_fd
from connectors.errors import (
    ConnectorError,
    DataSourceDisconnected,
    DriverNotInstalled,
    InvalidConnection,
    QueryExecutionFailed,
    QueryTimeout,
    scrub,
)
from connectors.models import Column, ForeignKey, Index, Schema, Table, UniqueConstraint

log = logging.getLogger(__name__)

# SQLAlchemy dialect name -> sqlglot dialect (the guard parses in it).
SQLGLOT_DIALECTS = {
    "duckdb": "duckdb", "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite",
    "mssql": "tsql", "oracle": "oracle", "snowflake": "snowflake", "bigquery": "bigquery", "trino": "trino",
    "presto": "presto", "redshift": "redshift", "databricks": "databricks", "clickhouse": "clickhouse",
    "hive": "hive", "teradata": "teradata",
}
# The dialect facts of a URL's database: those of nlquery's own connector for it, or
# DuckDB's (no connector of its own); other dialects get the sqlglot dialect alone.
DUCKDB_FACTS = DialectFacts(
    "duckdb",
    prompt_notes="DuckDB. Use date_trunc('month', col), col >= current_date - INTERVAL 7 DAY, ILIKE for "
                 "case-insensitive matching, || for concatenation.")
_OWN_CONNECTORS = {"postgres": "connectors.postgresql:PostgreSQLConnector", "mysql": "connectors.mysql:MySQLConnector",
                   "sqlite": "connectors.sqlite:SQLiteConnector", "tsql": "connectors.mssql:MSSQLConnector"}


def facts_for(dialect: str) -> DialectFacts:
    """The :class:`DialectFacts` of a sqlglot dialect reached through a SQLAlchemy URL."""
    if dialect == "duckdb":
        return DUCKDB_FACTS
    if dialect in _OWN_CONNECTORS:
        module, _, name = _OWN_CONNECTORS[dialect].partition(":")
        return getattr(importlib.import_module(module), name).dialect_facts
    return DialectFacts(dialect)


# DB-API paramstyle -> the placeholder style the guard binds $n parameters in.
PARAMSTYLES = {"qmark": "qmark", "format": "format", "pyformat": "format", "numeric": "numeric",
               "named": "numeric", "numeric_dollar": "dollar"}
# DuckDB's read_only stops writes to the database file but not COPY ... TO a file or
# read_csv('/etc/...'): external access is switched off too (found by the guard corpus,
# sent around the guard, writing a file named "true").
READ_ONLY_CONNECT_ARGS: dict[str, dict[str, Any]] = {
    # DuckDB runs inside this process: bounded like the rest of it (its defaults are 80%
    # of the host's memory and every core), spilling nowhere.
    "duckdb": {"read_only": True, "config": {"enable_external_access": False, "memory_limit": "256MB",
                                             "threads": 2, "max_temp_directory_size": "0B"}},
    "mysql": {"local_infile": False},
    "mariadb": {"local_infile": False},
}
# Databases in a local file: their URL's own parameters are dropped (DuckDB's
# access_mode / enable_external_access, SQLite's mode / vfs / immutable would undo the
# read-only open) and ours applied.
FILE_BACKENDS = {"sqlite", "duckdb"}
# URL parameters that make a MySQL driver read local files or run SQL at connect time.
MYSQL_REFUSED_PARAMS = {"read_default_file", "read_default_group", "init_command", "local_infile",
                        "ssl_key", "ssl_cert", "ssl_ca", "ssl_capath"}
# What a remote caller may put in a URL's query string, per dialect (nothing elsewhere).
REMOTE_URL_PARAMS: dict[str, frozenset[str]] = {
    "postgresql": frozenset({"sslmode", "connect_timeout", "application_name", "target_session_attrs",
                             "channel_binding", "keepalives", "keepalives_idle", "tcp_user_timeout"}),
    "mysql": frozenset({"charset", "connect_timeout"}),
    "mariadb": frozenset({"charset", "connect_timeout"}),
    "mssql": frozenset({"TrustServerCertificate", "Encrypt", "ApplicationIntent"}),
}


def _parse_url(url: str) -> Any:
    import sqlalchemy

    try:
        return sqlalchemy.engine.make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError) as exc:
        raise ValueError(f"malformed SQLAlchemy URL: {exc}") from None


class SQLAlchemyConnection(ConnectionModel):
    """``sqlalchemy`` settings: one SQLAlchemy URL (``duckdb:////data/w.duckdb``)."""

    destination_fields: ClassVar[tuple[str, ...]] = ("url", "username")

    def require(self) -> None:
        if not self.url:
            raise ValueError("a sqlalchemy source needs a url, e.g. duckdb:////path/file.duckdb")
        _parse_url(self.url)

    def backend(self) -> str:
        return _parse_url(self.url or "").get_backend_name()

    def destinations(self) -> list[tuple[str, int | None]]:
        url = _parse_url(self.url or "")
        if url.get_backend_name() in FILE_BACKENDS:
            return []
        # No host is the driver's default, this machine (a Unix socket or localhost).
        return [(url.host or "localhost", url.port)]

    def local_files(self) -> list[str]:
        url = _parse_url(self.url or "")
        database = url.database
        if url.get_backend_name() not in FILE_BACKENDS or not database or database == ":memory:":
            return []
        return [database.removeprefix("file:")]

    def accepted_remote_options(self) -> frozenset[str]:
        return REMOTE_URL_PARAMS.get(self.backend(), frozenset())

    def check_remote(self) -> None:
        foreign = sorted(set(self.options) - NLQUERY_OPTIONS)
        if foreign:
            raise ValueError(f"options: {foreign[0]!r} is not accepted from a remote caller; "
                             "a sqlalchemy source takes everything in its URL")
        super().check_remote()

    def absolute(self, base: Path) -> SQLAlchemyConnection:
        files = self.local_files()
        if not files or Path(files[0]).expanduser().is_absolute():
            return self
        url = _parse_url(self.url or "")
        absolute = str((base / Path(files[0]).expanduser()).resolve())
        return self.model_copy(update={"url": url.set(database=absolute).render_as_string(hide_password=False)})


def _connect_args(backend: str, database: str | None) -> dict[str, Any]:
    args = dict(READ_ONLY_CONNECT_ARGS.get(backend, {}))
    if backend == "duckdb" and database in (None, "", ":memory:"):
        args.pop("read_only")  # DuckDB opens no in-memory database read-only; it has no file to protect
    return args


# PostgreSQL drivers on libpq, which fills what a connection leaves unset from this
# server's environment and home (PGPASSWORD, a PGSERVICE file's password, ~/.pgpass).
_LIBPQ_DRIVERS = {"psycopg", "psycopg2", "psycopg2cffi"}


def _no_local_credentials(url: Any) -> dict[str, Any]:
    """Connect arguments that keep a source someone else chose (registered over HTTP or
    MCP) from getting this server's own PostgreSQL credentials: only what its owner gave,
    as the ``postgresql`` connector does (an empty password is "none" to libpq)."""
    if url.get_backend_name() != "postgresql" or url.get_driver_name() not in _LIBPQ_DRIVERS:
        return {}
    args: dict[str, Any] = {"passfile": os.devnull, "sslpassword": ""}
    if not url.password:
        args["password"] = ""
    return args


def harden_url(url: Any, config: ConnectionConfig) -> Any:
    """The URL the engine gets: the stored password put back, file databases opened
    read-only with only our parameters, MySQL's file-reading parameters refused, and the
    host pinned to the address the egress policy checked."""
    backend = url.get_backend_name()
    if config.password and not url.password:
        url = url.set(password=config.password)
    if backend in FILE_BACKENDS:
        url = url.set(query={})
        if backend == "sqlite" and url.database and url.database != ":memory:":
            path = url.database.removeprefix("file:")
            url = url.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})
    if backend in ("mysql", "mariadb"):
        refused = sorted(set(url.query) & MYSQL_REFUSED_PARAMS - {"local_infile"})
        if refused:
            raise InvalidConnection(f"URL parameter {refused[0]!r} is not allowed: it reads local files "
                                    "or runs SQL at connect time")
        url = url.difference_update_query(["local_infile"])
    if config.egress is not None and backend not in FILE_BACKENDS:
        # Always an explicit, checked address: never the driver's default socket.
        address = config.egress.resolve(url.host or "localhost", url.port)[0]
        if not url.host:
            url = url.set(host=address)
        url = url.update_query_dict({"hostaddr": address}) if backend == "postgresql" else url.set(host=address)
    return url
# File databases that lock their file against every other process while open (DuckDB:
# one writer or any readers): the connection is released after each call, so an ETL job
# writing the file between our queries is not locked out, nor are we.
RELEASE_AFTER_USE = {"duckdb"}
READ_ONLY_SESSION_SQL = {
    "postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "mysql": "SET SESSION TRANSACTION READ ONLY",
    "mariadb": "SET SESSION TRANSACTION READ ONLY",
}
SYSTEM_SCHEMAS = {"information_schema", "pg_catalog", "pg_toast", "sys", "mysql", "performance_schema",
                  "INFORMATION_SCHEMA"}
_TIMEOUT_NAMES = ("Interrupt", "Timeout", "Cancel")


class SQLAlchemyConnector(DBAPIConnector):
    """``sqlalchemy`` sources: any SQLAlchemy URL whose dialect is installed."""

    type_name = "sqlalchemy"
    connection_model = SQLAlchemyConnection
    dialect = "sqlite"  # replaced per instance by the URL's dialect, and so are its facts
    dialect_facts = DialectFacts(dialect)
    paramstyle = "qmark"
    # comments and materialized views where the URL's dialect reflects them; no row
    # statistics (the inspector reads none) and no date buckets (the dialect varies)
    capabilities = frozenset({Capability.COMMENTS, Capability.MATERIALIZED_VIEWS})
    introspection_steps = ("columns", "primary keys", "foreign keys", "unique constraints", "indexes", "comments")

    def __init__(self, config: ConnectionConfig) -> None:
        super().__init__(config)
        url = config.url or config.options.get("url")
        if not url:
            raise InvalidConnection("a sqlalchemy source needs a URL, e.g. duckdb:////path/file.duckdb")
        try:
            import sqlalchemy
        except ImportError:  # pragma: no cover - sqlalchemy is a core dependency
            raise DriverNotInstalled("sqlalchemy is not installed") from None
        from sqlalchemy.pool import NullPool

        scheme = url.split("://", 1)[0]
        try:
            self.url = harden_url(sqlalchemy.engine.make_url(url), config)
            backend_name = self.url.get_dialect().name
            # No connection yet: create_engine only loads the dialect and its driver. The
            # connector's own pool holds the connections (NullPool: SQLAlchemy keeps none,
            # a connection closed here is closed for real).
            connect_args = _connect_args(backend_name, self.url.database)
            if config.untrusted:
                connect_args.update(_no_local_credentials(self.url))
            self._engine = sqlalchemy.create_engine(self.url, poolclass=NullPool, connect_args=connect_args)
        except (sqlalchemy.exc.NoSuchModuleError, ImportError) as exc:
            raise DriverNotInstalled(f"no SQLAlchemy dialect or driver installed for {scheme}:// ({exc}); "
                                     "for DuckDB: pip install 'nlquery[duckdb]'") from None
        except sqlalchemy.exc.ArgumentError as exc:
            raise InvalidConnection(scrub(f"malformed SQLAlchemy URL: {exc}", config.secrets())) from None
        self.backend_name = backend_name
        self.dialect = SQLGLOT_DIALECTS.get(backend_name, backend_name)  # type: ignore[misc]
        self.dialect_facts = facts_for(self.dialect)
        self.paramstyle = PARAMSTYLES.get(self._engine.dialect.paramstyle, "qmark")  # type: ignore[misc]
        self.reflection_gaps: dict[str, str] = {}
        if self.url.database in (None, "", ":memory:") and backend_name in FILE_BACKENDS:
            # every connection to an in-memory database is a database of its own: keep one
            self._pool.size = 1

    # -- connection -------------------------------------------------------------
    def _connect(self) -> Any:
        """A SQLAlchemy ``Connection`` (the inspector reflects through it; statements run
        on its DB-API connection, ``.connection``)."""
        conn = None
        try:
            conn = self._engine.connect()
            session_sql = READ_ONLY_SESSION_SQL.get(self.backend_name)
            if session_sql:
                raw = conn.connection
                cursor = raw.cursor()
                cursor.execute(session_sql)
                cursor.close()
                raw.commit()
        except Exception as exc:
            if conn is not None:
                conn.close()
            raise DataSourceDisconnected(scrub(f"cannot connect: {_root(exc)}", self.config.secrets())) from None
        return conn

    def _classify_error(self, exc: BaseException) -> type[ConnectorError] | None:
        import sqlalchemy

        driver_error = getattr(exc, "orig", None) or exc
        names = {cls.__name__ for cls in type(driver_error).__mro__}
        if any(part in name for name in names for part in _TIMEOUT_NAMES):
            return QueryTimeout
        if self._lost_connection(driver_error):
            self._discard_connection()  # broken: never back into the pool
            return DataSourceDisconnected
        if isinstance(exc, sqlalchemy.exc.SQLAlchemyError) or names & {"Error", "DatabaseError", "Warning"}:
            return QueryExecutionFailed
        return None

    def _lost_connection(self, driver_error: BaseException) -> bool:
        """Whether the dialect reads ``driver_error`` as the current call's connection lost."""
        call = self._current_call()
        try:
            raw = call.lease.conn.connection.dbapi_connection if call and call.lease.conn is not None else None
            return bool(self._engine.dialect.is_disconnect(driver_error, raw, None))
        except Exception:  # a dialect that cannot tell: not a disconnection
            return False

    def _describe_error(self, exc: BaseException) -> str:
        return str(_root(exc))

    # -- execution ----------------------------------------------------------------
    def _read_only_rows(
        self, sql: str, params: tuple[Any, ...], fetch_limit: int, timeout_s: float
    ) -> tuple[list[str], list[Any]]:
        raw = self.connection.connection
        timer = _interrupt_after(raw, timeout_s)
        cursor = None
        try:
            cursor = raw.cursor()
            if params:
                cursor.execute(sql, params)
            else:
                cursor.execute(sql)
            columns = [d[0] for d in cursor.description or ()]
            rows = take_rows(cursor, fetch_limit, self.max_result_bytes) if cursor.description else []
            return columns, rows
        except Exception:
            if timer.fired:  # the socket was cut at the deadline: the source sent nothing in time
                raise DataSourceDisconnected(
                    f"no answer from the source within the {timeout_s:g} s timeout: connection dropped") from None
            raise
        finally:
            timer.cancel()
            if timer.fired:
                self._discard_connection()  # a connection whose socket was cut is never reused
            else:
                if cursor is not None:
                    cursor.close()
                _rollback(raw)
                self._release_if_file_locked()

    def _release_if_file_locked(self) -> None:
        if self.backend_name in RELEASE_AFTER_USE:
            self._discard_connection()  # closed, not pooled: the file is free between calls

    # -- introspection ---------------------------------------------------------------
    def _introspect(self, schemas: Sequence[str] | None, step: Callable[[str], None]) -> Schema:
        import sqlalchemy

        conn = self.connection
        try:
            return self._reflect(conn, sqlalchemy.inspect(conn), schemas, step)
        finally:
            _rollback(conn)  # the inspector's transaction: a pooled connection idles outside one
            self._release_if_file_locked()

    def _reflect(self, conn: Any, inspector: Any, schemas: Sequence[str] | None,
                 step: Callable[[str], None]) -> Schema:
        import sqlalchemy
        from sqlalchemy.engine import ObjectKind

        default = inspector.default_schema_name
        wanted = list(schemas) if schemas else self._user_schemas(inspector, default)
        kinds = ObjectKind.TABLE | ObjectKind.VIEW | ObjectKind.MATERIALIZED_VIEW
        tables: dict[tuple[str | None, str], Table] = {}
        for schema in wanted:
            target = None if schema == default else schema
            views = set(inspector.get_view_names(schema=target))
            try:
                materialized = set(inspector.get_materialized_view_names(schema=target))
            except NotImplementedError:
                materialized = set()
            for (_, name), columns in inspector.get_multi_columns(schema=target, kind=kinds).items():
                kind = "materialized_view" if name in materialized else "view" if name in views else "table"
                tables[(schema, name)] = Table(name=name, schema=schema, kind=kind,
                                               columns=[self._column(c) for c in columns])
        step("columns")
        facts: list[tuple[str, str, Callable[[Table, Any], None]]] = [
            ("primary keys", "get_multi_pk_constraint", _apply_primary_key),
            ("foreign keys", "get_multi_foreign_keys", _apply_foreign_keys),
            ("unique constraints", "get_multi_unique_constraints", _apply_unique_constraints),
            ("indexes", "get_multi_indexes", _apply_indexes),
            ("comments", "get_multi_table_comment", _apply_comment),
        ]
        for label, method, apply in facts:
            for schema in wanted:
                target = None if schema == default else schema
                try:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        found = getattr(inspector, method)(schema=target, kind=kinds)
                    if caught and not found:  # e.g. "duckdb-engine doesn't yet support reflection on indices"
                        raise NotImplementedError(str(caught[0].message))
                except (NotImplementedError, sqlalchemy.exc.DBAPIError) as exc:
                    # the dialect cannot reflect this fact here: a gap, not an outage
                    gap = str(_root(exc)).splitlines()[0][:200]
                    self.reflection_gaps[label] = gap
                    log.warning("%s cannot reflect %s: %s", self.backend_name, label, gap)
                    _rollback(conn)
                    break
                for (_, name), value in found.items():
                    if (schema, name) in tables and value:
                        apply(tables[(schema, name)], value)
            step(label)
        return Schema(tables=list(tables.values()), default_schema=default)

    def _user_schemas(self, inspector: Any, default: str | None) -> list[str | None]:
        # Dotted names are catalog-qualified aliases of attached databases (DuckDB's
        # ``file.main``, ``system.main``): the default schema already covers the file.
        names = [s for s in inspector.get_schema_names()
                 if s not in SYSTEM_SCHEMAS and "." not in s and not s.startswith("pg_")]
        return [default, *sorted(s for s in names if s != default)]

    def _column(self, reflected: dict[str, Any]) -> Column:
        try:
            full = reflected["type"].compile(dialect=self._engine.dialect)
        except Exception:  # a type the dialect cannot render: its class name is still informative
            full = type(reflected["type"]).__name__.upper()
        short = full.split("(", 1)[0].strip().lower()
        default = reflected.get("default")
        return Column(name=reflected["name"], type=short, nullable=bool(reflected.get("nullable", True)),
                      default=None if default is None else str(default), comment=reflected.get("comment"),
                      full_type=full if full.lower() != short else None)


def _apply_primary_key(table: Table, value: dict[str, Any]) -> None:
    table.primary_key = list(value.get("constrained_columns") or [])


def _apply_foreign_keys(table: Table, value: list[dict[str, Any]]) -> None:
    table.foreign_keys = [
        ForeignKey(columns=fk["constrained_columns"], ref_table=fk["referred_table"],
                   ref_columns=fk["referred_columns"], ref_schema=fk.get("referred_schema") or table.schema,
                   name=fk.get("name"))
        for fk in value
    ]


def _apply_unique_constraints(table: Table, value: list[dict[str, Any]]) -> None:
    table.unique_constraints = [UniqueConstraint(columns=u["column_names"], name=u.get("name")) for u in value]


def _apply_indexes(table: Table, value: list[dict[str, Any]]) -> None:
    table.indexes = [Index(name=i["name"], columns=[c or "<expression>" for c in i["column_names"]],
                           unique=bool(i.get("unique"))) for i in value if i.get("name")]


def _apply_comment(table: Table, value: dict[str, Any]) -> None:
    table.comment = value.get("text")


def _rollback(raw: Any) -> None:
    """End the transaction; drivers that run outside one unless asked (DuckDB) refuse
    a rollback with nothing to roll back, which is fine."""
    try:
        raw.rollback()
    except Exception as exc:
        log.debug("rollback: %s", exc)


def _root(exc: BaseException) -> BaseException:
    """The driver's exception inside SQLAlchemy's wrapper (its message without the SQL)."""
    return getattr(exc, "orig", None) or exc


class _Interrupt:
    """The deadline of one statement: at ``timeout_s`` the driver's own cancel where it
    has one that cannot hang the process (DuckDB's ``interrupt``; psycopg's
    ``cancel_safe``, which waits without holding the GIL, only on libpq 17+: its plain
    ``cancel`` blocks the whole interpreter on a host that accepts the cancel request
    and never answers); at ``timeout_s + GRACE_S`` the connection's socket is shut down,
    so a stalled link or a server that stopped answering ends the read too (``fired``)."""

    def __init__(self, raw: Any, timeout_s: float) -> None:
        driver = getattr(raw, "driver_connection", raw)
        self.fired = False
        self._timers: list[threading.Timer] = []
        cancel = getattr(driver, "interrupt", None) or _safe_cancel(driver, GRACE_S)
        if cancel is not None:
            self._start(timeout_s, cancel)
        fileno = getattr(driver, "fileno", None)
        if callable(fileno) and not hasattr(driver, "interrupt"):
            self._start(timeout_s + GRACE_S, lambda: self._cut(fileno))

    def _start(self, delay: float, action: Callable[[], Any]) -> None:
        def run() -> None:
            try:
                action()
            except Exception:  # best effort: the driver's own error follows
                pass

        timer = threading.Timer(max(0.0, delay), run)
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def _cut(self, fileno: Callable[[], int]) -> None:
        fd = fileno()
        if isinstance(fd, int) and fd >= 0:
            self.fired = True
            shutdown_fd(fd)

    def cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()


def _safe_cancel(driver: Any, timeout_s: float) -> Callable[[], Any] | None:
    """A cancel of ``driver``'s running statement that cannot hold the GIL while a host
    fails to answer (None: none; the socket's cut is what ends the read then)."""
    safe = getattr(driver, "cancel_safe", None)
    if safe is not None:  # psycopg 3: non-blocking on libpq 17+, else its blocking cancel
        try:
            import psycopg

            if psycopg.capabilities.has_cancel_safe():
                return lambda: safe(timeout=timeout_s)
        except Exception:  # an older psycopg without capabilities
            pass
        return None
    if type(driver).__module__.startswith("psycopg2"):
        return getattr(driver, "cancel", None)  # psycopg2 releases the GIL while it waits
    return getattr(driver, "cancel", None) if not hasattr(driver, "pgconn") else None


def _interrupt_after(raw: Any, timeout_s: float) -> _Interrupt:
    """The statement's deadline (see :class:`_Interrupt`)."""
    return _Interrupt(raw, timeout_s)