"""What the question asks for, held against what the SQL does.

Small models add what nobody asked for (a ``LIMIT 10`` on "tracks in each genre") and
drop what was asked ("rounded to 1 decimal"). :func:`drop_unasked_limit` removes an
outermost ``LIMIT`` the question gives no reason for (no number, no ranking word);
:func:`asked_warnings` names what the question asks and the SQL lacks, to be fed back
once like the other warnings.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

from nlquery.guard.parameters import dialect_of

# Words that make "only the first N rows" part of the question.
RANKING = re.compile(
    r"\b(top|first|last|most|least|fewest|highest|lowest|best|worst|largest|smallest|biggest|longest|shortest|"
    r"latest|earliest|newest|oldest|cheapest|priciest|maximum|minimum|max|min|single|one|recent|"
    r"\w{3,}est)\b", re.IGNORECASE)
NUMBER = re.compile(r"\b(\d+|two|three|four|five|six|seven|eight|nine|ten|twenty|dozen|hundred)\b", re.IGNORECASE)
# "-est" words that are not superlatives.
NOT_SUPERLATIVE = {"interest", "request", "requests", "forest", "guest", "guests", "test", "tests", "contest",
                   "quest", "harvest", "manifest", "suggest", "protest", "invest", "honest", "modest", "west",
                   "midwest", "digest", "arrest", "chest", "nest", "pest", "rest", "vest", "crest", "zest"}
# Numbers that say how to show values or which period, not how many rows.
NOT_A_COUNT = re.compile(r"\b\d+\s+(decimal|digit|place)s?\b|\b(19|20)\d\d\b", re.IGNORECASE)
ROUNDING = re.compile(r"\bround(?:ed|ing)?\b[^.?!]*?\b(\d+|one|two|three|no)\s+decimal", re.IGNORECASE)


def _ranks(question: str) -> bool:
    return any(m.group(0).lower() not in NOT_SUPERLATIVE for m in RANKING.finditer(question))


def drop_unasked_limit(sql: str, question: str, dialect: str) -> str:
    """``sql`` without its outermost ``LIMIT``/``TOP`` when the question names no number
    (of rows: "rounded to 2 decimals" and years do not count) and no ranking (top, most,
    longest, ...); unchanged otherwise or when it does not parse."""
    if NUMBER.search(NOT_A_COUNT.sub(" ", question)) or _ranks(question):
        return sql
    try:
        tree = sqlglot.parse_one(sql, dialect=dialect_of(dialect))
    except sqlglot.errors.SqlglotError:
        return sql
    if not isinstance(tree, exp.Query) or tree.args.get("offset") is not None:
        return sql
    limit = tree.args.get("limit")
    if limit is None:
        return sql
    limit.pop()
    return dialect_of(dialect).generate(tree, copy=False)


def asked_warnings(sql: str, question: str) -> list[str]:
    """What the question asks for that ``sql`` does not do (rounding, for now)."""
    found = []
    rounding = ROUNDING.search(question)
    if rounding and "ROUND(" not in re.sub(r"\s+\(", "(", sql.upper()):
        places = {"one": "1", "two": "2", "three": "3", "no": "0"}.get(rounding.group(1).lower(), rounding.group(1))
        found.append(f"the question asks for values rounded to {places} decimal(s): "
                     f"wrap the computed values in ROUND(value, {places}).")
    return found
