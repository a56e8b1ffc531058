"""The prompt: dialect and its quirks, today's date, the linked schema rendered
compactly with descriptions, synonyms, value hints and foreign keys, verified
examples, and a strict output contract (JSON with ``sql``, ``parameters``,
``explanation``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nlquery.planner.linking import LinkedSchema
from nlquery.semantic import SemanticMapping

DIALECT_NOTES = {
    "postgres": "PostgreSQL. Use date_trunc('month', col), col >= now() - interval '7 days', ILIKE for "
                "case-insensitive matching, || for concatenation.",
    "mysql": "MySQL/MariaDB. Use DATE_FORMAT(col, '%Y-%m'), DATE_SUB(NOW(), INTERVAL 7 DAY), backticks for "
             "odd identifiers, LIMIT n.",
    "sqlite": "SQLite. Dates are ISO text: use strftime('%Y-%m', col), date('now', '-7 days'), "
              "col >= '2026-01-01'; there is no date_trunc or interval type.",
    "tsql": "SQL Server. Use TOP n (no LIMIT), DATEADD/DATEDIFF, FORMAT(col, 'yyyy-MM'), square brackets for "
            "odd identifiers.",
}

SYSTEM = """You translate questions into one read-only SQL query for {dialect_note}
Today is {today} ({weekday}){timezone}.
Rules:
- Exactly one SELECT statement (WITH ... SELECT allowed). Never modify data or the session.
- Use only the tables and columns listed. Qualify columns when joining.
- Values taken from the question (names, dates, numbers, categories) must be parameters
  $1, $2, ... with their values listed in order in "parameters", never written into the SQL text.
- Filter only on what the question asks: no date range, status or other condition it does not
  mention. When it names a value, use the exact stored value shown after "values:".
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
                   feedback: Sequence[tuple[str, str]] = ()) -> list[dict[str, str]]:
    """Chat messages for one attempt; ``feedback`` holds earlier (sql, error) pairs."""
    today = today or dt.date.today()
    system = SYSTEM.format(dialect_note=DIALECT_NOTES.get(dialect, dialect), today=today.isoformat(),
                           weekday=today.strftime("%A"), timezone=f", time zone {timezone}" if timezone else "")
    messages = [{"role": "system", "content": system}]
    for example in examples:
        messages.append({"role": "user", "content": f"Question: {example.question}"})
        messages.append({"role": "assistant", "content": json.dumps({"sql": example.sql, "parameters": [],
                                                                     "explanation": "verified example"})})
    messages.append({"role": "user", "content": f"Schema:\n{schema_text}\n\nQuestion: {question}"})
    for sql, error in feedback:
        messages.append({"role": "assistant", "content": json.dumps({"sql": sql})})
        messages.append({"role": "user", "content": f"That query failed: {error}\nFix it and answer with JSON only."})
    return messages
