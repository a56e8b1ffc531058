"""Scratch databases on the local servers for benchmarks: created fresh, dropped after."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SERVER_URLS = {
    "postgresql": os.environ.get("NLQUERY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    "mysql": os.environ.get("NLQUERY_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}


def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + database))


def admin_connection(kind: str, url: str, *, autocommit: bool = False) -> Any:
    """A writable DB-API connection to ``url`` (benchmarks build their data with it)."""
    if kind == "postgresql":
        import psycopg

        return psycopg.connect(url, autocommit=autocommit)
    import pymysql

    parts = urlsplit(url)
    return pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
                           password=parts.password or "", database=parts.path.lstrip("/") or None,
                           autocommit=autocommit, charset="utf8mb4")


@contextlib.contextmanager
def scratch_database(kind: str, *, keep: bool = False) -> Iterator[str]:
    """Create ``nlq_bench_<random>`` on the ``kind`` server; yield its URL; drop it."""
    server = SERVER_URLS[kind]
    name = f"nlq_bench_{uuid.uuid4().hex[:8]}"
    quote = '"' if kind == "postgresql" else "`"
    conn = admin_connection(kind, server, autocommit=True)
    conn.cursor().execute(f"CREATE DATABASE {quote}{name}{quote}")
    conn.close()
    try:
        yield _with_database(server, name)
    finally:
        if not keep:
            conn = admin_connection(kind, server, autocommit=True)
            force = " WITH (FORCE)" if kind == "postgresql" else ""
            conn.cursor().execute(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{force}")
            conn.close()
