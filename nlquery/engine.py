"""The :class:`Engine`: the one object services embed.

Every query takes the same path, whoever sent it: the read-only guard
(:func:`nlquery.guard.validate_sql`, with the source's exposure policy and known
schema), ``$n`` placeholders bound through the AST, then the connector's read-only
session. Connector errors become :class:`nlquery.errors.NLQueryError` here.
Registered sources live in the catalog (:mod:`nlquery.catalog`); each one's connector
(and its pool of connections) is made once and reused until :meth:`Engine.close`.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import connectors
from connectors.base import DEFAULT_INTROSPECTION_TIMEOUT_S, DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_S, ProgressCallback
from connectors.egress import EgressPolicy
from nlquery import breaker, semantic
from nlquery.asking import Questions, visible_to
from nlquery.catalog import Catalog, SourceRecord
from nlquery.catalog import hints as value_hints
from nlquery import audit
from nlquery.audit import audited
from nlquery.principal import Principal, merge_policy
from nlquery.streaming import ResultStream
from nlquery.errors import DataSourceNotFound, InvalidRequest, NLQueryError, connector_errors
from nlquery.extraction import Extractions
from nlquery.guard import Policy, SafeQuery, cached_validate, validate_sql
from nlquery.paths import home as default_home
from nlquery.planner import Answer, LLMConfig, SchemaLinker

__all__ = ["Engine", "RefreshResult"]

log = logging.getLogger("nlquery.engine")

Source = str | connectors.Connector
"""A registered source's name or id, or an open connector."""


@dataclass
class RefreshResult:
    """What a schema refresh found: the new snapshot, its diff and stale mappings."""

    source: str
    version: int
    schema: connectors.Schema
    diff: dict[str, Any]
    stale_mappings: list[str]
    value_hints: int

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "version": self.version, "tables": len(self.schema.tables),
                "diff": self.diff, "stale_mappings": self.stale_mappings, "value_hints": self.value_hints}


_TAKES: dict[tuple[type, str, str], bool] = {}


def _takes(connector: Any, method: str, keyword: str) -> bool:
    """Whether ``connector.<method>`` takes ``keyword=`` (``execute(convert=)``,
    ``introspect(timeout_s=)``): third-party connectors written before it existed do
    not, and are called as before."""
    key = (type(connector), method, keyword)
    known = _TAKES.get(key)
    if known is None:
        try:
            parameters = inspect.signature(getattr(connector, method)).parameters.values()
        except (TypeError, ValueError):
            parameters = ()  # type: ignore[assignment]
        known = any(p.name == keyword or p.kind is p.VAR_KEYWORD for p in parameters)
        _TAKES[key] = known
    return known


class Engine:
    """Registers sources, reads their schemas and runs guarded read-only queries.

    >>> with Engine() as engine:                                              # doctest: +SKIP
    ...     engine.add_source("shop", type="sqlite", connection={"database": "shop.db"})
    ...     engine.refresh_schema("shop")
    ...     engine.query("shop", "SELECT name FROM customers WHERE id = $1", [1])
    """

    def __init__(
        self,
        *,
        home: str | Path | None = None,
        catalog_url: str | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        llm: LLMConfig | None = None,
        rules_first: bool = False,
        extraction_workers: int = 2,
        extraction_timeout_s: float | None = None,
    ) -> None:
        self.home = Path(home) if home is not None else None
        self.llm = llm or LLMConfig.from_environment()
        self.rules_first = rules_first
        self._snapshots: dict[str, Any] = {}  # source id -> its latest Snapshot, by version
        # name or id -> (expiry, record, snapshot): queries skip the catalog for a moment.
        self._resolved: dict[tuple[str, str | None], tuple[float, SourceRecord, Any]] = {}
        self.catalog_url = catalog_url or os.environ.get("NLQUERY_CATALOG_URL") or None
        self.max_rows = max_rows
        # NLQUERY_QUERY_TIMEOUT_S: the default per-query timeout of a service (`nlquery serve`)
        self.timeout_s = (float(os.environ.get("NLQUERY_QUERY_TIMEOUT_S") or timeout_s)
                          if timeout_s == DEFAULT_TIMEOUT_S else timeout_s)
        # NLQUERY_EXTRACTION_TIMEOUT_S: how long one schema extraction (catalog queries and
        # value hints) may take before it ends in error, a dead link included
        self.extraction_timeout_s = float(extraction_timeout_s or os.environ.get("NLQUERY_EXTRACTION_TIMEOUT_S")
                                          or DEFAULT_INTROSPECTION_TIMEOUT_S)
        if not self.extraction_timeout_s > 0:
            raise ValueError("the extraction timeout (NLQUERY_EXTRACTION_TIMEOUT_S) must be a positive number "
                             "of seconds")
        self._opened_catalog: Catalog | None = None
        self._open: list[connectors.Connector] = []
        self._extractions: Extractions | None = None
        self.extraction_workers = extraction_workers
        self._pool: dict[str, connectors.Connector] = {}
        self._lock = threading.RLock()
        self.questions = Questions(_QuestionsHost(self))
        """Plans and answers questions (:class:`nlquery.asking.Questions`); :meth:`ask`
        and the schema-lookup methods below delegate to it."""

    @property
    def _catalog(self) -> Catalog:
        """The catalog, opened on first use (once, whichever thread asks first). Private:
        front-ends use the Engine's methods; tests of the catalog's internals (encryption
        at rest, upgrades) may read it."""
        with self._lock:
            if self._opened_catalog is None:
                self._opened_catalog = Catalog(self.home or default_home(), self.catalog_url)
            return self._opened_catalog

    # -- sources ---------------------------------------------------------------------
    @audited("source.create")
    def add_source(self, name: str, type: str | None, connection: Mapping[str, Any], description: str = "", *,
                   policy: Mapping[str, Any] | None = None, value_hints: Mapping[str, Any] | None = None,
                   extract: bool = True, remote: bool = False,
                   tenant: str | Principal | None = None) -> dict[str, Any]:
        """Register a source in ``tenant`` (a name, or the principal of the token that
        sends it; None: ``default``), check its connection (``status``) and, with ``extract``,
        read its schema now (``schema_status`` extracting -> ready | error). Without
        ``extract`` the schema waits for :meth:`refresh_schema` (``schema_status``
        ``pending``).

        ``remote=True`` says a token holder sent it (HTTP, MCP): ``password_env`` and
        options that read local files are refused, file sources must lie inside
        ``NLQUERY_DATA_DIRS``, and its hosts pass the egress policy now and on every
        connection. ``type`` None: the connection's URL scheme names it
        (``postgres://`` -> postgresql)."""
        if type is None:
            url = connection.get("url") if isinstance(connection, Mapping) else None
            if not url:
                raise InvalidRequest("give a source type, or a url whose scheme names it")
            with connector_errors():
                type = connectors.registry.type_from_url(str(url))
        settings = {k: dict(v) for k, v in (("policy", policy), ("value_hints", value_hints)) if v}
        owner = tenant.tenant if isinstance(tenant, Principal) else (tenant or "default")
        record = self._catalog.add_source(name, type, connection, description, settings, remote=remote,
                                         tenant=owner)
        if self.check_connection(record.id) != "connected":
            self._catalog.set_status(record.id, schema_status="error",
                                    schema_error="not extracted: the source is not reachable")
        elif extract:
            try:
                self.refresh_schema(record.id)
            except NLQueryError:
                pass  # recorded as schema_status=error with its reason
        return self.get_source(record.id)

    def list_sources(self, *, tenant: str | Principal | None = None) -> list[dict[str, Any]]:
        """Every source (the operator), or those ``tenant`` sees."""
        who = tenant if isinstance(tenant, Principal) else None
        records = self._catalog.list_sources(who.lookup_tenant if who else tenant)
        return [r.to_dict() for r in records if who is None or who.reaches(r.id, r.name)]

    def _lookup(self, name_or_id: str, tenant: str | Principal | None) -> SourceRecord:
        """A source by name or id as ``tenant`` sees it: None is the operator (every
        tenant); a tenant name; or a token's principal (its tenant, every tenant for an
        admin, and its source allow-list). Another tenant's source is not found."""
        who = tenant if isinstance(tenant, Principal) else None
        record = self._catalog.get_source(name_or_id, who.lookup_tenant if who else tenant)
        if who is not None and not who.reaches(record.id, record.name):
            raise DataSourceNotFound(f"no data source named or with id {name_or_id!r}")
        audit.note(source=record.id, source_name=record.name)
        return record

    def get_source(self, name_or_id: str, *, tables: bool = False,
                   tenant: str | Principal | None = None) -> dict[str, Any]:
        """The source as the API shows it; with ``tables``, its latest schema too (for a
        token, without what the source's policy and the token's overlay hide)."""
        record = self._lookup(name_or_id, tenant)
        data = record.to_dict()
        if tables:
            snapshot = self._catalog.latest_snapshot(record.id)
            schema = snapshot.schema if snapshot else None
            if schema is not None and isinstance(tenant, Principal):
                schema = visible_to(merge_policy(record.policy, tenant.overlay), schema, {}, {})[0]
            data["schema_version"] = snapshot.version if snapshot else None
            data["tables"] = schema.to_dict()["tables"] if schema else []
        return data

    @audited("source.update")
    def update_source(self, name_or_id: str, *, name: str | None = None, description: str | None = None,
                      connection: Mapping[str, Any] | None = None, policy: Mapping[str, Any] | None = None,
                      value_hints: Mapping[str, Any] | None = None, remote: bool = False,
                      tenant: str | Principal | None = None) -> dict[str, Any]:
        """Change a source; a new connection is checked again (``remote`` as in
        :meth:`add_source`). A connection moved to another destination without its
        secret in the same call loses the stored secret."""
        settings = {k: dict(v) for k, v in (("policy", policy), ("value_hints", value_hints)) if v is not None}
        record = self._catalog.update_source(self._lookup(name_or_id, tenant).id, name=name, description=description,
                                            connection=connection,
                                            settings=settings or None, remote=remote)
        self._forget(record.id)
        if connection is not None:
            self.check_connection(record.id)
        return self.get_source(record.id)

    @audited("source.delete")
    def remove_source(self, name_or_id: str, *, tenant: str | Principal | None = None) -> dict[str, Any]:
        record = self._catalog.remove_source(self._lookup(name_or_id, tenant).id)
        self._forget(record.id)
        return record.to_dict()

    def check_connection(self, name_or_id: str, *, tenant: str | Principal | None = None) -> str:
        """Connect and set ``status``: connected | disconnected | error (with the reason).
        Works for every kind of source (the connector's own ping: MongoDB, REST APIs too)."""
        record = self._lookup(name_or_id, tenant)
        try:
            with connector_errors():
                self._connector(record).ping()
            status, reason = "connected", None
        except NLQueryError as exc:
            self._forget(record.id)
            status = "disconnected" if exc.code == "data_source_disconnected" else "error"
            reason = exc.message
        self._catalog.set_status(record.id, status=status, status_reason=reason)
        return status

    @audited("source.refresh")
    def mark_extracting(self, name_or_id: str, *, tenant: str | Principal | None = None) -> dict[str, Any]:
        """Set ``schema_status`` to extracting before a background refresh starts."""
        record = self._lookup(name_or_id, tenant)
        self._catalog.set_status(record.id, schema_status="extracting", schema_error=None)
        return self.get_source(record.id)

    @audited("source.refresh")
    def refresh_schema_later(self, name_or_id: str, *, tenant: str | Principal | None = None) -> dict[str, Any]:
        """Start a background refresh (``schema_status`` extracting -> ready | error) and
        return the source at once. A refresh of a source already being extracted joins
        that run; too many waiting extractions -> ``rate_limit_exceeded`` with a retry
        time (the source keeps its previous status)."""
        record = self._lookup(name_or_id, tenant)
        self._catalog.set_status(record.id, schema_status="extracting", schema_error=None)
        try:
            self._background().submit(record.id)
        except NLQueryError:
            self._catalog.set_status(record.id, schema_status=record.schema_status, schema_error=record.schema_error)
            raise
        return self.get_source(record.id)

    def resume_extractions(self) -> int:
        """Start again the extractions a stopped process left ``extracting``; returns how many."""
        stuck = [s["id"] for s in self.list_sources() if s["schema_status"] == "extracting"]
        for source_id in stuck:
            self._background().submit(source_id)
        return len(stuck)

    def _background(self) -> Extractions:
        with self._lock:
            if self._extractions is None:
                self._extractions = Extractions(self._extract, workers=self.extraction_workers)
            return self._extractions

    def _extract(self, source_id: str) -> None:
        try:
            self.refresh_schema(source_id)  # records ready | error itself
        except NLQueryError as exc:
            log.info(json.dumps({"event": "extraction_failed", "source": source_id, "code": exc.code}))
        except Exception:  # never leave a source stuck in "extracting"
            log.exception("schema extraction of %s crashed", source_id)
            self._catalog.set_status(source_id, schema_status="error", schema_error="extraction crashed")

    # -- schemas ---------------------------------------------------------------------
    def refresh_schema(self, name_or_id: str, *, progress: ProgressCallback | None = None,
                       tenant: str | Principal | None = None) -> RefreshResult:
        """Extract the schema now: ``schema_status`` goes extracting -> ready | error.
        Stores a new snapshot version with its diff; mappings are kept (stale ones
        are reported, not dropped). The extraction (catalog queries and value hints)
        ends by :attr:`extraction_timeout_s`, a dead link included."""
        record = self._lookup(name_or_id, tenant)
        self._catalog.set_status(record.id, schema_status="extracting", schema_error=None)
        try:
            connector = self._connector(record)
            deadline = time.monotonic() + self.extraction_timeout_s
            with connector_errors():
                schema = self._introspect_within(connector, None, progress)
                hints = self._value_hints(record, connector, schema, deadline)
            snapshot = self._catalog.save_snapshot(record.id, schema, hints)
        except NLQueryError as exc:
            self._catalog.set_status(record.id, schema_status="error", schema_error=exc.message)
            raise
        self._catalog.set_status(record.id, schema_status="ready", schema_error=None,
                                status="connected", status_reason=None)
        self._resolved.clear()
        self._snapshots.pop(record.id, None)  # a no-change refresh updates the version in place
        stale = semantic.stale_keys(self._catalog.get_mappings(record.id), schema,
                                    facts=connectors.dialect_facts(connector))
        return RefreshResult(record.name, snapshot.version, schema, snapshot.diff, stale, len(hints))

    def schema(self, name_or_id: str, *, tenant: str | Principal | None = None) -> connectors.Schema:
        """The latest stored schema (extracted now if there is none yet)."""
        record = self._lookup(name_or_id, tenant)
        snapshot = self._catalog.latest_snapshot(record.id)
        return snapshot.schema if snapshot else self.refresh_schema(record.id).schema

    def value_hints(self, name_or_id: str, *, tenant: str | Principal | None = None) -> dict[str, list[Any]]:
        """``{"table.column": [values]}`` stored with the latest snapshot (empty before the
        first extraction); columns the source's policy (and a token's overlay) hides are left out."""
        record = self._lookup(name_or_id, tenant)
        snapshot = self._catalog.latest_snapshot(record.id)
        if snapshot is None:
            return {}
        return visible_to(self._policy_seen_by(record, tenant), snapshot.schema, snapshot.value_hints, {})[1]

    def schema_diff(self, name_or_id: str, *, tenant: str | Principal | None = None) -> dict[str, Any]:
        """What the refresh that made the latest schema version changed: ``{"schema_version",
        "created_at", "diff"}`` (``diff`` as in :attr:`RefreshResult.diff`; all None before the
        first extraction; a refresh that changes nothing keeps the version and its diff). For a
        token, without the tables and columns the source's policy and its overlay hide."""
        record = self._lookup(name_or_id, tenant)
        snapshot = self._catalog.latest_snapshot(record.id)
        if snapshot is None:
            return {"schema_version": None, "created_at": None, "diff": None}
        diff = snapshot.diff
        if isinstance(tenant, Principal):
            diff = _visible_diff(diff, self._policy_seen_by(record, tenant), snapshot.schema)
        created = snapshot.created_at
        return {"schema_version": snapshot.version, "diff": diff,
                "created_at": created.isoformat() if hasattr(created, "isoformat") else created}

    @staticmethod
    def _policy_seen_by(record: SourceRecord, tenant: str | Principal | None) -> Policy | None:
        """The source's policy, with a token's overlay (the stricter wins)."""
        return merge_policy(record.policy, tenant.overlay if isinstance(tenant, Principal) else None)

    def _introspect_within(self, connector: connectors.Connector, schemas: Sequence[str] | None,
                           progress: ProgressCallback | None) -> connectors.Schema:
        """``connector.introspect`` bounded by the extraction timeout where the connector
        takes one (the DB-API connectors; REST sources have their own deadline)."""
        if _takes(connector, "introspect", "timeout_s"):
            return connector.introspect(schemas=schemas, progress=progress,  # type: ignore[call-arg]
                                        timeout_s=self.extraction_timeout_s)
        return connector.introspect(schemas=schemas, progress=progress)

    def _value_hints(self, record: SourceRecord, connector: connectors.Connector,
                     schema: connectors.Schema, deadline: float) -> dict[str, list[Any]]:
        options = record.settings.get("value_hints", {})
        if options.get("enabled", True) is False:
            return {}
        return value_hints.collect(
            connector, schema, policy=record.policy, max_distinct=int(options.get("max_distinct", 50)),
            exclude=frozenset(c.lower() for c in options.get("exclude_columns", [])), deadline=deadline,
        )

    # -- semantic mappings ---------------------------------------------------------------
    def mappings(self, name_or_id: str, *, tenant: str | Principal | None = None) -> dict[str, Any]:
        """``{"mappings": {key: {description, synonyms}}, "stale": [keys]}``; for a token,
        without the mappings of what the source's policy and its overlay hide."""
        record = self._lookup(name_or_id, tenant)
        current = self._catalog.get_mappings(record.id)
        snapshot = self._catalog.latest_snapshot(record.id)
        stale = semantic.stale_keys(current, snapshot.schema, facts=self._dialect_facts(record)) if snapshot else []
        if isinstance(tenant, Principal) and snapshot is not None:
            current = visible_to(self._policy_seen_by(record, tenant), snapshot.schema, {}, current)[2]
            stale = [k for k in stale if k in current]
        return {"mappings": {k: m.to_dict() for k, m in current.items()}, "stale": stale}

    @audited("mappings.update")
    def update_mappings(self, name_or_id: str, patch: Mapping[str, Any], *,
                        tenant: str | Principal | None = None) -> dict[str, Any]:
        """PATCH-merge mappings (keys merge, ``None`` removes, ``synonyms`` replaces),
        validated against the source's schema. Metric and segment definitions go through
        the guard as the source's own queries do: in its dialect (``col::date`` and
        ``ILIKE`` on PostgreSQL, ``strftime`` on SQLite), with its exposure policy; a
        refusal is :class:`InvalidRequest` naming the definition.

        For a token (a :class:`Principal`, as over HTTP and MCP) the patch applies to what
        :meth:`mappings` shows it: keys, suggestions and definitions see only what the
        source's policy and the token's overlay leave visible, and the mappings of what
        they hide stay as they are."""
        record = self._lookup(name_or_id, tenant)
        schema = self.schema(record.id)
        policy = self._policy_seen_by(record, tenant)
        facts = self._dialect_facts(record)
        current = self._catalog.get_mappings(record.id)
        if isinstance(tenant, Principal):
            schema, _, shown = visible_to(policy, schema, {}, current)
            hidden = {k: m for k, m in current.items() if k not in shown}
            merged = semantic.merge(shown, patch, schema, facts=facts, policy=policy)
            folded = {k.lower() for k in hidden}
            clash = next((k for k in merged if k.lower() in folded), None)
            if clash is not None:
                raise InvalidRequest(f"{clash}: a definition of that name exists over tables or columns this "
                                     f"token cannot see; choose another name")
            merged = {**hidden, **merged}
        else:
            merged = semantic.merge(current, patch, schema, facts=facts, policy=policy)
        self._catalog.save_mappings(record.id, merged)
        return self.mappings(record.id, tenant=tenant)

    def _dialect_facts(self, record: SourceRecord) -> connectors.DialectFacts:
        """The dialect the source's SQL is checked in, with its connector's facts (the
        pooled connector: building one does not connect). When none can be built now (a
        driver missing), sqlglot's generic dialect: definitions are still checked."""
        try:
            return connectors.dialect_facts(self._connector(record))
        except NLQueryError as exc:
            log.warning("source %s: no connector (%s); checking its SQL in the generic dialect", record.name,
                        exc.code)
            return connectors.DialectFacts("")

    def resolver(self, name_or_id: str) -> semantic.Resolver:
        """Maps what people say ("clients", "signup date") to schema keys."""
        record = self._catalog.get_source(name_or_id)
        return semantic.Resolver(self.schema(record.id), self._catalog.get_mappings(record.id))

    def import_mappings(self, name_or_id: str, document: Any, *,
                        tenant: str | Principal | None = None) -> dict[str, Any]:
        """Merge a mapping document (as read from a YAML or JSON file: ``{key: {description,
        synonyms}}``, optionally under ``mappings``, with optional top-level ``metrics:`` and
        ``segments:``) into the source's mappings; see :meth:`update_mappings`."""
        patch = semantic.document_patch(document)
        if not isinstance(patch, Mapping):
            raise InvalidRequest("a mapping document must hold an object of key -> {description, synonyms}")
        return self.update_mappings(name_or_id, patch, tenant=tenant)

    def export_mappings(self, name_or_id: str, fmt: str = "yaml", *,
                        tenant: str | Principal | None = None) -> str:
        """The source's mappings as a YAML or JSON document :meth:`import_mappings` reads back."""
        if fmt not in ("yaml", "json"):
            raise InvalidRequest(f"format must be yaml or json, not {fmt!r}")
        current = self.mappings(name_or_id, tenant=tenant)["mappings"]
        return semantic.dump({k: semantic.SemanticMapping.from_dict(v) for k, v in current.items()}, fmt)

    # -- questions (delegated to self.questions) ----------------------------------------------
    @audited("ask")
    def ask(self, source: str, question: str, *, planner: str = "auto", max_rows: int | None = None,
            timezone: str | None = None, today: Any = None, max_attempts: int = 3,
            tenant: str | Principal | None = None, candidates: int = 1, repair: bool = True) -> Answer:
        """Answer a question in plain language with one guarded, parameterized read.

        ``planner``: ``llm`` (the configured OpenAI-compatible endpoint), ``rules`` (offline,
        simple questions only) or ``auto`` (the LLM when configured, else rules; with
        ``rules_first`` the rules planner is tried first as a free fast path).
        ``candidates``: how many LLM candidates to run and choose from by agreement of
        their results (``Answer.confidence``); ``repair=False``: one attempt, no repairs.
        """
        return self.questions.ask(source, question, planner=planner, max_rows=max_rows, timezone=timezone,
                                  today=today, max_attempts=max_attempts, tenant=tenant, candidates=candidates,
                                  repair=repair)

    def schema_linker(self, name_or_id: str, *, tenant: str | Principal | None = None
                      ) -> tuple[SchemaLinker, Any, dict[str, Any]]:
        """The source's schema linker (built once per snapshot version and mappings),
        with the snapshot and mappings it was built from."""
        return self.questions.schema_linker(name_or_id, tenant=tenant)

    def search_schema(self, source: str, phrase: str, *, limit: int = 5,
                      tenant: str | Principal | None = None) -> list[dict[str, Any]]:
        """The tables of ``source`` that match ``phrase`` (names, synonyms, descriptions,
        stored values), best first, by the planner's own schema linking: cheap on
        schemas of thousands of tables. Tables and columns the policy hides are left out."""
        return self.questions.search_schema(source, phrase, limit=limit, tenant=tenant)

    def list_tables(self, source: str, *, tenant: str | Principal | None = None) -> list[str]:
        """Qualified names of the tables of ``source`` its policy shows."""
        return self.questions.list_tables(source, tenant=tenant)

    def find_table(self, source: str, table: str, *, apply_policy: bool = True,
                   tenant: str | Principal | None = None) -> connectors.Table:
        """One table of ``source``'s latest schema by bare or qualified name (any case);
        ``invalid_request`` with the closest name when there is none (or, with
        ``apply_policy``, the policy hides it; the operator's CLI sees every table)."""
        return self.questions.find_table(source, table, apply_policy=apply_policy, tenant=tenant)

    def describe_table(self, source: str, table: str, *, tenant: str | Principal | None = None) -> str:
        """One table as the planner shows it to the model: columns (type, nullability,
        key), foreign keys, descriptions, synonyms and known values; hidden columns left out."""
        return self.questions.describe_table(source, table, tenant=tenant)

    def add_example(self, source: str, question: str, sql: str) -> dict[str, Any]:
        """Store a verified question -> SQL pair (checked by the guard against the source)."""
        return self.questions.add_example(source, question, sql)

    def list_examples(self, source: str) -> list[dict[str, Any]]:
        """The source's verified examples."""
        return self.questions.list_examples(source)

    def remove_example(self, source: str, example_id: str) -> None:
        """Forget a verified example."""
        self.questions.remove_example(source, example_id)

    # -- queries ---------------------------------------------------------------------------
    def connect(self, type: str | None = None, url: str | None = None, **connection: Any) -> connectors.Connector:
        """A connector for an unregistered source (type and/or URL and fields).
        It connects lazily; the Engine closes it on :meth:`close`."""
        with connector_errors():
            connector = connectors.connect(type, url, **connection)
        self._open.append(connector)
        return connector

    def validate(self, source: Source, sql: str, *, max_rows: int | None = None,
                 policy: Policy | None = None, schema: connectors.Schema | None = None,
                 tenant: str | Principal | None = None) -> SafeQuery:
        """The guard's verdict on ``sql`` for ``source``, without running it."""
        connector, policy, schema = self._resolve(source, policy, schema, tenant)
        cap = self.max_rows if max_rows is None else max_rows
        # One row past the cap lets the connector tell that the result was truncated.
        # Accepted statements are cached (keyed by SQL, dialect, policy, schema, cap).
        return cached_validate(sql, connector.dialect, policy=policy, schema=schema, max_rows=cap + 1,
                               facts=connectors.dialect_facts(connector))

    @audited("query")
    def query(self, source: Source, sql: str, params: Sequence[Any] | None = None, *,
              max_rows: int | None = None, timeout_s: float | None = None,
              policy: Policy | None = None, schema: connectors.Schema | None = None,
              result: str = "json", tenant: str | Principal | None = None) -> connectors.QueryResult:
        """Validate ``sql`` read-only, bind ``$1, $2 ...`` to ``params`` and run it.

        ``source`` is a registered name or id (its policy and latest schema apply) or
        a connector. Returns at most ``max_rows`` rows (``truncated`` says whether more
        existed). Raises :class:`~nlquery.errors.NLQueryError` subclasses only.

        ``tenant``: who asks (see :meth:`get_source`); a token's principal also brings
        its policy overlay (merged with the source's, the stricter wins) and row cap.

        ``result="json"`` (default): JSON-safe values (see :mod:`nlquery.encoding` for
        the mapping). ``result="native"``: the driver's values untouched (Decimal,
        datetime, UUID, bytes ...; rows as the driver's tuples), no conversion paid;
        :func:`nlquery.encoding.dumps` writes them as the same JSON. Connectors whose
        ``execute`` has no ``convert`` keyword return their usual rows either way.
        """
        if result not in ("json", "native"):
            raise InvalidRequest(f"result must be 'json' or 'native', not {result!r}")
        cap, connector, safe = self._guarded(source, sql, params, max_rows, policy, schema, tenant)
        return self._run(connector, safe, params or [], cap, timeout_s, convert=result == "json")

    @audited("query")
    def query_arrow(self, source: Source, sql: str, params: Sequence[Any] | None = None, *,
                    max_rows: int | None = None, timeout_s: float | None = None,
                    policy: Policy | None = None, schema: connectors.Schema | None = None,
                    tenant: str | Principal | None = None) -> Any:
        """:meth:`query` as a ``pyarrow.Table`` (extra ``arrow``): the same guard, session,
        caps and values; schema metadata ``nlquery.truncated``. Read by the driver's own
        columnar path where the connector has one (PostgreSQL: ADBC, decoded in C++ from
        binary COPY), else built column by column from the driver's values (types in
        :func:`nlquery.encoding.arrow_table`)."""
        from nlquery import encoding

        encoding._pyarrow()  # a missing pyarrow is driver_not_installed before anything runs
        cap, connector, safe = self._guarded(source, sql, params, max_rows, policy, schema, tenant)
        if connectors.supports(connector, connectors.Capability.ARROW) and \
                getattr(connector, "arrow_available", lambda: True)():
            driver_sql, ordered = safe.bind(list(params or []),
                                            getattr(connector, "arrow_paramstyle", connector.paramstyle))
            with breaker.guarded(connector), connector_errors():
                return connector.execute_arrow(driver_sql, ordered, max_rows=cap,
                                               timeout_s=self.timeout_s if timeout_s is None else timeout_s)
        native = self._run(connector, safe, params or [], cap, timeout_s, convert=False)
        return encoding.arrow_table(native.columns, native.rows, truncated=native.truncated)

    def stream(self, source: Source, sql: str, params: Sequence[Any] | None = None, *,
               max_rows: int | None = None, timeout_s: float | None = None,
               policy: Policy | None = None, schema: connectors.Schema | None = None,
               tenant: str | Principal | None = None) -> ResultStream:
        """:meth:`query` with the rows streamed from the source's cursor as they are
        fetched (driver values, as ``result="native"``): memory holds a few chunks
        whatever the row count. Errors before the first row raise here; later ones from
        the iteration. The reader sets the pace for half of ``timeout_s`` (the source's
        connection is held meanwhile); then the rest is read into memory, within the
        caps, and the source freed. Close it (``with``) to stop early::

            with engine.stream("shop", "SELECT * FROM orders", max_rows=1_000_000) as rows:
                print(rows.columns)
                for chunk in rows:
                    ...
                print(rows.row_count, rows.truncated)
        """
        return self._stream(source, sql, params, max_rows, timeout_s, policy, schema, tenant).open()

    async def stream_async(self, source: Source, sql: str, params: Sequence[Any] | None = None, *,
                           max_rows: int | None = None, timeout_s: float | None = None,
                           policy: Policy | None = None, schema: connectors.Schema | None = None,
                           tenant: str | Principal | None = None) -> ResultStream:
        """:meth:`stream` for an event loop: the read runs in a worker thread, the caller
        awaits its first rows (``await``) and its chunks (``async for chunk in
        stream.achunks()``) without blocking the loop."""
        return await self._stream(source, sql, params, max_rows, timeout_s, policy, schema, tenant).aopen()

    def _stream(self, source: Source, sql: str, params: Sequence[Any] | None, max_rows: int | None,
                timeout_s: float | None, policy: Policy | None, schema: connectors.Schema | None,
                tenant: str | Principal | None) -> ResultStream:
        timeout = self.timeout_s if timeout_s is None else timeout_s
        cap = self._row_cap(max_rows, tenant)
        return ResultStream(lambda left: self.query(source, sql, params, max_rows=cap, timeout_s=left, policy=policy,
                                               schema=schema, result="native", tenant=tenant),
                            max_rows=cap, timeout_s=timeout)

    def _row_cap(self, max_rows: int | None, tenant: str | Principal | None) -> int:
        cap = self.max_rows if max_rows is None else max_rows
        if isinstance(tenant, Principal):
            cap = tenant.max_rows(cap, self.max_rows)
        if cap < 0:
            raise InvalidRequest("max_rows must be >= 0")
        return cap

    def _guarded(self, source: Source, sql: str, params: Sequence[Any] | None, max_rows: int | None,
                 policy: Policy | None, schema: connectors.Schema | None,
                 tenant: str | Principal | None = None) -> tuple[int, Any, SafeQuery]:
        cap = self._row_cap(max_rows, tenant)
        if params is not None and (isinstance(params, (str, bytes)) or not isinstance(params, Sequence)):
            raise InvalidRequest("parameters must be a list of values")
        connector, policy, schema = self._resolve(source, policy, schema, tenant)
        safe = cached_validate(sql, connector.dialect, policy=policy, schema=schema, max_rows=cap + 1,
                               facts=connectors.dialect_facts(connector))
        audit.note(sql=safe.sql, dialect=connector.dialect)
        return cap, connector, safe

    def explain(self, source: Source, sql: str, params: Sequence[Any] | None = None, *,
                max_rows: int | None = None) -> dict[str, Any]:
        """What :meth:`query` would run, without running it: the guarded SQL as the driver
        gets it with its bound parameters and, for sources that translate SQL (MongoDB),
        their plan (the aggregation pipeline)."""
        safe = self.validate(source, sql, max_rows=max_rows)
        connector = self._resolve(source, None, None)[0]  # cached by validate's own lookup
        driver_sql, ordered = safe.bind(list(params or []), connector.paramstyle)
        explained: dict[str, Any] = {"sql": driver_sql, "parameters": ordered}
        if connectors.supports(connector, connectors.Capability.EXPLAIN):
            with connector_errors():
                explained["plan"] = connector.explain(driver_sql, ordered)
        return explained

    def _run(self, connector: connectors.Connector, safe: SafeQuery, params: Sequence[Any], max_rows: int,
             timeout_s: float | None = None, *, convert: bool = True) -> connectors.QueryResult:
        """Execute a statement the guard accepted: every path ends here. ``convert=False``
        asks the connector for its driver's own values (when it takes the keyword)."""
        driver_sql, ordered = safe.bind(list(params), connector.paramstyle)
        options: dict[str, Any] = {"max_rows": max_rows,
                                   "timeout_s": self.timeout_s if timeout_s is None else timeout_s}
        if not convert and _takes(connector, "execute", "convert"):
            options["convert"] = False
        with breaker.guarded(connector), connector_errors():  # a failing source fails fast for a while
            return connector.execute(driver_sql, ordered, **options)

    def introspect(self, source: connectors.Connector, *, schemas: Sequence[str] | None = None,
                   progress: ProgressCallback | None = None) -> connectors.Schema:
        """Read an unregistered source's schema (no catalog involved), within
        :attr:`extraction_timeout_s`."""
        with connector_errors():
            return self._introspect_within(source, schemas, progress)

    RESOLVE_TTL_S = 1.0
    """How long a query may reuse a source's record and snapshot without asking the
    catalog again: changes made through this Engine apply at once, changes made by
    another process within this time."""

    def _resolve(self, source: Source, policy: Policy | None, schema: connectors.Schema | None,
                 tenant: str | Principal | None = None):
        if not isinstance(source, str):
            return source, policy, schema
        who = tenant if isinstance(tenant, Principal) else None
        key = (source, who.lookup_tenant if who else tenant)
        overlay = who.overlay if who else None
        cached = self._resolved.get(key)
        if cached is not None and cached[0] > time.monotonic():
            _, record, snapshot = cached
        else:
            record = self._catalog.get_source(*key)
            snapshot = self._latest_snapshot(record.id)
            if snapshot is None and (record.policy is not None or overlay):
                # Exposure rules resolve names against the schema: a restricted source
                # is read now rather than queried blind.
                self.refresh_schema(record.id)
                snapshot = self._latest_snapshot(record.id)
            self._resolved[key] = (time.monotonic() + self.RESOLVE_TTL_S, record, snapshot)
        if who is not None and not who.reaches(record.id, record.name):
            raise DataSourceNotFound(f"no data source named or with id {source!r}")
        audit.note(source=record.id, source_name=record.name)
        return (self._connector(record), merge_policy(policy or record.policy, overlay),
                schema or (snapshot.schema if snapshot else None))

    def _latest_snapshot(self, source_id: str) -> Any:
        """The latest snapshot, parsed once per version (a query must not re-read the
        whole schema from the catalog)."""
        version = self._catalog.latest_version(source_id)
        cached = self._snapshots.get(source_id)
        if version is None:
            return None
        if cached is None or cached.version != version:
            cached = self._catalog.latest_snapshot(source_id)
            self._snapshots[source_id] = cached
        return cached

    def _connector(self, record: SourceRecord) -> connectors.Connector:
        with self._lock:
            if record.id not in self._pool:
                with connector_errors():
                    egress = EgressPolicy.from_environment(remote=record.remote)
                    self._pool[record.id] = connectors.connect(**self._catalog.connection_config(record),
                                                               egress=egress, untrusted=record.remote)
            return self._pool[record.id]

    def _forget(self, source_id: str) -> None:
        self._resolved.clear()
        with self._lock:
            connector = self._pool.pop(source_id, None)
        if connector is not None:
            connector.close()

    def close(self) -> None:
        """Close every connection and the catalog; running extractions finish first
        (their connections must not close under them), queued ones resume next time."""
        extractions, self._extractions = self._extractions, None
        if extractions is not None:
            extractions.shutdown(wait=True)
        with self._lock:
            pooled, self._pool = list(self._pool.values()), {}
        for connector in pooled + self._open:
            connector.close()
        self._open.clear()
        writer, self._auditor = self.__dict__.get("_auditor"), None
        if writer is not None:
            writer.close()  # every queued audit record is stored before the catalog closes
        if self._opened_catalog is not None:
            self._opened_catalog.close()
            self._opened_catalog = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- for front-ends: tokens, tool-call results, extraction failures ------------------
    def active_token_digests(self) -> list[str]:
        """Hex SHA-256 digests of the API tokens stored in the catalog and not revoked."""
        return self._catalog.active_token_digests()

    # -- the audit trail ------------------------------------------------------------------
    def _audit_writer(self) -> audit.AuditWriter | None:
        """The background writer of audit records (None with NLQUERY_AUDIT=off)."""
        writer = self.__dict__.get("_auditor")
        if writer is None and audit.enabled():
            catalog = self._catalog
            with self._lock:
                writer = self.__dict__.get("_auditor")
                if writer is None:
                    writer = self._auditor = audit.AuditWriter(catalog.insert_audit, catalog.prune_audit,
                                                               retention_days=audit.retention_days())
        return writer

    def audit(self, entry: Mapping[str, Any]) -> None:
        """Queue an audit record made by a front-end (a refused request, a tool callback);
        see :mod:`nlquery.audit` for its fields. Returns at once."""
        writer = self._audit_writer()
        if writer is not None:
            writer.submit(dict(entry))

    def flush_audit(self, timeout_s: float = 30.0) -> bool:
        """Wait until every queued audit record is stored."""
        writer = self.__dict__.get("_auditor")
        return writer.flush(timeout_s) if writer is not None else True

    def audit_log(self, *, source: str | None = None, tenant: str | None = None, since: Any = None,
                  until: Any = None, outcome: str | None = None, cursor: str | None = None,
                  after: int | None = None, limit: int = 100) -> dict[str, Any]:
        """Audit records, newest first: ``{"records": [...], "next_cursor": str | None}``
        (pass ``next_cursor`` back as ``cursor`` for the next page). ``since``/``until``:
        ISO 8601 times or ``15m``, ``2h``, ``7d``; ``outcome``: ``ok``, ``error`` (any
        failure) or an error code; ``after``: records with a larger id, oldest first
        (for following)."""
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidRequest("limit must be between 1 and 1000")
        before_id = None
        if cursor:
            if not str(cursor).isdigit():
                raise InvalidRequest(f"invalid cursor {cursor!r}")
            before_id = int(cursor)
        records = self._catalog.list_audit(source=source, tenant=tenant, since=audit.parse_time(since, "since"),
                                          until=audit.parse_time(until, "until"), outcome=outcome,
                                          before_id=before_id, after_id=after, limit=limit)
        more = after is None and len(records) == limit
        return {"records": records, "next_cursor": str(records[-1]["id"]) if more else None}

    # -- API tokens (the operator's) ------------------------------------------------------
    def create_token(self, name: str, *, tenant: str = "default", scopes: Sequence[str] | None = None,
                     sources: Sequence[str] | None = None, policy: Mapping[str, Any] | None = None
                     ) -> dict[str, Any]:
        """A new API token of ``tenant`` with ``scopes`` (default: every scope but
        ``admin``), optionally limited to ``sources`` (names or ids) and to a policy
        overlay (``denied_tables``, ``denied_columns``, ``max_rows``). The returned
        ``token`` is shown once: only its digest is stored."""
        return self._catalog.create_token(name, tenant=tenant, scopes=scopes, sources=sources, policy=policy)

    def list_tokens(self) -> list[dict[str, Any]]:
        """Every token (never its value): id, name, tenant, scopes, sources, policy, revoked."""
        return self._catalog.list_tokens()

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        """Revoke a token by id (the service stops accepting it within seconds)."""
        self._catalog.revoke_token(token_id)
        return {"id": token_id, "revoked": True}

    def active_tokens(self) -> list[tuple[str, Principal]]:
        """``(hex digest, principal)`` of every stored token not revoked (for the guard)."""
        return self._catalog.active_tokens()

    def stored_tool_result(self, execution_id: str) -> tuple[str | None, Any] | None:
        """``(request_digest, result)`` kept for a tool call's ``execution_id``, or None
        (unknown or expired). The digest is None for results kept before digests were."""
        stored = self._catalog.stored_tool_result(execution_id)
        if stored is None:
            return None
        if isinstance(stored, dict) and set(stored) == {"request_digest", "result"}:
            return stored["request_digest"], stored["result"]
        return None, stored

    def store_tool_result(self, execution_id: str, result: Any, *, request_digest: str,
                          retention_s: int) -> tuple[str | None, Any]:
        """Keep a tool call's result with the digest of its request, for ``retention_s``.
        The first writer of an id wins: returns what is kept now, ours or an earlier one."""
        self._catalog.store_tool_result(execution_id, {"request_digest": request_digest, "result": result},
                                       retention_s)
        return self.stored_tool_result(execution_id) or (request_digest, result)

    def mark_schema_error(self, name_or_id: str, reason: str) -> None:
        """Record that a background extraction failed outside the Engine's own handling."""
        record = self._catalog.get_source(name_or_id)
        self._catalog.set_status(record.id, schema_status="error", schema_error=reason)


def _visible_diff(diff: dict[str, Any], policy: Policy | None, schema: connectors.Schema) -> dict[str, Any]:
    """A snapshot diff without the tables and columns ``policy`` hides (removed ones too:
    judged by their names)."""
    if policy is None:
        return diff

    def table(name: str) -> connectors.Table:
        owner, _, bare = name.rpartition(".")
        return connectors.Table(name=bare, schema=owner or schema.default_schema)

    def column_shown(key: str) -> bool:
        name, _, column = key.rpartition(".")
        return policy.table_visible(table(name)) and policy.column_visible(table(name), column)

    shown = dict(diff)
    for key in ("tables_added", "tables_removed"):
        shown[key] = [n for n in diff.get(key, []) if policy.table_visible(table(n))]
    for key in ("columns_added", "columns_removed"):
        shown[key] = [n for n in diff.get(key, []) if column_shown(n)]
    shown["columns_changed"] = [c for c in diff.get("columns_changed", []) if column_shown(c["column"])]
    return shown


class _QuestionsHost:
    """The Engine as :class:`nlquery.asking.Questions` sees it (:class:`nlquery.asking.Host`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def max_rows(self) -> int:
        return self._engine.max_rows

    @property
    def llm(self) -> LLMConfig:
        return self._engine.llm

    @property
    def rules_first(self) -> bool:
        return self._engine.rules_first

    def record(self, source: str, tenant: str | Principal | None) -> SourceRecord:
        return self._engine._lookup(source, tenant)

    def connector(self, record: SourceRecord) -> connectors.Connector:
        return self._engine._connector(record)

    def snapshot(self, source_id: str) -> Any:
        snapshot = self._engine._latest_snapshot(source_id)
        if snapshot is None:
            self._engine.refresh_schema(source_id)
            snapshot = self._engine._latest_snapshot(source_id)
        return snapshot

    def store(self) -> Catalog:
        return self._engine._catalog

    def dialect_facts(self, record: SourceRecord) -> connectors.DialectFacts:
        return self._engine._dialect_facts(record)

    def check(self, connector: connectors.Connector, sql: str, *, policy: Policy | None,
              schema: connectors.Schema | None, max_rows: int) -> SafeQuery:
        return validate_sql(sql, connector.dialect, policy=policy, schema=schema, max_rows=max_rows,
                            facts=connectors.dialect_facts(connector))

    def validate(self, source: str, sql: str) -> SafeQuery:
        return self._engine.validate(source, sql)

    def run(self, connector: connectors.Connector, safe: SafeQuery, params: Sequence[Any],
            max_rows: int) -> connectors.QueryResult:
        return self._engine._run(connector, safe, params, max_rows)
