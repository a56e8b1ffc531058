"""Verified examples: questions with SQL a person checked.

The most similar join the prompt as few-shot; an exact or near-exact repeat of a
verified question reuses its SQL without calling the LLM.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nlquery.planner.linking import terms
from nlquery.planner.prompt import Example
from nlquery.semantic import words

NEAR_EXACT = 0.9


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the normalized content words (stopwords kept out)."""
    left, right = set(terms(a)) | _numbers(a), set(terms(b)) | _numbers(b)
    if not left or not right:
        return 1.0 if " ".join(a.lower().split()) == " ".join(b.lower().split()) else 0.0
    return len(left & right) / len(left | right)


def _numbers(text: str) -> set[str]:
    # Time words are stopwords for linking, but "last month" vs "last week" changes the answer.
    return {w for w in words(text)
            if w.isdigit() or w in {"today", "yesterday", "week", "month", "year", "day", "this", "last"}}


def most_similar(question: str, stored: Sequence[dict[str, Any]], limit: int = 3) -> list[tuple[float, Example]]:
    scored = [(similarity(question, e["question"]), Example(e["question"], e["sql"])) for e in stored]
    scored = [pair for pair in scored if pair[0] > 0]
    return sorted(scored, key=lambda pair: -pair[0])[:limit]
