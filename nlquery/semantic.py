"""Semantic mappings: descriptions and synonyms that make a schema understandable, and
definitions (metrics, segments) that carry what words cannot.

Keys are ``table``, ``table.column`` or ``schema.table[.column]``; values
``{description, synonyms[]}``. Definitions are keyed ``metric:NAME`` (``{sql}``: a named
SQL expression over qualified columns, ``revenue = SUM(order_items.unit_price *
order_items.quantity)``) and ``segment:NAME`` (``{table, where}``: a named filter,
``account managers = employees WHERE title = 'Sales Support Agent'``), with the same
description and synonyms. The guard checks them when they are set, as it checks a query
of the source: in the source's dialect (its :class:`~connectors.base.DialectFacts` and
the read-only functions its schema declares), against its schema and its exposure
policy; a refusal is ``invalid_request`` naming the definition. Updates follow PATCH
semantics: keys merge, ``null`` removes a key, ``synonyms`` replaces the list. Keys are validated against the current
schema (case-insensitive, with a close-match suggestion). A mapping whose table or
column has disappeared stays stored and is reported as stale.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from connectors.base import DialectFacts
from connectors.models import Schema, Table
from nlquery.errors import InvalidRequest
from nlquery.names import closest, did_you_mean


METRIC = "metric:"
SEGMENT = "segment:"
DEFINITION_FIELDS = ("sql", "table", "where")


@dataclass
class SemanticMapping:
    """What people call a table or column, and what it means; for a ``metric:`` key its
    SQL expression (``sql``), for a ``segment:`` key its table and filter (``table``, ``where``)."""

    description: str | None = None
    synonyms: list[str] = field(default_factory=list)
    sql: str | None = None
    table: str | None = None
    where: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"description": self.description, "synonyms": list(self.synonyms)}
        data.update({k: getattr(self, k) for k in DEFINITION_FIELDS if getattr(self, k) is not None})
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SemanticMapping:
        return cls(data.get("description"), list(data.get("synonyms") or []),
                   **{k: data.get(k) for k in DEFINITION_FIELDS})

    @property
    def definition(self) -> dict[str, str]:
        """The stored definition fields (empty for a table or column)."""
        return {k: getattr(self, k) for k in DEFINITION_FIELDS if getattr(self, k) is not None}


def is_definition(key: str) -> bool:
    return key.startswith((METRIC, SEGMENT))


def definition_name(key: str) -> str:
    return key.split(":", 1)[1]


class _Patch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = None
    synonyms: list[str] | None = None
    sql: str | None = None
    table: str | None = None
    where: str | None = None

    @field_validator("synonyms")
    @classmethod
    def _clean(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cleaned = list(dict.fromkeys(s.strip() for s in value if s and s.strip()))
        if any(len(s) > 200 for s in cleaned):
            raise ValueError("a synonym is at most 200 characters")
        return cleaned


# -- keys --------------------------------------------------------------------------
def canonical_key(key: str, schema: Schema) -> str:
    """The schema's own spelling of ``key`` (``Customers.Created_At`` ->
    ``customers.created_at``); :class:`InvalidRequest` with a suggestion if unknown.
    ``Metric: Revenue`` -> ``metric:revenue``."""
    kind, sep, name = key.partition(":")
    if sep and kind.strip().lower() + ":" in (METRIC, SEGMENT):
        name = " ".join(words(name)) if name.strip() else ""
        if not name or len(name) > 100:
            raise InvalidRequest(f"mapping key {key!r}: a {kind.strip().lower()} needs a name of 1-100 characters")
        return f"{kind.strip().lower()}:{name}"
    target = locate(key, schema)
    if target is None:
        raise InvalidRequest(f"unknown mapping key {key!r}{_suggestion(key, all_keys(schema))}")
    table, column = target
    name = schema.qualified_name(table)
    return f"{name}.{column}" if column else name


def locate(key: str, schema: Schema) -> tuple[Table, str | None] | None:
    """The table (and column name) a key points at, or None."""
    key = key.strip()
    table = schema.table(key)
    if table is not None:
        return table, None
    head, _, tail = key.rpartition(".")
    if head:
        table = schema.table(head)
        column = table.column(tail) if table is not None else None
        if column is not None:
            return table, column.name  # type: ignore[union-attr]
    return None


def all_keys(schema: Schema) -> list[str]:
    keys = []
    for table in schema.tables:
        name = schema.qualified_name(table)
        keys.append(name)
        keys.extend(f"{name}.{c.name}" for c in table.columns)
    return keys


def _suggestion(key: str, keys: list[str]) -> str:
    table, _, column = key.rpartition(".")
    if table and any(k.lower() == table.lower() for k in keys):
        # The table is right: look for the column among that table's columns only.
        prefix = next(k for k in keys if k.lower() == table.lower()) + "."
        columns = [k for k in keys if k.startswith(prefix) and "." not in k[len(prefix):]]
        match = closest(column, [k[len(prefix):] for k in columns])
        return f"; did you mean {prefix + match!r}?" if match else ""
    return did_you_mean(key, keys)


# -- merging -----------------------------------------------------------------------
def merge(
    current: Mapping[str, SemanticMapping], patch: Mapping[str, Any], schema: Schema, dialect: str = "", *,
    facts: DialectFacts | None = None, policy: Any = None,
) -> dict[str, SemanticMapping]:
    """Apply a PATCH to ``current``; returns the new full mapping set.

    Keys are checked against ``schema``; metric and segment definitions go through the
    guard in ``dialect`` (or ``facts.dialect``, with the functions ``facts`` adds) with
    ``policy`` (:func:`validate_definition`)."""
    if not isinstance(patch, Mapping):
        raise InvalidRequest("mappings must be an object of key -> {description, synonyms}")
    merged = dict(current)
    folded = {k.lower(): k for k in merged}
    for key, value in patch.items():
        if not isinstance(key, str) or not key.strip():
            raise InvalidRequest("a mapping key must be a non-empty string")
        if value is None:  # removal: also works for a stale key no longer in the schema
            existing = folded.get(key.strip().lower())
            if existing is None:
                existing = folded.get(canonical_key(key, schema).lower())
            if existing is not None:
                merged.pop(existing, None)
            continue
        canonical = canonical_key(key, schema)
        if not isinstance(value, Mapping):
            raise InvalidRequest(f"mapping {key!r}: expected an object such as {{description, synonyms}}, "
                                 f"or null to remove it")
        try:
            update = _Patch.model_validate(value)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
            raise InvalidRequest(f"mapping {key!r}: {problems}") from None
        fields = update.model_fields_set
        given = [f for f in DEFINITION_FIELDS if f in fields]
        if given and not is_definition(canonical):
            raise InvalidRequest(f"mapping {key!r}: {', '.join(given)} belong to metric:NAME or segment:NAME keys")
        previous = merged.pop(folded.get(canonical.lower(), canonical), SemanticMapping())
        mapping = SemanticMapping(
            description=update.description if "description" in fields else previous.description,
            synonyms=update.synonyms if "synonyms" in fields and update.synonyms is not None
            else list(previous.synonyms),
            **{f: (getattr(update, f) if f in fields else getattr(previous, f)) for f in DEFINITION_FIELDS},
        )
        if is_definition(canonical):
            mapping = validate_definition(canonical, mapping, schema, dialect, facts=facts, policy=policy)
        merged[canonical] = mapping
        folded[canonical.lower()] = canonical
    return merged


def definition_tables(key: str, mapping: SemanticMapping, schema: Schema, dialect: str = "") -> list[str]:
    """The schema's names of the tables a metric or segment reads, first the one it is
    about; its text is parsed in ``dialect`` (the source's: ``col::date`` and ``~`` are
    PostgreSQL's). :class:`InvalidRequest` naming ``key`` if it does not parse or names
    an unknown table."""
    import sqlglot
    from sqlglot import exp

    found: list[str] = []
    if mapping.table:
        table = schema.table(mapping.table)
        if table is None:
            raise InvalidRequest(f"{key}: unknown table {mapping.table!r}"
                                 f"{did_you_mean(mapping.table, [schema.qualified_name(t) for t in schema.tables])}")
        found.append(schema.qualified_name(table))
    text = mapping.sql if key.startswith(METRIC) else mapping.where
    if text:
        try:
            tree = sqlglot.parse_one(text, read=dialect or None)
        except Exception as exc:  # noqa: BLE001 - sqlglot's errors vary
            raise InvalidRequest(f"{key}: cannot parse {text!r}: {str(exc).splitlines()[0][:200]}") from None
        for column in tree.find_all(exp.Column):
            if column.table:
                table = schema.table(f"{column.db}.{column.table}" if column.db else column.table)
                if table is None:
                    raise InvalidRequest(f"{key}: unknown table {column.table!r}"
                                         f"{did_you_mean(column.table, [t.name for t in schema.tables])}")
                name = schema.qualified_name(table)
                if name not in found:
                    found.append(name)
    return found


def validate_definition(key: str, mapping: SemanticMapping, schema: Schema, dialect: str = "", *,
                        facts: DialectFacts | None = None, policy: Any = None) -> SemanticMapping:
    """Check a metric or segment with the guard as a query of the source would be: in
    ``dialect`` (default ``facts.dialect``; empty is sqlglot's generic SQL), with the
    functions ``facts`` and ``schema.read_only_functions`` add, against ``schema`` (every
    table and column known) and ``policy`` (nothing it hides). :class:`InvalidRequest`
    starting with ``key`` and saying what is wrong."""
    from nlquery.errors import NLQueryError
    from nlquery.guard import validate_sql

    if facts is not None and not dialect:
        dialect = facts.dialect
    if facts is not None and facts.dialect != dialect:
        facts = None  # facts of another dialect would add the wrong functions

    metric = key.startswith(METRIC)
    if metric and not (mapping.sql or "").strip():
        raise InvalidRequest(f"{key}: a metric needs sql, an expression such as SUM(orders.total_amount)")
    if metric and mapping.where:
        raise InvalidRequest(f"{key}: a metric takes sql (and optionally table), not where")
    if not metric and (not mapping.table or not (mapping.where or "").strip()):
        raise InvalidRequest(f"{key}: a segment needs table and where, e.g. table: employees, "
                             f"where: title = 'Sales Support Agent'")
    if not metric and mapping.sql:
        raise InvalidRequest(f"{key}: a segment takes table and where, not sql")
    tables = definition_tables(key, mapping, schema, dialect)
    if not tables:
        raise InvalidRequest(f"{key}: qualify its columns (table.column) or give its table")
    sources = " CROSS JOIN ".join(tables)
    probe = (f"SELECT {mapping.sql} AS value FROM {sources}" if metric
             else f"SELECT * FROM {sources} WHERE {mapping.where}")
    try:
        validate_sql(probe, dialect, schema=schema, policy=policy, facts=facts)
    except NLQueryError as exc:
        raise InvalidRequest(f"{key}: {exc.message}") from None
    if mapping.table:
        mapping.table = tables[0]
    return mapping


def stale_keys(mappings: Iterable[str], schema: Schema, dialect: str = "", *,
               facts: DialectFacts | None = None) -> list[str]:
    """Mapped keys whose table or column no longer exists (for a metric or segment: one
    that no longer passes the guard against the schema, in the source's dialect)."""
    found = []
    for key in mappings:
        if is_definition(key):
            mapping = mappings[key] if isinstance(mappings, Mapping) else None
            try:
                if mapping is not None:
                    validate_definition(key, SemanticMapping(**vars(mapping)), schema, dialect, facts=facts)
            except InvalidRequest:
                found.append(key)
        elif locate(key, schema) is None:
            found.append(key)
    return found


def with_comments(schema: Schema, mappings: Mapping[str, SemanticMapping]) -> dict[str, SemanticMapping]:
    """Mappings where database comments fill in missing descriptions."""
    result = {k: SemanticMapping(m.description, list(m.synonyms), m.sql, m.table, m.where)
              for k, m in mappings.items()}
    folded = {k.lower(): k for k in result}
    for table in schema.tables:
        name = schema.qualified_name(table)
        pairs = [(name, table.comment)] + [(f"{name}.{c.name}", c.comment) for c in table.columns]
        for key, comment in pairs:
            if not comment:
                continue
            existing = folded.get(key.lower())
            if existing is None:
                result[key] = SemanticMapping(description=comment)
            elif not result[existing].description:
                result[existing].description = comment
    return result


# -- files -------------------------------------------------------------------------
def dump(mappings: Mapping[str, SemanticMapping], fmt: str = "yaml") -> str:
    data = {key: mappings[key].to_dict() for key in sorted(mappings)}
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False)
    return yaml.safe_dump(data, sort_keys=True, allow_unicode=True)


def load_file(path: Path) -> dict[str, Any]:
    """Read a JSON or YAML mapping file (``{key: {description, synonyms}}``, optionally
    under a top-level ``mappings`` key)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidRequest(f"{path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}") from None
    data = document_patch(data)
    if not isinstance(data, dict):
        raise InvalidRequest(f"{path} must hold an object of key -> {{description, synonyms}}")
    return data


def document_patch(data: Any) -> Any:
    """A mapping file as one flat patch: ``{key: ...}``, optionally under ``mappings``, with
    optional top-level ``metrics: {name: {sql, ...}}`` and ``segments: {name: {table, where, ...}}``."""
    if not isinstance(data, dict):
        return data
    sections = {k: data.get(k) for k in ("mappings", "metrics", "segments")}

    def section(value: Any) -> bool:  # not a table called "metrics": {description, synonyms}
        return isinstance(value, dict) and all(isinstance(v, dict) or v is None for v in value.values())

    if not isinstance(sections["mappings"], dict) and not any(section(sections[k]) for k in ("metrics", "segments")):
        return data
    if not isinstance(sections["mappings"], dict):
        sections["mappings"] = {k: v for k, v in data.items() if k not in ("metrics", "segments")}
    patch = dict(sections["mappings"] or {})
    for section, prefix in (("metrics", METRIC), ("segments", SEGMENT)):
        entries = sections[section]
        if entries is not None and not isinstance(entries, dict):
            fields = "sql" if prefix == METRIC else "table, where"
            raise InvalidRequest(f"{section} must be an object of NAME -> {{{fields}, description, synonyms}}")
        for name, value in (entries or {}).items():
            patch[f"{prefix}{name}"] = value
    return patch


# -- resolving what people say -----------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    key: str
    score: float
    reason: str


def words(text: str) -> list[str]:
    """``createdAt`` / ``created_at`` / ``Created At`` -> ``["created", "at"]``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return [w for w in re.split(r"[^0-9A-Za-z]+", spaced.lower()) if w]


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _phrase(text: str) -> str:
    return " ".join(_singular(w) for w in words(text))


class Resolver:
    """Maps a term people use to schema keys, best first.

    >>> resolver.resolve("clients")[0].key          # doctest: +SKIP
    'customers'
    """

    def __init__(self, schema: Schema, mappings: Mapping[str, SemanticMapping]) -> None:
        self._phrases: dict[str, list[tuple[str, float, str]]] = {}
        described = with_comments(schema, mappings)
        for table in schema.tables:
            name = schema.qualified_name(table)
            self._add(table.name, name, 1.0, "table name")
            for column in table.columns:
                self._add(column.name, f"{name}.{column.name}", 0.9, "column name")
        for key, mapping in described.items():
            for synonym in mapping.synonyms:
                self._add(synonym, key, 1.0, f"synonym {synonym!r}")
        self._described = described

    def _add(self, text: str, key: str, weight: float, reason: str) -> None:
        self._phrases.setdefault(_phrase(text), []).append((key, weight, reason))

    def resolve(self, term: str, limit: int = 5) -> list[Candidate]:
        phrase = _phrase(term)
        scores: dict[str, Candidate] = {}

        def offer(key: str, score: float, reason: str) -> None:
            if key not in scores or scores[key].score < score:
                scores[key] = Candidate(key, round(score, 3), reason)

        for key, weight, reason in self._phrases.get(phrase, []):
            offer(key, weight, reason)
        for other in difflib.get_close_matches(phrase, list(self._phrases), n=5, cutoff=0.8):
            ratio = difflib.SequenceMatcher(None, phrase, other).ratio()
            for key, weight, reason in self._phrases[other]:
                offer(key, weight * ratio * 0.8, f"close to {reason}")
        term_words = set(phrase.split())
        for key, mapping in self._described.items():
            if mapping.description and term_words:
                overlap = term_words & {_singular(w) for w in words(mapping.description)}
                if overlap:
                    offer(key, 0.5 * len(overlap) / len(term_words), "description")
        # Ties go to the shorter key: the default schema before others, tables before columns.
        return sorted(scores.values(), key=lambda c: (-c.score, c.key.count("."), c.key))[:limit]
