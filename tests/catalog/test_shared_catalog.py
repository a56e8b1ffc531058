"""The catalog on a real PostgreSQL (shared by replicas) and under concurrent processes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from nlquery import Engine
from tests.conftest import scratch_postgres


@pytest.fixture
def postgres_catalog_url():
    server = scratch_postgres(with_data=False)
    yield server.url.replace("postgresql://", "postgresql+psycopg://", 1)
    server.drop_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request, nlquery_home):
    if request.param == "sqlite":
        return None  # the default: a file under NLQUERY_HOME
    return request.getfixturevalue("postgres_catalog_url")


def test_two_engines_share_one_postgresql_catalog(postgres_catalog_url, shop_path):
    with Engine(catalog_url=postgres_catalog_url) as first, Engine(catalog_url=postgres_catalog_url) as second:
        added = first.add_source("shop", "sqlite", {"database": str(shop_path)})
        first.update_mappings("shop", {"customers": {"synonyms": ["clients"]}})
        assert second.get_source("shop")["id"] == added["id"]
        assert second.mappings("shop")["mappings"]["customers"]["synonyms"] == ["clients"]
        assert second.query("shop", "SELECT COUNT(*) FROM products").rows == [[144]]
        assert second.refresh_schema("shop").version == 1  # nothing changed: no new version


def test_concurrent_refreshes_from_two_processes_never_corrupt_the_catalog(catalog_url, shop_path, nlquery_home):
    env = {**os.environ, "NLQUERY_HOME": str(nlquery_home)}
    if catalog_url:
        env["NLQUERY_CATALOG_URL"] = catalog_url
    with Engine(catalog_url=catalog_url) as engine:
        engine.add_source("shop", "sqlite", {"database": str(shop_path)})
    with sqlite3.connect(shop_path) as db:  # a change both refreshes find
        db.execute("CREATE TABLE returns (id INTEGER PRIMARY KEY, order_id INTEGER)")
    command = [sys.executable, "-m", "nlquery.cli", "schema", "refresh", "shop", "--json"]
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    versions = sorted(json.loads(out)["refreshed"][0]["version"] for out, _ in outputs)
    # One stores version 2; the other, diffing against it (before or after losing the
    # race for version 2), finds no change and adds nothing.
    assert versions == [2, 2]
    with Engine(catalog_url=catalog_url) as engine:
        source = engine.get_source("shop", tables=True)
        assert source["schema_status"] == "ready" and source["schema_version"] == 2
        assert len(source["tables"]) == 5
