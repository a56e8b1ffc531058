"""Questions in plain language: the part of :class:`nlquery.Engine` that plans.

Kept apart from the Engine's sources and queries: it owns the schema-linker cache,
verified examples, and choosing between the LLM, the rules planner and a cached example.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import connectors
from nlquery.audit import audited
from nlquery.catalog import SourceRecord
from nlquery.errors import InvalidRequest, QuestionNotAnswerable
from nlquery.guard import SafeQuery, validate_sql
from nlquery.names import did_you_mean
from nlquery.planner import (
    Answer,
    Attempt,
    LLMClient,
    PlanningContext,
    SchemaLinker,
    ask_llm,
    ask_rules,
    examples,
)
from nlquery.planner.linking import LinkedSchema
from nlquery.planner.prompt import render_schema
from nlquery.principal import Principal, merge_policy


def _visible_copy(table: connectors.Table, policy: Any) -> connectors.Table:
    return dataclasses.replace(table, columns=[c for c in table.columns if policy.column_visible(table, c.name)])


if TYPE_CHECKING:
    from nlquery.engine import Engine


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
    """Mixed into :class:`nlquery.Engine`."""

    @audited("ask")
    def ask(self: Engine, source: str, question: str, *, planner: str = "auto", max_rows: int | None = None,
            timezone: str | None = None, today: Any = None, max_attempts: int = 3,
            tenant: str | Principal | None = None, candidates: int = 1, repair: bool = True) -> Answer:
        """Answer a question in plain language with one guarded, parameterized read.

        ``planner``: ``llm`` (the configured OpenAI-compatible endpoint), ``rules`` (offline,
        simple questions only) or ``auto`` (the LLM when configured, else rules; with
        ``rules_first`` the rules planner is tried first as a free fast path).
        ``candidates``: how many LLM candidates to run and choose from by agreement of
        their results (``Answer.confidence``); ``repair=False``: one attempt, no repairs.
        """
        if not isinstance(candidates, int) or isinstance(candidates, bool) or not 1 <= candidates <= 8:
            raise InvalidRequest("candidates must be an integer from 1 to 8")
        if not isinstance(question, str) or not question.strip():
            raise InvalidRequest("the question is empty")
        if planner not in {"auto", "llm", "rules"}:
            raise InvalidRequest("planner must be auto, llm or rules")
        check_timezone(timezone)
        record = self._lookup(source, tenant)
        connector = self._connector(record)
        who = tenant if isinstance(tenant, Principal) else None
        if who is not None:
            max_rows = who.max_rows(max_rows, self.max_rows)
        context = self._planning_context(record, connector, max_rows, timezone, today,
                                         overlay=who.overlay if who else None)
        similar = examples.most_similar(question, self.catalog.list_examples(record.id))
        context.examples = [example for _, example in similar]
        if similar and similar[0][0] >= examples.NEAR_EXACT and planner != "rules":
            reused = self._reuse_example(question, similar[0][1], context)
            if reused is not None:
                return reused
        use_llm = planner == "llm" or (planner == "auto" and self.llm.configured)
        buckets = connector.date_buckets if connectors.supports(connector, connectors.Capability.DATE_BUCKETS) \
            else None
        if not use_llm:
            return ask_rules(question, context, buckets)
        if self.rules_first and planner == "auto":
            try:
                return ask_rules(question, context, buckets)
            except QuestionNotAnswerable:
                pass
        if self._llm_client is None:
            self._llm_client = LLMClient(self.llm)
        return ask_llm(question, context, self._llm_client, max_attempts=max_attempts, candidates=candidates,
                       repair=repair)

    def schema_linker(self: Engine, name_or_id: str, *, tenant: str | Principal | None = None
                      ) -> tuple[SchemaLinker, Any, dict[str, Any]]:
        """The source's schema linker (built once per snapshot version and mappings),
        with the snapshot and mappings it was built from."""
        record = self._lookup(name_or_id, tenant)
        snapshot = self._latest_snapshot(record.id)
        if snapshot is None:
            self.refresh_schema(record.id)
            snapshot = self._latest_snapshot(record.id)
        mappings = self.catalog.get_mappings(record.id)
        fingerprint = repr(sorted((k, m.description, tuple(m.synonyms), m.sql, m.table, m.where)
                                  for k, m in mappings.items()))
        key = (record.id, snapshot.version, fingerprint)
        if key not in self._linkers:
            self._linkers = {k: v for k, v in self._linkers.items() if k[0] != record.id}
            self._linkers[key] = SchemaLinker(snapshot.schema, mappings, snapshot.value_hints)
        return self._linkers[key], snapshot, mappings

    def _policy_for(self: Engine, source: str, tenant: str | Principal | None) -> Any:
        """The policy ``tenant`` sees ``source`` through: the source's, with a token's overlay."""
        overlay = tenant.overlay if isinstance(tenant, Principal) else None
        return merge_policy(self._lookup(source, tenant).policy, overlay)

    def search_schema(self: Engine, source: str, phrase: str, *, limit: int = 5,
                      tenant: str | Principal | None = None) -> list[dict[str, Any]]:
        """The tables of ``source`` that match ``phrase`` (names, synonyms, descriptions,
        stored values), best first, by the planner's own schema linking: cheap on
        schemas of thousands of tables. Tables and columns the policy hides are left out."""
        linker, snapshot, _ = self.schema_linker(source, tenant=tenant)
        policy = self._policy_for(source, tenant)
        linked = linker.link(phrase, max_tables=max(1, min(limit, 20)))
        found = []
        for table in linked.tables:
            if policy is not None and not policy.table_visible(table):
                continue
            name = snapshot.schema.qualified_name(table)
            note = linker.mappings.get(name)
            found.append({
                "table": name,
                "description": note.description if note and note.description else None,
                "synonyms": list(note.synonyms) if note else [],
                "columns": [{"name": c.name, "type": c.type} for c in table.columns
                            if policy is None or policy.column_visible(table, c.name)],
            })
        return found[:limit]

    def list_tables(self: Engine, source: str, *, tenant: str | Principal | None = None) -> list[str]:
        """Qualified names of the tables of ``source`` its policy shows."""
        snapshot = self.schema_linker(source, tenant=tenant)[1]
        policy = self._policy_for(source, tenant)
        return [snapshot.schema.qualified_name(t) for t in snapshot.schema.tables
                if policy is None or policy.table_visible(t)]

    def find_table(self: Engine, source: str, table: str, *, apply_policy: bool = True,
                   tenant: str | Principal | None = None) -> connectors.Table:
        """One table of ``source``'s latest schema by bare or qualified name (any case);
        ``invalid_request`` with the closest name when there is none (or, with
        ``apply_policy``, the policy hides it; the operator's CLI sees every table)."""
        snapshot = self.schema_linker(source, tenant=tenant)[1]
        policy = self._policy_for(source, tenant) if apply_policy else None
        found = snapshot.schema.table(table)
        if found is not None and (policy is None or policy.table_visible(found)):
            return found
        names = sorted({snapshot.schema.qualified_name(t) for t in snapshot.schema.tables
                        if policy is None or policy.table_visible(t)})
        raise InvalidRequest(f"no table {table!r} in {source}{did_you_mean(table, names)}")

    def describe_table(self: Engine, source: str, table: str, *, tenant: str | Principal | None = None) -> str:
        """One table as the planner shows it to the model: columns (type, nullability,
        key), foreign keys, descriptions, synonyms and known values; hidden columns left out."""
        linker, snapshot, _ = self.schema_linker(source, tenant=tenant)
        found = self.find_table(source, table, tenant=tenant)
        policy = self._policy_for(source, tenant)
        if policy is not None:
            found = _visible_copy(found, policy)
        linked = LinkedSchema(schema=snapshot.schema, tables=[found], scores={})
        return render_schema(linked, linker.mappings, snapshot.value_hints)

    def _reuse_example(self: Engine, question: str, example: Any, context: PlanningContext) -> Answer | None:
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

    def add_example(self: Engine, source: str, question: str, sql: str) -> dict[str, Any]:
        """Store a verified question -> SQL pair (checked by the guard against the source)."""
        if not isinstance(question, str) or not question.strip():
            raise InvalidRequest("the question is empty")
        record = self.catalog.get_source(source)
        self.validate(record.id, sql)
        return self.catalog.add_example(record.id, question, sql)

    def list_examples(self: Engine, source: str) -> list[dict[str, Any]]:
        return self.catalog.list_examples(self.catalog.get_source(source).id)

    def remove_example(self: Engine, source: str, example_id: str) -> None:
        self.catalog.remove_example(self.catalog.get_source(source).id, example_id)

    def _planning_context(self: Engine, record: SourceRecord, connector: connectors.Connector, max_rows: int | None,
                          timezone: str | None, today: Any, overlay: Any = None) -> PlanningContext:
        linker, snapshot, mappings = self.schema_linker(record.id)
        cap = self.max_rows if max_rows is None else max_rows
        policy, schema = merge_policy(record.policy, overlay), snapshot.schema

        def validate(sql: str) -> SafeQuery:
            return validate_sql(sql, connector.dialect, policy=policy, schema=schema, max_rows=cap + 1)

        def execute(safe: SafeQuery, params: Sequence[Any]) -> connectors.QueryResult:
            return self._run(connector, safe, params, cap)

        return PlanningContext(dialect=connector.dialect, schema=schema, mappings=mappings,
                               value_hints=snapshot.value_hints, linker=linker, validate=validate,
                               execute=execute, today=today, timezone=timezone)
