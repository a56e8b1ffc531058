"""Shared test configuration: which services must be reachable, and scratch homes."""

from __future__ import annotations

import os

import pytest

REQUIRED_SERVICES = {
    s.strip() for s in os.environ.get("NLQUERY_REQUIRE_SERVICES", "").split(",") if s.strip()
}


def service_unavailable(service: str, reason: str) -> None:
    """Skip the test, or fail it when ``service`` is in NLQUERY_REQUIRE_SERVICES (CI)."""
    if service in REQUIRED_SERVICES:
        pytest.fail(f"{service} is required (NLQUERY_REQUIRE_SERVICES) but unavailable: {reason}")
    pytest.skip(f"{service} unavailable: {reason}")


# The developer's own configuration must not change what a test sees.
_ISOLATED = ("NLQUERY_CATALOG_URL", "NLQUERY_SECRET_KEY", "NLQUERY_LLM_BASE_URL", "NLQUERY_LLM_MODEL",
             "NLQUERY_LLM_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL")


@pytest.fixture(autouse=True)
def nlquery_home(tmp_path, monkeypatch):
    """Every test gets its own NLQUERY_HOME: nothing leaks into the user's."""
    home = tmp_path / "nlquery-home"
    monkeypatch.setenv("NLQUERY_HOME", str(home))
    for name in _ISOLATED:
        monkeypatch.delenv(name, raising=False)
    # Sources registered over HTTP in tests live in this test's directory or on this
    # machine's servers; tests of the defaults (tests/security) unset these again.
    monkeypatch.setenv("NLQUERY_DATA_DIRS", str(tmp_path))
    monkeypatch.setenv("NLQUERY_EGRESS_ALLOW", "127.0.0.1,::1,localhost")
    monkeypatch.delenv("NLQUERY_EGRESS_DENY", raising=False)
    return home


@pytest.fixture
def shop_path(nlquery_home):
    """The demo shop SQLite file, built under this test's NLQUERY_HOME."""
    from nlquery.demo import demo_database

    path, _ = demo_database()
    return path


def scratch_postgres(*, with_data: bool):
    """A uniquely named PostgreSQL database (with the shop and odd-names schema when
    ``with_data``), or a skip (a failure under NLQUERY_REQUIRE_SERVICES)."""
    from tests.backends.backends import PostgreSQLBackend

    backend = PostgreSQLBackend()
    try:
        backend.setup() if with_data else backend.create_database()
    except Exception as exc:  # the server, not the code under test
        service_unavailable("postgres", f"{type(exc).__name__}: {exc}")
    return backend
