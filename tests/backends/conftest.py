"""Fixtures of the shared connector suite: every test here runs once per backend."""

from __future__ import annotations

import pytest

from nlquery import Engine
from tests.backends.backends import BACKENDS, Backend
from tests.backends.markers import MARKERS, check, gap_for, register
from tests.backends.csvdir import CSVDirBackend
from tests.backends.nonsql import MongoBackend, RestBackend

ALL_BACKENDS = {**BACKENDS, MongoBackend.name: MongoBackend, RestBackend.name: RestBackend,
                CSVDirBackend.name: CSVDirBackend}
from tests.conftest import service_unavailable


def pytest_configure(config):
    register(config)


def pytest_collection_modifyitems(config, items):
    """Every gap marker is complete (backends, raises, reason): checked at collection."""
    for item in items:
        for marker in item.iter_markers():
            if marker.name in MARKERS:
                check(marker, item.nodeid)


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
    """Apply the test's not_yet / cannot declaration naming this backend as a strict xfail
    with its ``raises`` and reason."""
    if "backend" not in request.fixturenames:
        return
    markers = [m for m in request.node.iter_markers() if m.name in MARKERS]
    if not markers:
        return
    backend = request.getfixturevalue("backend")
    gap = gap_for(markers, backend.name, request.node.nodeid)
    if gap is not None:
        request.applymarker(gap)


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
