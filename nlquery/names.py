"""'Did you mean ...?' for names people type: sources, tables, columns, time zones.

One scorer everywhere a name is looked up, so the CLI, HTTP and MCP suggest alike.
Beside the whole-name similarity it credits a typed prefix (``totl`` -> ``total_amount``):
people abbreviate and drop letters at the end more than anywhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import SequenceMatcher

CUTOFF = 0.6


def closest(name: str, candidates: Iterable[str], *, cutoff: float = CUTOFF) -> str | None:
    """The candidate most like ``name`` (case-insensitive), or None below ``cutoff``."""
    folded = name.lower()
    best, best_score = None, cutoff
    for candidate in candidates:
        other = candidate.lower()
        score = SequenceMatcher(None, folded, other).ratio()
        if len(other) > len(folded) + 1:  # compare with the start of a longer name too
            score = max(score, SequenceMatcher(None, folded, other[:len(folded) + 1]).ratio() - 0.05)
        if score > best_score:
            best, best_score = candidate, score
    return best


def did_you_mean(name: str, candidates: Iterable[str], *, quote: bool = True) -> str:
    """``"; did you mean 'orders'?"``, or ``""`` when nothing is close."""
    match = closest(name, candidates)
    if match is None:
        return ""
    return f"; did you mean {match!r}?" if quote else f"; did you mean {match}?"
