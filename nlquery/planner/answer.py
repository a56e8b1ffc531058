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
    execution. ``usage`` counts LLM tokens.
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

    def to_dict(self, *, explain: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "question": self.question, "sql": self.sql, "parameters": self.parameters,
            **self.result.to_dict(), "explanation": self.explanation, "tables_used": self.tables_used,
            "planner": self.planner, "cached": self.cached,
        }
        if explain:
            data.update({
                "linked_tables": self.linked_tables,
                "attempts": [{"sql": a.sql, "parameters": a.parameters, "error": a.error} for a in self.attempts],
                "usage": self.usage, "timings": {k: round(v, 2) for k, v in self.timings.items()},
            })
        return data
