"""The prompt: dialect and its quirks (the connector's dialect facts), today's date,
the linked schema rendered compactly with descriptions, synonyms, value hints and
foreign keys, verified examples, and a strict output contract (JSON with ``sql``,
``parameters``, ``explanation``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.models import Table
from nlquery.planner.linking import CHARS_PER_TOKEN, LinkedSchema
from nlquery.semantic import SemanticMapping, definition_name

SYSTEM = """You translate questions into one read-only SQL query for {dialect_note}
Today is {today} ({weekday}){timezone}.
Rules:
- Exactly one SELECT statement (WITH ... SELECT allowed). Never modify data or the session.
- Use only the tables and columns listed. Qualify columns when joining.
- Values taken from the question (names, dates, numbers, categories) must be parameters
  $1, $2, ... with their values listed in order in "parameters", never written into the SQL text.
- Filter only on what the question asks: no date range, status, LIMIT or other condition it does not
  mention. When it names a value, use the exact stored value shown after "values:".{definitions_rule}
Answer with JSON only: {{"sql": "...", "parameters": [...], "explanation": "one short sentence"}}"""


@dataclass
class Example:
    question: str
    sql: str


def render_schema(linked: LinkedSchema, mappings: Mapping[str, SemanticMapping],
                  value_hints: Mapping[str, list[Any]]) -> str:
    """A compact, DDL-like rendering of the linked tables."""
    schema = linked.schema
    lines = []
    for table in linked.tables:
        name = schema.qualified_name(table)
        head = f"TABLE {name}"
        note = _note(mappings.get(name))
        lines.append(head + (f"  -- {note}" if note else ""))
        for column in table.columns:
            key = f"{name}.{column.name}"
            parts = [f"  {column.name} {column.full_type or column.type}"]
            if column.name in table.primary_key:
                parts.append("PK")
            if not column.nullable:
                parts.append("NOT NULL")
            note = _note(mappings.get(key))
            values = value_hints.get(key)
            extra = []
            if note:
                extra.append(note)
            if values:
                shown = ", ".join(repr(v) for v in values[:12]) + (", ..." if len(values) > 12 else "")
                extra.append(f"values: {shown}")
            lines.append(" ".join(parts) + (f"  -- {'; '.join(extra)}" if extra else ""))
        for fk in table.foreign_keys:
            lines.append(f"  FK ({', '.join(fk.columns)}) -> {fk.ref_table}({', '.join(fk.ref_columns)})")
    return "\n".join(lines)


def render_compact(linked: LinkedSchema, mappings: Mapping[str, SemanticMapping],
                   value_hints: Mapping[str, list[Any]], question: str | None = None) -> str:
    """The linked tables for the model, as small as they can be: one line per table
    (columns with short types, keys and foreign keys inline), then one line per column
    that is described or whose stored values the question may filter on, then the
    metrics and segments the question names. ``value_hints`` should hold only those
    columns (see :func:`hinted_columns`). With ``question``, a column's description is
    shown only when the question may be about that column, and only the synonyms it used."""
    from nlquery.planner.linking import terms

    schema = linked.schema
    asked = " ".join(terms(question)) if question is not None else None

    def note_for(key: str, always: bool) -> str:
        mapping = mappings.get(key)
        if mapping is None or asked is None:
            return _note(mapping)
        used = [s for s in mapping.synonyms if _phrase_in(" ".join(terms(s)), asked)]
        column_words = set(terms(key.rsplit(".", 1)[-1]))
        relevant = always or bool(used) or bool(column_words & set(asked.split()))
        if not relevant:
            return ""
        return _note(SemanticMapping(mapping.description, used))

    lines = []
    for table in linked.tables:
        name = schema.qualified_name(table)
        refs = {}
        for fk in table.foreign_keys:
            for column, ref in zip(fk.columns, fk.ref_columns):
                refs[column] = f"{fk.ref_table}.{ref}"
        columns = []
        for column in table.columns:
            text = f"{column.name} {(column.type or '?').lower()}"
            if column.name in table.primary_key:
                text += " PK"
            if column.name in refs:
                text += f" -> {refs[column.name]}"
            columns.append(text)
        note = note_for(name, True)
        lines.append(f"TABLE {name} ({', '.join(columns)})" + (f"  -- {note}" if note else ""))
        for column in table.columns:
            key = f"{name}.{column.name}"
            extra = []
            note = note_for(key, key in value_hints)
            if note:
                extra.append(note)
            values = value_hints.get(key)
            if values:
                extra.append("values: " + ", ".join(repr(v) for v in values[:12]) + (", ..." if len(values) > 12 else ""))
            if extra:
                lines.append(f"  {column.name}: {'; '.join(extra)}")
    lines.extend(render_definitions(linked.definitions, mappings))
    return "\n".join(lines)


def _phrase_in(phrase: str, text: str) -> bool:
    return bool(phrase) and f" {phrase} " in f" {text} "


def render_definitions(keys: Sequence[str], mappings: Mapping[str, SemanticMapping]) -> list[str]:
    lines = []
    for key in keys:
        mapping = mappings.get(key)
        if mapping is None:
            continue
        note = f"  -- {mapping.description}" if mapping.description else ""
        if key.startswith("metric:"):
            lines.append(f"METRIC {definition_name(key)} = {mapping.sql}{note}")
        else:
            lines.append(f"SEGMENT {definition_name(key)} = {mapping.table} WHERE {mapping.where}{note}")
    return lines


def hinted_columns(question: str, linked: LinkedSchema, value_hints: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    """Stored values worth showing: only of columns the question may filter on, i.e. whose
    values it names (words or quoted literals, any case, or close to a stored value)."""
    import difflib
    import re

    shown = set(linked.names)
    keep = {key for key in linked.matched_values if key.rsplit(".", 1)[0] in shown}
    quoted = [q for pair in re.findall(r"'([^']+)'|\"([^\"]+)\"", question) for q in pair if q]
    literals = [q.lower() for q in quoted]
    tokens = [w for w in re.findall(r"[A-Za-z][A-Za-z0-9&'.-]{2,}", question)]
    capitalized = [w.lower() for w in tokens if w[0].isupper()] + literals
    # A value the linker already placed (in the table the question names) is not looked
    # for again in every other column that stores it.
    placed = {str(v).lower() for found in linked.matched_values.values() for v in found}
    literals = [lit for lit in literals if lit not in placed]
    capitalized = [word for word in capitalized if word not in placed]
    for key, values in value_hints.items():
        if key in keep or key.rsplit(".", 1)[0] not in shown:
            continue
        lowered = {str(v).lower(): v for v in values if isinstance(v, str)}
        if any(lit in lowered for lit in literals) or any(
                difflib.get_close_matches(word, list(lowered), n=1, cutoff=0.85) for word in capitalized):
            keep.add(key)
    named = {key: set(found) for key, found in linked.matched_values.items()}
    named_literals = set(capitalized)  # the quoted literals are among them
    shown_values = {}
    for key in value_hints:
        if key not in keep:
            continue
        # The values the question names first: a list cut at 12 must not cut them off.
        values = value_hints[key]
        first = [v for v in values if v in named.get(key, ()) or str(v).lower() in named_literals]
        shown_values[key] = first + [v for v in values if v not in first]
    return shown_values


def plain_ddl(tables: Sequence[Table], schema: Any = None) -> str:
    """``CREATE TABLE`` statements of ``tables``: the yardstick of prompt size."""
    out = []
    for table in tables:
        name = schema.qualified_name(table) if schema is not None else table.name
        parts = [f"  {c.name} {c.full_type or c.type}" + (" NOT NULL" if not c.nullable else "") for c in table.columns]
        if table.primary_key:
            parts.append(f"  PRIMARY KEY ({', '.join(table.primary_key)})")
        for fk in table.foreign_keys:
            parts.append(f"  FOREIGN KEY ({', '.join(fk.columns)}) REFERENCES {fk.ref_table} ({', '.join(fk.ref_columns)})")
        out.append(f"CREATE TABLE {name} (\n" + ",\n".join(parts) + "\n);")
    return "\n".join(out)


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


VARIANTS = (
    "",
    "\nBefore writing the query, decide which listed table holds each column you need, and join tables "
    "only through the foreign keys shown (->).",
    "\nPrefer the simplest query that answers exactly the question: no extra joins, columns or filters.",
)


def _note(mapping: SemanticMapping | None) -> str:
    if mapping is None:
        return ""
    parts = []
    if mapping.description:
        parts.append(mapping.description)
    if mapping.synonyms:
        parts.append("also called: " + ", ".join(mapping.synonyms))
    return "; ".join(parts)


def build_messages(question: str, dialect: str, schema_text: str, *, examples: Sequence[Example] = (),
                   today: dt.date | None = None, timezone: str | None = None,
                   feedback: Sequence[tuple[str, ...]] = (), variant: int = 0,
                   dialect_note: str = "") -> list[dict[str, str]]:
    """Chat messages for one attempt; ``feedback`` holds earlier (sql, error) pairs, or
    (sql, warning, "warning") for a query that ran but looks wrong. ``variant`` picks a
    differently worded instruction (candidates, re-asks after a repeated answer).
    ``dialect_note``: the source connector's ``DialectFacts.prompt_notes`` (the dialect's
    quirks); without it the prompt names the dialect alone."""
    today = today or dt.date.today()
    definitions_rule = ""
    if "\nMETRIC " in f"\n{schema_text}" or "\nSEGMENT " in f"\n{schema_text}":
        definitions_rule = ("\n- A METRIC or SEGMENT the question names must be used exactly as defined: the "
                            "metric's expression, the segment's table and WHERE condition.")
    system = SYSTEM.format(dialect_note=dialect_note or f"{dialect}.", today=today.isoformat(),
                           weekday=today.strftime("%A"), timezone=f", time zone {timezone}" if timezone else "",
                           definitions_rule=definitions_rule)
    system += VARIANTS[variant % len(VARIANTS)]
    messages = [{"role": "system", "content": system}]
    for example in examples:
        messages.append({"role": "user", "content": f"Question: {example.question}"})
        messages.append({"role": "assistant", "content": json.dumps({"sql": example.sql, "parameters": [],
                                                                     "explanation": "verified example"})})
    messages.append({"role": "user", "content": f"Schema:\n{schema_text}\n\nQuestion: {question}"})
    for sql, error, *kind in feedback:
        messages.append({"role": "assistant", "content": json.dumps({"sql": sql})})
        if kind and kind[0] == "warning":
            messages.append({"role": "user", "content": f"That query ran, but: {error}\nAnswer with JSON only."})
        else:
            messages.append({"role": "user", "content": f"That query failed: {error}\nFix it and answer with JSON only."})
    return messages
