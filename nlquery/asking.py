"""Questions in plain language: the part of the Engine that plans.

:class:`Questions` is composed into :class:`nlquery.Engine` as ``engine.questions``
(the Engine's ``ask``, ``search_schema``, ``describe_table``... delegate to it). It owns
the schema-linker cache, verified examples, and choosing between the LLM, the rules
planner and a cached example. It sees the Engine only through :class:`Host`, a narrow
interface the Engine implements: this module never imports :mod:`nlquery.engine`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any, Protocol

import connectors
from nlquery.catalog import Catalog, SourceRecord
from nlquery.errors import InvalidRequest, LLMUnavailable, QuestionNotAnswerable
from nlquery.guard import Policy, SafeQuery
from nlquery.names import did_you_mean
from nlquery.planner import (
    Answer,
    Attempt,
    LLMClient,
    LLMConfig,
    PlanningContext,
    SchemaLinker,
    ask_llm,
    ask_rules,
    examples,
)
from nlquery.planner.linking import LinkedSchema
from nlquery.planner.prompt import render_schema
from nlquery.principal import Principal, merge_policy

Tenant = str | Principal | None


class Host(Protocol):
    """What :class:`Questions` needs of the Engine, and nothing more."""

    max_rows: int
    llm: LLMConfig
    rules_first: bool

    def record(self, source: str, tenant: Tenant) -> SourceRecord:
        """The registered source ``tenant`` reaches by that name or id."""

    def connector(self, record: SourceRecord) -> connectors.Connector:
        """The source's open (pooled) connector."""

    def snapshot(self, source_id: str) -> Any:
        """The source's latest schema snapshot, extracted first if it has none."""

    def store(self) -> Catalog:
        """The catalog: mappings and verified examples."""

    def dialect_facts(self, record: SourceRecord) -> connectors.DialectFacts:
        """The dialect (and its facts) the source's SQL is written in."""

    def check(self, connector: connectors.Connector, sql: str, *, policy: Policy | None,
              schema: connectors.Schema | None, max_rows: int) -> SafeQuery:
        """The guard's verdict on ``sql`` for this connector (its dialect and dialect facts)."""

    def validate(self, source: str, sql: str) -> SafeQuery:
        """:meth:`nlquery.Engine.validate`."""

    def run(self, connector: connectors.Connector, safe: SafeQuery, params: Sequence[Any],
            max_rows: int) -> connectors.QueryResult:
        """Execute a statement the guard accepted (the Engine's one execute path)."""


def visible_to(policy: Any, schema: connectors.Schema, value_hints: dict[str, Any],
               mappings: dict[str, Any]) -> tuple[connectors.Schema, dict[str, Any], dict[str, Any]]:
    """The schema, value hints and mappings as ``policy`` shows them (all of them with no
    policy): what a planner may put in front of a model for this caller."""
    if policy is None:
        return schema, value_hints, mappings
    hidden: set[str] = set()
    tables = []
    for table in schema.tables:
        name = schema.qualified_name(table).lower()
        if not policy.table_visible(table):
            hidden.add(name)
            hidden.update(f"{name}.{c.name.lower()}" for c in table.columns)
            continue
        visible = _visible_copy(table, policy)
        hidden.update(f"{name}.{c.name.lower()}" for c in table.columns if c not in visible.columns)
        tables.append(visible)
    shown_schema = dataclasses.replace(schema, tables=tables)
    hints = {k: v for k, v in value_hints.items() if k.lower() not in hidden}

    def shown(key: str) -> bool:
        if ":" in key:  # metric:/segment: definitions name their own tables and columns
            body = " ".join(str(getattr(mappings[key], a, "") or "") for a in ("sql", "table", "where")).lower()
            return not any(h.rsplit(".", 1)[-1] in body and h.split(".")[0] in body for h in hidden)
        return key.lower() not in hidden

    return shown_schema, hints, {k: m for k, m in mappings.items() if shown(k)}


def _visible_copy(table: connectors.Table, policy: Any) -> connectors.Table:
    return dataclasses.replace(table, columns=[c for c in table.columns if policy.column_visible(table, c.name)])


def check_timezone(name: str | None) -> None:
    """Refuse a time zone the IANA database does not know (``Mars/Olympus``), with the
    closest known name; ``None`` is the server's local time."""
    if name is None:
        return
    import zoneinfo

    try:
        if isinstance(name, str) and name.strip() == name and name:
            zoneinfo.ZoneInfo(name)
            return
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    hint = did_you_mean(str(name), sorted(zoneinfo.available_timezones()))
    raise InvalidRequest(f"unknown time zone {name!r}: give an IANA name such as 'Europe/Paris' or 'UTC'{hint}")


class Questions:
    """Plans and answers questions for the Engine (``engine.questions``)."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self._llm_client: LLMClient | None = None
        self._linkers: dict[tuple[Any, ...], tuple[SchemaLinker, dict[str, Any]]] = {}

    def ask(self, source: str, question: str, *, planner: str = "auto", max_rows: int | None = None,
            timezone: str | None = None, today: Any = None, max_attempts: int = 3,
            tenant: Tenant = None, candidates: int = 1, repair: bool = True) -> Answer:
        """See :meth:`nlquery.Engine.ask`."""
        host = self._host
        if not isinstance(candidates, int) or isinstance(candidates, bool) or not 1 <= candidates <= 8:
            raise InvalidRequest("candidates must be an integer from 1 to 8")
        if not isinstance(question, str) or not question.strip():
            raise InvalidRequest("the question is empty")
        if planner not in {"auto", "llm", "rules"}:
            raise InvalidRequest("planner must be auto, llm or rules")
        check_timezone(timezone)
        record = host.record(source, tenant)
        connector = host.connector(record)
        who = tenant if isinstance(tenant, Principal) else None
        if who is not None:
            max_rows = who.max_rows(max_rows, host.max_rows)
        context = self._planning_context(record, connector, max_rows, timezone, today,
                                         overlay=who.overlay if who else None)
        similar = examples.most_similar(question, host.store().list_examples(record.id))
        context.examples = [example for _, example in similar]
        if similar and similar[0][0] >= examples.NEAR_EXACT and planner != "rules":
            reused = self._reuse_example(question, similar[0][1], context)
            if reused is not None:
                return reused
        use_llm = planner == "llm" or (planner == "auto" and host.llm.configured)
        buckets = connector.date_buckets if connectors.supports(connector, connectors.Capability.DATE_BUCKETS) \
            else None
        if not use_llm:
            return ask_rules(question, context, buckets)
        if host.rules_first and planner == "auto":
            try:
                return ask_rules(question, context, buckets)
            except QuestionNotAnswerable:
                pass
        if self._llm_client is None:
            self._llm_client = LLMClient(host.llm)
        return ask_llm(question, context, self._llm_client, max_attempts=max_attempts, candidates=candidates,
                       repair=repair)

    def prepare(self) -> None:
        """Make the LLM client now when an LLM is configured: importing the openai library
        takes ~0.6 s (seconds on a busy machine), which the first question would otherwise
        pay inside its request, on top of its LLM timeout. A service calls this as it starts."""
        if self._llm_client is None and self._host.llm.configured:
            try:
                self._llm_client = LLMClient(self._host.llm)
            except LLMUnavailable:
                pass  # the first question that needs the LLM says why

    def schema_linker(self, name_or_id: str, *, tenant: Tenant = None, policy: Any = None
                      ) -> tuple[SchemaLinker, Any, dict[str, Any]]:
        """See :meth:`nlquery.Engine.schema_linker`. With ``policy``, the linker (and so
        the prompt) knows only what that policy shows: hidden tables, hidden columns and
        their values and mappings never reach the model."""
        record = self._host.record(name_or_id, tenant)
        snapshot = self._host.snapshot(record.id)
        mappings = self._host.store().get_mappings(record.id)
        fingerprint = repr(sorted((k, m.description, tuple(m.synonyms), m.sql, m.table, m.where)
                                  for k, m in mappings.items()))
        key = (record.id, snapshot.version, fingerprint, policy)
        if key not in self._linkers:
            self._linkers = {k: v for k, v in self._linkers.items()
                             if k[0] != record.id or (k[1:3] == key[1:3] and len(self._linkers) < 64)}
            schema, hints, shown = visible_to(policy, snapshot.schema, snapshot.value_hints, mappings)
            dialect = self._host.dialect_facts(record).dialect
            self._linkers[key] = (SchemaLinker(schema, shown, hints, dialect=dialect), shown)
        linker, shown = self._linkers[key]
        return linker, snapshot, shown

    def _policy_for(self, source: str, tenant: Tenant) -> Any:
        """The policy ``tenant`` sees ``source`` through: the source's, with a token's overlay."""
        overlay = tenant.overlay if isinstance(tenant, Principal) else None
        return merge_policy(self._host.record(source, tenant).policy, overlay)

    def search_schema(self, source: str, phrase: str, *, limit: int = 5,
                      tenant: Tenant = None) -> list[dict[str, Any]]:
        """See :meth:`nlquery.Engine.search_schema`."""
        # Linked on the schema as the caller may see it: hidden columns' values and
        # synonyms must not even steer the ranking.
        linker = self._visible_linker(source, tenant)
        found = []
        for table in linker.link(phrase, max_tables=max(1, min(limit, 20))).tables[:limit]:
            name = linker.schema.qualified_name(table)
            note = linker.mappings.get(name)
            found.append({
                "table": name,
                "description": note.description if note and note.description else None,
                "synonyms": list(note.synonyms) if note else [],
                "columns": [{"name": c.name, "type": c.type} for c in table.columns],
            })
        return found

    def list_tables(self, source: str, *, tenant: Tenant = None) -> list[str]:
        """See :meth:`nlquery.Engine.list_tables`."""
        schema = self._visible_linker(source, tenant).schema
        return [schema.qualified_name(t) for t in schema.tables]

    def find_table(self, source: str, table: str, *, apply_policy: bool = True,
                   tenant: Tenant = None) -> connectors.Table:
        """See :meth:`nlquery.Engine.find_table`."""
        schema = (self._visible_linker(source, tenant) if apply_policy
                  else self.schema_linker(source, tenant=tenant)[0]).schema
        found = schema.table(table)
        if found is not None:
            return found
        names = sorted({schema.qualified_name(t) for t in schema.tables})
        raise InvalidRequest(f"no table {table!r} in {source}{did_you_mean(table, names)}")

    def describe_table(self, source: str, table: str, *, tenant: Tenant = None) -> str:
        """See :meth:`nlquery.Engine.describe_table`."""
        linker = self._visible_linker(source, tenant)
        found = self.find_table(source, table, tenant=tenant)  # visible columns only
        linked = LinkedSchema(schema=linker.schema, tables=[found], scores={})
        return render_schema(linked, linker.mappings, linker.value_hints)

    def _visible_linker(self, source: str, tenant: Tenant) -> SchemaLinker:
        """The linker over the schema ``tenant`` may see (the source's policy and a
        token's overlay applied): what every schema lookup answers from."""
        return self.schema_linker(source, tenant=tenant, policy=self._policy_for(source, tenant))[0]

    def _reuse_example(self, question: str, example: Any, context: PlanningContext) -> Answer | None:
        safe = context.validate(example.sql)
        if safe.parameter_count:
            return None  # its values came from another question: only a few-shot example
        started = time.perf_counter()
        result = context.execute(safe, [])
        return Answer(question=question, sql=safe.sql, parameters=[], result=result,
                      explanation=f"verified example: {example.question}", tables_used=list(safe.tables),
                      attempts=[Attempt(safe.sql, [])], planner="example", cached=True,
                      timings={"linking": 0.0, "llm": 0.0, "validation": 0.0,
                               "execution": (time.perf_counter() - started) * 1000})

    def add_example(self, source: str, question: str, sql: str) -> dict[str, Any]:
        """See :meth:`nlquery.Engine.add_example`."""
        if not isinstance(question, str) or not question.strip():
            raise InvalidRequest("the question is empty")
        store = self._host.store()
        record = store.get_source(source)
        self._host.validate(record.id, sql)
        return store.add_example(record.id, question, sql)

    def list_examples(self, source: str) -> list[dict[str, Any]]:
        store = self._host.store()
        return store.list_examples(store.get_source(source).id)

    def remove_example(self, source: str, example_id: str) -> None:
        store = self._host.store()
        store.remove_example(store.get_source(source).id, example_id)

    def _planning_context(self, record: SourceRecord, connector: connectors.Connector, max_rows: int | None,
                          timezone: str | None, today: Any, overlay: Any = None) -> PlanningContext:
        host = self._host
        policy = merge_policy(record.policy, overlay)
        linker, snapshot, mappings = self.schema_linker(record.id, policy=policy)
        cap = host.max_rows if max_rows is None else max_rows
        schema = snapshot.schema  # the guard checks against everything, hidden columns included

        def validate(sql: str) -> SafeQuery:
            return host.check(connector, sql, policy=policy, schema=schema, max_rows=cap + 1)

        def execute(safe: SafeQuery, params: Sequence[Any]) -> connectors.QueryResult:
            return host.run(connector, safe, params, cap)

        # The model and the rules planner see the schema as this caller may see it.
        return PlanningContext(dialect=connector.dialect, schema=linker.schema, mappings=mappings,
                               value_hints=linker.value_hints, linker=linker, validate=validate,
                               execute=execute, today=today, timezone=timezone,
                               dialect_note=connectors.dialect_facts(connector).prompt_notes)
