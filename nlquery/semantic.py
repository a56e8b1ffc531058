"""Semantic mappings: descriptions and synonyms that make a schema understandable.

Keys are ``table``, ``table.column`` or ``schema.table[.column]``; values
``{description, synonyms[]}``. Updates follow PATCH semantics: keys merge, ``null``
removes a key, ``synonyms`` replaces the list. Keys are validated against the current
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

from connectors.models import Schema, Table
from nlquery.errors import InvalidRequest
from nlquery.names import closest, did_you_mean


@dataclass
class SemanticMapping:
    """What people call a table or column, and what it means."""

    description: str | None = None
    synonyms: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"description": self.description, "synonyms": list(self.synonyms)}


class _Patch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = None
    synonyms: list[str] | None = None

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
    ``customers.created_at``); :class:`InvalidRequest` with a suggestion if unknown."""
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
    current: Mapping[str, SemanticMapping], patch: Mapping[str, Any], schema: Schema
) -> dict[str, SemanticMapping]:
    """Apply a PATCH to ``current``; returns the new full mapping set."""
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
        try:
            update = _Patch.model_validate(value)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
            raise InvalidRequest(f"mapping {key!r}: {problems}") from None
        previous = merged.pop(folded.get(canonical.lower(), canonical), SemanticMapping())
        fields = update.model_fields_set
        merged[canonical] = SemanticMapping(
            description=update.description if "description" in fields else previous.description,
            synonyms=update.synonyms if "synonyms" in fields and update.synonyms is not None
            else list(previous.synonyms),
        )
        folded[canonical.lower()] = canonical
    return merged


def stale_keys(mappings: Iterable[str], schema: Schema) -> list[str]:
    """Mapped keys whose table or column no longer exists."""
    return [key for key in mappings if locate(key, schema) is None]


def with_comments(schema: Schema, mappings: Mapping[str, SemanticMapping]) -> dict[str, SemanticMapping]:
    """Mappings where database comments fill in missing descriptions."""
    result = {k: SemanticMapping(m.description, list(m.synonyms)) for k, m in mappings.items()}
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
    if isinstance(data, dict) and isinstance(data.get("mappings"), dict):
        data = data["mappings"]
    if not isinstance(data, dict):
        raise InvalidRequest(f"{path} must hold an object of key -> {{description, synonyms}}")
    return data


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
