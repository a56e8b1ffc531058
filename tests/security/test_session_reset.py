"""Issue 16, item 9 (sessions): after each query the pooled connection keeps nothing
the query took. A user-defined function that takes a session advisory lock (PostgreSQL)
or a user lock (MariaDB/MySQL GET_LOCK), allowed through ``allowed_functions``, runs;
a second connection then sees no lock held, and the first connection is still the same,
still read-only session, and still works."""

from __future__ import annotations

import uuid

import pytest

import connectors
from nlquery.engine import Engine
from nlquery.errors import UnsafeQueryError
from nlquery.guard import Policy

LOCK_KEY = 740_016


def _postgres_admin(database: str = "postgres"):
    psycopg = pytest.importorskip("psycopg")
    try:
        return psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname=database,
                               autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not running on 127.0.0.1:5432: {exc}")


@pytest.fixture
def postgres_database():
    name = f"nlq_reset_{uuid.uuid4().hex[:8]}"
    with _postgres_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with _postgres_admin(name) as conn:
            conn.execute("CREATE TABLE t (id int, name text)")
            conn.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
            conn.execute("CREATE SCHEMA rt_app")
            # Named after a built-in on purpose: the guard must not take it for md5().
            conn.execute(f"""
                CREATE FUNCTION rt_app.md5(x text) RETURNS text LANGUAGE sql AS $$
                    SELECT pg_advisory_lock({LOCK_KEY});
                    SELECT pg_catalog.md5(x)
                $$""")
            conn.execute("""
                CREATE FUNCTION rt_app.prep(x text) RETURNS text LANGUAGE plpgsql AS $$
                BEGIN
                    EXECUTE 'PREPARE nlq_left_behind AS SELECT 1';
                    RETURN x;
                END $$""")
        yield name
    finally:
        with _postgres_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _advisory_locks(database: str) -> int:
    with _postgres_admin(database) as observer:
        return observer.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND d.datname = %s AND l.objid = %s",
            (database, LOCK_KEY),
        ).fetchone()[0]


def test_postgres_user_function_is_refused_without_allowed_functions(postgres_database):
    connector = connectors.connect("postgresql", host="127.0.0.1", port=5432, username="postgres",
                                   database=postgres_database)
    with Engine() as engine, connector:
        with pytest.raises(UnsafeQueryError, match="allowed_functions"):
            engine.query(connector, "SELECT rt_app.md5(name) FROM t")
    assert _advisory_locks(postgres_database) == 0


def test_postgres_advisory_lock_taken_by_a_query_is_not_held_afterwards(postgres_database):
    connector = connectors.connect("postgresql", host="127.0.0.1", port=5432, username="postgres",
                                   database=postgres_database)
    policy = Policy(allowed_functions={"rt_app.md5", "rt_app.prep"})
    with Engine() as engine, connector:
        pid = connector.execute("SELECT pg_backend_pid()").rows[0][0]
        # More runs than psycopg's prepare threshold: DISCARD ALL must not break its cache.
        for _ in range(8):
            result = engine.query(connector, "SELECT rt_app.md5(name) FROM t ORDER BY id", policy=policy)
            assert len(result.rows) == 2
            assert _advisory_locks(postgres_database) == 0
        engine.query(connector, "SELECT rt_app.prep('x')", policy=policy)
        leftovers = connector.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = 'nlq_left_behind'")
        assert leftovers.rows[0][0] == 0
        # The same session, pooled, and still read-only by default after the reset.
        assert connector.execute("SELECT pg_backend_pid()").rows[0][0] == pid
        assert connector.execute("SHOW default_transaction_read_only").rows[0][0] == "on"
        with pytest.raises(connectors.ConnectorError):
            connector.execute("CREATE TABLE written (i int)")


def _mysql_admin(database: str | None = None):
    pymysql = pytest.importorskip("pymysql")
    try:
        return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=database,
                               autocommit=True, connect_timeout=5)
    except pymysql.err.OperationalError as exc:
        pytest.skip(f"MariaDB/MySQL is not running on 127.0.0.1:3306: {exc}")


@pytest.fixture
def mysql_database():
    name = f"nlq_reset_{uuid.uuid4().hex[:8]}"
    lock = f"nlq_reset_lock_{uuid.uuid4().hex[:8]}"
    admin = _mysql_admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
            cursor.execute(f"CREATE TABLE `{name}`.t (id INT, name TEXT)")
            cursor.execute(f"INSERT INTO `{name}`.t VALUES (1, 'a'), (2, 'b')")
            cursor.execute(
                f"CREATE FUNCTION `{name}`.take_lock(x TEXT) RETURNS TEXT DETERMINISTIC NO SQL "
                f"RETURN CONCAT(GET_LOCK('{lock}', 0), x)"
            )
        yield name, lock
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def _lock_holder(lock: str):
    admin = _mysql_admin()
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT IS_USED_LOCK(%s)", (lock,))
            return cursor.fetchone()[0]
    finally:
        admin.close()


def test_mysql_user_lock_taken_by_a_query_is_not_held_afterwards(mysql_database):
    database, lock = mysql_database
    connector = connectors.connect("mysql", host="127.0.0.1", port=3306, username="root", database=database)
    policy = Policy(allowed_functions={"take_lock"})
    with Engine() as engine, connector:
        session = connector.execute("SELECT CONNECTION_ID()").rows[0][0]
        result = engine.query(connector, "SELECT take_lock(name) FROM t ORDER BY id", policy=policy)
        assert [row[0] for row in result.rows] == ["1a", "1b"]  # the lock was taken
        assert _lock_holder(lock) is None
        # Still the same pooled session, and it still works.
        assert connector.execute("SELECT CONNECTION_ID()").rows[0][0] == session
        assert engine.query(connector, "SELECT COUNT(*) FROM t").rows[0][0] == 2
