"""Declared gaps of the shared backend suite, ibis style: every expected failure says
which backends, why, with which exception, and whether it is

- :func:`not_yet`: nlquery could do it on that backend and does not yet (a connector or
  driver gap someone may close: then the strict xfail turns into a failure that says
  "remove the marker"); or
- :func:`cannot`: never, the source itself cannot (SQLite has no comments, a REST API
  no DDL, a file no password).

Both are strict: the test must fail on the named backends, and with ``raises`` (a test
failing there for another reason is a real failure). A test may carry several markers,
one per reason; a backend may be named by one of them only::

    @not_yet(["duckdb"], raises=AssertionError, reason="duckdb-engine reflects no unique constraints")
    @cannot(NOT_SQL, raises=AssertionError, reason="documents and JSON declare no constraints")
    def test_unique_constraints(schema): ...
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

NOT_YET = "notimpl"
NEVER = "never"
MARKERS = {NOT_YET: "not yet", NEVER: "never"}


def register(config: pytest.Config) -> None:
    """Declare the markers (``--strict-markers`` refuses unknown ones)."""
    config.addinivalue_line(
        "markers",
        "notimpl(backends, raises, reason): not yet: the named backends fail this test with raises "
        "today, nlquery could make them pass (strict xfail; use tests.backends.markers.not_yet)")
    config.addinivalue_line(
        "markers",
        "never(backends, raises, reason): the named backends can never pass this test, the source cannot "
        "(strict xfail; use tests.backends.markers.cannot)")


def _marker(name: str, backends: Iterable[str], raises: type[BaseException] | tuple[type[BaseException], ...],
            reason: str) -> pytest.MarkDecorator:
    if isinstance(backends, str):
        raise TypeError("backends is a list of backend names, not one string")
    return getattr(pytest.mark, name)(list(backends), raises=raises, reason=reason)


def not_yet(backends: Iterable[str], *, raises: type[BaseException] | tuple[type[BaseException], ...],
            reason: str) -> pytest.MarkDecorator:
    """The named backends fail this test today; nlquery could make them pass."""
    return _marker(NOT_YET, backends, raises, reason)


def cannot(backends: Iterable[str], *, raises: type[BaseException] | tuple[type[BaseException], ...],
           reason: str) -> pytest.MarkDecorator:
    """The named backends can never pass this test: the source itself cannot do it."""
    return _marker(NEVER, backends, raises, reason)


def check(marker: pytest.Mark, where: str) -> None:
    """Raise ``pytest.UsageError`` unless ``marker`` is a complete declaration."""
    raises, reason = marker.kwargs.get("raises"), marker.kwargs.get("reason")
    kinds = raises if isinstance(raises, tuple) else (raises,)
    if not marker.args or isinstance(marker.args[0], str) or not all(
            isinstance(k, type) and issubclass(k, BaseException) for k in kinds):
        raise pytest.UsageError(f"{where}: @{marker.name} needs a list of backends and raises=<exception class>")
    if not isinstance(reason, str) or not reason.strip():
        raise pytest.UsageError(f"{where}: @{marker.name} needs a reason")


def gap_for(markers: Iterable[pytest.Mark], backend: str, where: str) -> pytest.MarkDecorator | None:
    """The strict xfail the markers declare for ``backend`` (None: it must pass)."""
    found = [m for m in markers if m.name in MARKERS and backend in m.args[0]]
    if len(found) > 1:
        raise pytest.UsageError(f"{where}: {backend} is named by more than one gap marker")
    if not found:
        return None
    (marker,) = found
    return pytest.mark.xfail(strict=True, raises=marker.kwargs["raises"],
                             reason=f"{MARKERS[marker.name]}: {marker.kwargs['reason']}")
