"""The catalog's tables and their upgrade steps (SQLAlchemy Core).

One SQLite file under ``$NLQUERY_HOME`` by default (WAL, busy timeout: safe for
several processes), or any SQLAlchemy URL in ``NLQUERY_CATALOG_URL`` (PostgreSQL lets
several service replicas share one catalog). The schema version lives in
``nlq_meta``; :data:`UPGRADES` holds one function per version step, applied in a
transaction when the catalog is opened.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from nlquery.errors import CatalogUnavailable

metadata = sa.MetaData()

meta = sa.Table(
    "nlq_meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
sources = sa.Table(
    "nlq_sources", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),  # unique per tenant (index below)
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("connection", sa.Text, nullable=False),  # JSON, never a password
    sa.Column("secret", sa.Text),  # Fernet token of the password
    sa.Column("settings", sa.Text, nullable=False, default="{}"),  # JSON: policy, value hints
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("status_reason", sa.Text),
    sa.Column("schema_status", sa.String(20), nullable=False),
    sa.Column("schema_error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False, server_default="default"),  # v5: who registered it
    sa.Index("ix_nlq_sources_tenant_name", "tenant", "name", unique=True),
)
snapshots = sa.Table(
    "nlq_snapshots", metadata,
    sa.Column("source_id", sa.String(40), sa.ForeignKey("nlq_sources.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("schema", sa.Text, nullable=False),  # JSON of connectors.Schema
    sa.Column("diff", sa.Text, nullable=False),
    sa.Column("value_hints", sa.Text, nullable=False, default="{}"),
)
mappings = sa.Table(
    "nlq_mappings", metadata,
    sa.Column("source_id", sa.String(40), sa.ForeignKey("nlq_sources.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("description", sa.Text),
    sa.Column("synonyms", sa.Text, nullable=False, default="[]"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("definition", sa.Text),  # v6: JSON {sql} of a metric:, {table, where} of a segment: key
)

examples = sa.Table(
    "nlq_examples", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("source_id", sa.String(40), sa.ForeignKey("nlq_sources.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("sql", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

api_tokens = sa.Table(
    "nlq_api_tokens", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),  # sha256 hex; the token is never stored
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    # v5: the token's tenant, scopes (JSON list; NULL: a token from before scopes, every
    # scope), source allow-list (JSON list or NULL: all) and policy overlay (JSON or NULL)
    sa.Column("tenant", sa.String(64), nullable=False, server_default="default"),
    sa.Column("scopes", sa.Text),
    sa.Column("sources", sa.Text),
    sa.Column("policy", sa.Text),
)

tool_calls = sa.Table(
    "nlq_tool_calls", metadata,
    sa.Column("execution_id", sa.String(200), primary_key=True),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

audit = sa.Table(
    "nlq_audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # the cursor of GET /audit
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("tenant", sa.String(64), index=True),  # NULL: the operator (CLI, Python API)
    sa.Column("token_id", sa.String(64)),  # never the token
    sa.Column("channel", sa.String(20), nullable=False),  # http | mcp | callback | operator
    sa.Column("action", sa.String(40), nullable=False),  # query | ask | tool_callback | source.* | request
    sa.Column("method", sa.String(10)),
    sa.Column("path", sa.String(400)),
    sa.Column("source", sa.String(200), index=True),  # the source's id when known, else as given
    sa.Column("source_name", sa.String(200)),
    sa.Column("question", sa.Text),
    sa.Column("sql", sa.Text),
    sa.Column("parameters", sa.Text),  # JSON list, sensitive values redacted
    sa.Column("row_count", sa.Integer),
    sa.Column("duration_ms", sa.Float),
    sa.Column("outcome", sa.String(60), nullable=False),  # ok or an error code
    sa.Column("status", sa.Integer),
    sa.Column("request_id", sa.String(128)),
    sa.Column("trace_id", sa.String(128)),
)

SCHEMA_VERSION = 6
_V1_TABLES = [meta, sources, snapshots, mappings]


def _create_v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=_V1_TABLES)


def _add_examples(conn: Connection) -> None:
    examples.create(conn, checkfirst=True)


def _add_api_tokens(conn: Connection) -> None:
    api_tokens.create(conn, checkfirst=True)


def _add_tool_calls(conn: Connection) -> None:
    tool_calls.create(conn, checkfirst=True)


def _add_tenants_and_audit(conn: Connection) -> None:
    """Sources and tokens get a tenant (existing ones: ``default``), names become unique
    per tenant, tokens get scopes, an allow-list and a policy overlay; the audit table."""
    inspector = sa.inspect(conn)
    if "tenant" not in {c["name"] for c in inspector.get_columns("nlq_sources")}:
        if conn.dialect.name == "sqlite":
            _rebuild_sqlite_sources(conn)
        else:
            conn.execute(sa.text("ALTER TABLE nlq_sources ADD COLUMN tenant VARCHAR(64) NOT NULL DEFAULT 'default'"))
            for unique in inspector.get_unique_constraints("nlq_sources"):
                if unique["column_names"] == ["name"] and unique.get("name"):
                    conn.execute(sa.text(f'ALTER TABLE nlq_sources DROP CONSTRAINT "{unique["name"]}"'))
            for index in inspector.get_indexes("nlq_sources"):
                if index["column_names"] == ["name"] and index.get("unique") and index.get("name"):
                    conn.execute(sa.text(f'DROP INDEX "{index["name"]}"'))
            sa.Index("ix_nlq_sources_tenant_name", sources.c.tenant, sources.c.name, unique=True).create(conn)
    token_columns = {c["name"] for c in inspector.get_columns("nlq_api_tokens")}
    for name, ddl in (("tenant", "VARCHAR(64) NOT NULL DEFAULT 'default'"), ("scopes", "TEXT"),
                      ("sources", "TEXT"), ("policy", "TEXT")):
        if name not in token_columns:
            conn.execute(sa.text(f"ALTER TABLE nlq_api_tokens ADD COLUMN {name} {ddl}"))
    audit.create(conn, checkfirst=True)


def _rebuild_sqlite_sources(conn: Connection) -> None:
    """SQLite cannot drop the old UNIQUE(name): copy the table into its new shape (the
    documented 12-step way, foreign keys off so no snapshot or mapping cascades away)."""
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # no transaction is open yet: reads only so far
    if conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise CatalogUnavailable("cannot upgrade the catalog: foreign keys stay on inside a transaction")
    shape = sa.MetaData()
    new = sources.to_metadata(shape, name="nlq_sources_new")
    for index in list(new.indexes):  # created after the rename, under their own names
        new.indexes.discard(index)
    new.create(conn)
    names = ", ".join(c.name for c in sources.columns if c.name != "tenant")
    conn.exec_driver_sql(f"INSERT INTO nlq_sources_new ({names}, tenant) SELECT {names}, 'default' FROM nlq_sources")
    conn.exec_driver_sql("DROP TABLE nlq_sources")
    conn.exec_driver_sql("ALTER TABLE nlq_sources_new RENAME TO nlq_sources")
    conn.exec_driver_sql("CREATE UNIQUE INDEX ix_nlq_sources_tenant_name ON nlq_sources (tenant, name)")


def _add_mapping_definitions(conn: Connection) -> None:
    """Mappings may hold a definition (metrics and segments of the semantic layer)."""
    if "definition" not in {c["name"] for c in sa.inspect(conn).get_columns("nlq_mappings")}:
        conn.execute(sa.text("ALTER TABLE nlq_mappings ADD COLUMN definition TEXT"))


# version reached -> step that reaches it from the one before
UPGRADES: dict[int, Callable[[Connection], None]] = {
    1: _create_v1, 2: _add_examples, 3: _add_api_tokens, 4: _add_tool_calls, 5: _add_tenants_and_audit,
    6: _add_mapping_definitions,
}


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class Store:
    """Low-level access to the catalog tables; :class:`nlquery.catalog.Catalog` builds on it."""

    def __init__(self, url: str, *, label: str) -> None:
        self.label = label  # the file or URL named in errors (without a password)
        try:
            self.engine: Engine = sa.create_engine(url, future=True, **_engine_options(url))
            if url.startswith("sqlite"):
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            try:
                self._upgrade()
            except SQLAlchemyError:
                # Another process created or upgraded the catalog between our check and
                # our step: its work is done, so look again.
                self._upgrade()
            if url.startswith("sqlite"):
                self.engine.dispose()  # an upgrade may have turned foreign keys off: fresh connections
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"cannot open the catalog at {label}: {_reason(exc)}") from None

    def _upgrade(self) -> None:
        with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                # Several processes (serve --workers N) open a new catalog at once: one
                # upgrades while the others wait (busy timeout), then find it done. The
                # driver runs DDL outside any transaction, so without the write lock taken
                # first each would read version 0 and race to create the same tables.
                # Foreign keys go off before (inside a transaction the pragma is a no-op):
                # the v5 rebuild of nlq_sources needs them off; fresh connections follow.
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            inspector = sa.inspect(conn)
            current = 0
            if inspector.has_table("nlq_meta"):
                row = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).first()
                current = int(row[0]) if row else 0
            if current > SCHEMA_VERSION:
                raise CatalogUnavailable(
                    f"the catalog at {self.label} is version {current}, newer than this nlquery "
                    f"({SCHEMA_VERSION}): upgrade nlquery"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                UPGRADES[version](conn)
            if current < SCHEMA_VERSION:
                conn.execute(sa.delete(meta).where(meta.c.key == "schema_version"))
                conn.execute(sa.insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"catalog error at {self.label}: {_reason(exc)}") from None

    def close(self) -> None:
        self.engine.dispose()


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    return str(original or exc).strip().splitlines()[0]


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
