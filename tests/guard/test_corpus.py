"""Every case of corpus.sql gets its verdict and its error code."""

from __future__ import annotations

import pytest

from nlquery.errors import NLQueryError
from nlquery.guard import DIALECTS, validate_sql
from tests.guard.corpus import load

CASES = load()


def test_the_corpus_is_broad():
    assert len(CASES) >= 200
    assert sum(c.verdict == "allow" for c in CASES) >= 60
    assert {c.dialect for c in CASES} == set(DIALECTS)
    assert all(c.sql and c.reason for c in CASES if c.code != "invalid_query")


@pytest.mark.parametrize("case", [c for c in CASES if c.verdict == "allow"], ids=lambda c: c.id)
def test_legitimate_reads_pass(case):
    safe = validate_sql(case.sql, case.dialect, max_rows=1000)
    # What the guard renders must itself pass, unchanged: no drift between checks.
    again = validate_sql(safe.sql, case.dialect, max_rows=1000)
    assert again.sql == safe.sql


@pytest.mark.parametrize("case", [c for c in CASES if c.verdict == "reject"], ids=lambda c: c.id)
def test_attacks_are_refused_with_their_code(case):
    with pytest.raises(NLQueryError) as caught:
        validate_sql(case.sql, case.dialect)
    assert caught.value.code == case.code, caught.value.message
    assert caught.value.message
