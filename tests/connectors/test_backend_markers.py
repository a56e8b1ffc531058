"""The shared suite's gap markers (tests/backends/markers.py) refuse incomplete
declarations and turn into strict xfails that name their kind and exception."""

from __future__ import annotations

import pytest

from tests.backends.markers import cannot, check, gap_for, not_yet


def _marks(*decorators):
    def test():
        pass
    for decorator in decorators:
        test = decorator(test)
    return list(test.pytestmark)


def test_a_gap_names_its_kind_reason_and_exception():
    marks = _marks(not_yet(["duckdb"], raises=KeyError, reason="driver gap"),
                   cannot(["rest_api"], raises=AssertionError, reason="no indexes"))
    duckdb, rest = gap_for(marks, "duckdb", "t"), gap_for(marks, "rest_api", "t")
    assert duckdb.kwargs == {"strict": True, "raises": KeyError, "reason": "not yet: driver gap"}
    assert rest.kwargs == {"strict": True, "raises": AssertionError, "reason": "never: no indexes"}
    assert gap_for(marks, "postgresql", "t") is None


@pytest.mark.parametrize("mark", [
    pytest.mark.never(["sqlite"], reason="no raises"),
    pytest.mark.never(["sqlite"], raises=AssertionError),
    pytest.mark.notimpl("sqlite", raises=AssertionError, reason="one string"),
    pytest.mark.notimpl(["sqlite"], raises="AssertionError", reason="not a class"),
], ids=["no-raises", "no-reason", "string-backends", "raises-not-a-class"])
def test_incomplete_declarations_are_usage_errors(mark):
    with pytest.raises(pytest.UsageError):
        check(mark.mark, "t")


def test_a_backend_named_twice_is_a_usage_error():
    marks = _marks(not_yet(["duckdb"], raises=KeyError, reason="a"), cannot(["duckdb"], raises=KeyError, reason="b"))
    with pytest.raises(pytest.UsageError):
        gap_for(marks, "duckdb", "t")


def test_backends_must_be_a_list():
    with pytest.raises(TypeError):
        cannot("sqlite", raises=AssertionError, reason="x")
