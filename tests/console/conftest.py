"""The console tests: the outcome of each phase on the test item (``rep_call``), so a
browser fixture can keep a screenshot of a failure."""

from __future__ import annotations

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
