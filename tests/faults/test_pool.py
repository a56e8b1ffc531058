"""A source's pool of connections, against real scratch servers: concurrent calls on one
source run side by side (seen by the server: both statements active at once), no more
connections than the pool's size, a connection that broke is never handed out again,
idle ones the server closed are replaced before use, and ``close()`` closes connections
in use once their call ends. Evidence comes from the server (``pg_stat_activity``,
``information_schema.PROCESSLIST``), never from timing."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

import connectors
from connectors.connection import ConnectionModel
from connectors.errors import DataSourceDisconnected, InvalidConnection
from connectors.pool import DEFAULT_POOL_SIZE, MAX_POOL_SIZE
from connectors.postgresql import PostgreSQLConnection
from connectors.sqlalchemy import SQLAlchemyConnection
from tests.faults.conftest import MARIA_SHOP, SHOP

SLEEP_S = 3  # long enough for the server to be seen running the statements side by side


class PostgresSide:
    """What the scratch PostgreSQL says about the connector's sessions."""

    kind = "postgresql"
    sleep = f"SELECT pg_sleep({SLEEP_S})"
    session_id = "SELECT pg_backend_pid()"

    def __init__(self, server) -> None:
        self.server = server
        self.url = server.create_database(f"pool_{uuid.uuid4().hex[:6]}", SHOP)
        self.database = self.url.rsplit("/", 1)[1]

    def sessions(self, *, sleeping: bool = False) -> int:
        """The connector's sessions on this database (those running the sleep)."""
        condition = "AND state = 'active' AND wait_event = 'PgSleep'" if sleeping else ""
        return self.server.execute(
            f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{self.database}' "
            f"AND application_name = 'nlquery' AND pid <> pg_backend_pid() {condition}")[0][0]

    def kill(self, session: int) -> None:
        self.server.execute(f"SELECT pg_terminate_backend({int(session)})")

    def kill_all(self) -> None:
        self.server.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            f"WHERE datname = '{self.database}' AND application_name = 'nlquery'")


class MariaSide:
    kind = "mysql"
    sleep = f"SELECT SLEEP({SLEEP_S})"
    session_id = "SELECT CONNECTION_ID()"

    def __init__(self, server) -> None:
        self.server = server
        self.url = server.create_database(f"pool_{uuid.uuid4().hex[:6]}", MARIA_SHOP)
        self.database = self.url.rsplit("/", 1)[1]

    def sessions(self, *, sleeping: bool = False) -> int:
        condition = "AND INFO LIKE 'SELECT SLEEP%%'" if sleeping else ""
        return self.server.execute(
            f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '{self.database}' "
            f"AND ID <> CONNECTION_ID() {condition}")[0][0]

    def kill(self, session: int) -> None:
        self.server.execute(f"KILL CONNECTION {int(session)}")

    def kill_all(self) -> None:
        for (session,) in self.server.execute(
                f"SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{self.database}' "
                "AND ID <> CONNECTION_ID()"):
            self.kill(session)


@pytest.fixture(params=["postgresql", "mysql"])
def side(request):
    if request.param == "postgresql":
        return PostgresSide(request.getfixturevalue("module_pg"))
    return MariaSide(request.getfixturevalue("scratch_maria"))


def most_at_once(count, futures, limit_s: float = SLEEP_S * 4 + 10) -> int:
    """The most ``count()`` said while ``futures`` ran (polled until they are done; the
    loop is bounded in count and time)."""
    most = 0
    deadline = time.monotonic() + limit_s
    for _ in range(int(limit_s / 0.02)):
        most = max(most, count())
        if all(f.done() for f in futures) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return most


def wait_until(condition, limit_s: float = SLEEP_S + 10) -> bool:
    """Poll ``condition()`` until it holds (bounded in count and time); whether it did."""
    deadline = time.monotonic() + limit_s
    for _ in range(int(limit_s / 0.02)):
        if condition():
            return True
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return False


def test_concurrent_slow_calls_on_one_source_run_side_by_side(side):
    with connectors.connect(side.kind, side.url) as source, ThreadPoolExecutor(2) as pool:
        calls = [pool.submit(source.execute, side.sleep, timeout_s=SLEEP_S + 20) for _ in range(2)]
        # One connection would run them one after the other: never two at once.
        assert most_at_once(lambda: side.sessions(sleeping=True), calls) == 2
        assert [len(c.result().rows) for c in calls] == [1, 1]


def test_the_pool_size_bounds_the_connections_and_the_rest_wait_their_turn(side):
    with connectors.connect(side.kind, side.url, pool_size=2) as source, ThreadPoolExecutor(4) as pool:
        calls = [pool.submit(source.execute, side.sleep, timeout_s=SLEEP_S * 3 + 20) for _ in range(4)]
        assert most_at_once(lambda: side.sessions(sleeping=True), calls) == 2
        assert [len(c.result().rows) for c in calls] == [1] * 4  # the two that waited ran after
        assert side.sessions() == 2  # both idle in the pool now, nothing more was opened


def test_a_connection_broken_mid_call_is_dropped_not_reused(side):
    with connectors.connect(side.kind, side.url) as source, ThreadPoolExecutor(1) as pool:
        session = source.execute(side.session_id).rows[0][0]
        call = pool.submit(source.execute, side.sleep, timeout_s=SLEEP_S + 20)
        assert wait_until(lambda: side.sessions(sleeping=True) == 1)
        side.kill(session)  # the connection dies under the running statement
        with pytest.raises(DataSourceDisconnected):
            call.result()
        assert source._pool.idle == 0  # not given back
        # The next calls get a new session, never the dead one.
        assert session not in {source.execute(side.session_id).rows[0][0] for _ in range(3)}


def test_idle_connections_the_server_closed_are_replaced_before_use(side):
    with connectors.connect(side.kind, side.url) as source, ThreadPoolExecutor(3) as pool:
        calls = [pool.submit(source.execute, side.sleep, timeout_s=SLEEP_S + 20) for _ in range(3)]
        [c.result() for c in calls]
        assert source._pool.idle == 3
        side.kill_all()  # a restart, an idle timeout: the server ends every idle session
        assert wait_until(lambda: side.sessions() == 0)
        # Every one of the next calls succeeds (no stale-connection error reaches a caller).
        answers = list(pool.map(lambda _: source.execute("SELECT 1").rows, range(3)))
        assert answers == [[[1]]] * 3


def test_close_closes_idle_connections_now_and_busy_ones_when_their_call_ends(side):
    source = connectors.connect(side.kind, side.url)
    with ThreadPoolExecutor(2) as pool:
        idle_one = pool.submit(source.execute, "SELECT 1")
        idle_one.result()
        busy = pool.submit(source.execute, side.sleep, timeout_s=SLEEP_S + 20)
        assert wait_until(lambda: side.sessions(sleeping=True) == 1)
        source.close()
        assert source._pool.idle == 0
        assert len(busy.result().rows) == 1  # the call in flight finished on its connection
    assert source._pool.idle == 0 and source._pool.leased == 0
    assert wait_until(lambda: side.sessions() == 0)  # the server saw both connections close
    assert source.execute("SELECT 1").rows == [[1]]  # a later call opens a new one


def test_the_pool_size_is_an_option_clamped_for_remote_callers():
    url = "postgresql://nlq@db.example:5432/shop"
    assert connectors.connect("postgresql", url)._pool.size == DEFAULT_POOL_SIZE
    assert connectors.connect("postgresql", url, pool_size=2)._pool.size == 2
    assert connectors.connect("postgresql", url + "?pool_size=8")._pool.size == 8
    assert connectors.connect("postgresql", url, pool_size=10_000)._pool.size == MAX_POOL_SIZE
    # A source a token holder registered may lower it, never raise it past the default.
    assert connectors.connect("postgresql", url, pool_size=10_000, untrusted=True)._pool.size == DEFAULT_POOL_SIZE
    assert connectors.connect("postgresql", url, pool_size=1, untrusted=True)._pool.size == 1
    assert connectors.connect("mysql", "mysql://root@db.example/shop", pool_size=3)._pool.size == 3
    assert connectors.connect("sqlite", database="/no/such.db", pool_size=2)._pool.size == 2
    with pytest.raises(InvalidConnection, match="pool_size"):
        connectors.connect("postgresql", url, pool_size="many")
    # Over HTTP/MCP the option is accepted (and clamped as above) for every connector...
    PostgreSQLConnection(url=url, options={"pool_size": 10_000}).check_remote()
    SQLAlchemyConnection(url="postgresql://nlq@db.example/shop", options={"pool_size": 2}).check_remote()
    # ...and must be a whole number of connections.
    for bad in (0, -1, "lots", True, 1.5):
        with pytest.raises(ValueError, match="pool_size"):
            ConnectionModel(url=url, options={"pool_size": bad})
