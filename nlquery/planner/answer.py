"""What :meth:`nlquery.Engine.ask` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.models import QueryResult


@dataclass
class Attempt:
    """One candidate the planner tried, and why it was refused (None: it ran)."""

    sql: str
    parameters: list[Any]
    error: dict[str, str] | None = None


@dataclass
class Answer:
    """The SQL that answered a question, its parameters and its result.

    ``planner`` is ``llm``, ``rules`` or ``example`` (a verified example reused:
    ``cached`` is true). ``timings`` are milliseconds: linking, llm, validation,
    execution. ``usage`` counts LLM tokens. With several candidates, ``confidence``
    is the share whose results agreed with this one and ``candidates`` lists them;
    ``notes`` say what the caller should know (candidates disagree, a warning the
    model was given about this result).
    """

    question: str
    sql: str
    parameters: list[Any]
    result: QueryResult
    explanation: str = ""
    tables_used: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    planner: str = "llm"
    cached: bool = False
    linked_tables: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0})
    timings: dict[str, float] = field(default_factory=dict)
    confidence: float | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self, *, explain: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "question": self.question, "sql": self.sql, "parameters": self.parameters,
            **self.result.to_dict(), "explanation": self.explanation, "tables_used": self.tables_used,
            "planner": self.planner, "cached": self.cached,
        }
        if self.confidence is not None:
            data["confidence"] = self.confidence
        if self.notes:
            data["notes"] = list(self.notes)
        if explain:
            data.update({
                "linked_tables": self.linked_tables,
                "attempts": [{"sql": a.sql, "parameters": a.parameters, "error": a.error} for a in self.attempts],
                "usage": self.usage, "timings": {k: round(v, 2) for k, v in self.timings.items()},
            })
            if self.candidates:
                data["candidates"] = self.candidates
        return data
