"""Fixtures of the fault tests: scratch servers on their own ports and data directories,
fault proxies in front of them, all torn down after. Never the shared servers."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import service_unavailable
from tests.faults.harness import FaultProxy, ScratchMariaDB, ScratchPostgres

SHOP = [
    "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL)",
    "INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 200) AS g",
]
MARIA_SHOP = [
    "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL)",
    "INSERT INTO customers SELECT seq, CONCAT('customer ', seq) FROM seq_1_to_200",
]


@contextlib.contextmanager
def _scratch(server_class: type, service: str) -> Iterator:
    """A started scratch server (stopped and removed after), or a skip (a failure under
    NLQUERY_REQUIRE_SERVICES) when it cannot start."""
    try:
        server = server_class()
    except Exception as exc:
        service_unavailable(service, f"cannot start a scratch {server_class.__name__}: {type(exc).__name__}: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def scratch_pg():
    """A PostgreSQL 15 cluster of this test alone (killed and removed after)."""
    with _scratch(ScratchPostgres, "postgres") as server:
        yield server


@pytest.fixture(scope="module")
def module_pg():
    """A PostgreSQL 15 cluster shared by one module's tests (for tests that kill
    connections, never the server)."""
    with _scratch(ScratchPostgres, "postgres") as server:
        yield server


@pytest.fixture(scope="module")
def scratch_maria():
    with _scratch(ScratchMariaDB, "mysql") as server:
        yield server


@pytest.fixture
def pg_shop(scratch_pg):
    """URL of a small shop database on the scratch cluster."""
    return scratch_pg.create_database(f"shop_{uuid.uuid4().hex[:6]}", SHOP)


@pytest.fixture
def maria_shop(scratch_maria):
    return scratch_maria.create_database(f"shop_{uuid.uuid4().hex[:6]}", MARIA_SHOP)


@pytest.fixture
def proxy_to():
    """``proxy_to(port)`` -> a FaultProxy in front of 127.0.0.1:port (closed after)."""
    proxies = []

    def make(port: int) -> FaultProxy:
        proxies.append(FaultProxy(port))
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.close()
