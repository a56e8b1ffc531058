"""Fixtures of the shared connector suite: every test here runs once per backend."""

from __future__ import annotations

import pytest

from nlquery import Engine
from tests.backends.backends import BACKENDS, Backend
from tests.backends.nonsql import MongoBackend, RestBackend

ALL_BACKENDS = {**BACKENDS, MongoBackend.name: MongoBackend, RestBackend.name: RestBackend}
from tests.conftest import service_unavailable


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "notimpl(backends, reason): the named backends lack this capability; "
        "the test must fail there (strict xfail)",
    )


@pytest.fixture(scope="session", params=sorted(ALL_BACKENDS), ids=str)
def backend(request, tmp_path_factory) -> Backend:
    """A scratch database with the shop and odd-names schema, dropped afterwards."""
    cls = ALL_BACKENDS[request.param]
    instance = cls(tmp_path_factory.mktemp(request.param)) if cls.file_based else cls()
    try:
        instance.setup()
    except ImportError as exc:
        service_unavailable(instance.service or instance.name, f"driver missing: {exc}")
    except Exception as exc:
        try:
            instance.drop_database()
        except Exception:
            pass
        if instance.service is None:
            raise
        service_unavailable(instance.service, f"{type(exc).__name__}: {exc}")
    yield instance
    instance.drop_database()


@pytest.fixture(autouse=True)
def _declared_gaps(request):
    """Apply @pytest.mark.notimpl(["sqlite"], reason=...) as a strict xfail."""
    marker = request.node.get_closest_marker("notimpl")
    if marker is None or "backend" not in request.fixturenames:
        return
    backend = request.getfixturevalue("backend")
    if backend.name in marker.args[0]:
        request.applymarker(pytest.mark.xfail(strict=True, reason=marker.kwargs.get("reason", "")))


@pytest.fixture
def connector(backend):
    conn = backend.connect()
    yield conn
    conn.close()


@pytest.fixture
def engine():
    with Engine() as engine:
        yield engine


@pytest.fixture(scope="session")
def schema(backend):
    """The introspected scratch database (read once per backend)."""
    conn = backend.connect()
    try:
        return conn.introspect()
    finally:
        conn.close()
