"""Catalog v4 -> v5: existing sources and tokens join tenant ``default``, snapshots and
mappings survive the SQLite table rebuild, and names become unique per tenant."""

from __future__ import annotations

import sqlite3

import pytest

from nlquery import Engine
from nlquery.errors import Conflict, InvalidRequest


def _downgrade_to_v4(path):
    """Put a v5 catalog back into v4's shape (sources without tenant, UNIQUE(name))."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys=OFF")
    columns = [row[1] for row in conn.execute("PRAGMA table_info(nlq_sources)") if row[1] != "tenant"]
    ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'nlq_sources'").fetchone()[0]
    old = ddl.replace("nlq_sources", "nlq_sources_old", 1).replace("name VARCHAR(200) NOT NULL,",
                                                                    "name VARCHAR(200) NOT NULL UNIQUE,")
    old = old.replace("tenant VARCHAR(64) DEFAULT 'default' NOT NULL,", "")
    assert "tenant" not in old
    conn.execute(old)
    names = ", ".join(columns)
    conn.execute(f"INSERT INTO nlq_sources_old ({names}) SELECT {names} FROM nlq_sources")
    conn.execute("DROP TABLE nlq_sources")
    conn.execute("ALTER TABLE nlq_sources_old RENAME TO nlq_sources")
    for column in ("tenant", "scopes", "sources", "policy"):
        conn.execute(f"ALTER TABLE nlq_api_tokens DROP COLUMN {column}")
    conn.execute("DROP TABLE nlq_audit")
    conn.execute("UPDATE nlq_meta SET value = '4' WHERE key = 'schema_version'")
    conn.commit()
    assert "UNIQUE" in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'nlq_sources'").fetchone()[0]
    conn.close()


def test_a_v4_catalog_upgrades(nlquery_home, shop_path, monkeypatch):
    monkeypatch.setenv("NLQUERY_AUDIT", "off")
    with Engine() as engine:
        source = engine.add_source("shop", type="sqlite", connection={"database": str(shop_path)})
        engine.update_mappings("shop", {"customers": {"synonyms": ["clients"]}})
        token = engine.create_token("old")
    _downgrade_to_v4(nlquery_home / "catalog.db")
    with Engine() as engine:
        upgraded = engine.get_source("shop")
        assert upgraded["id"] == source["id"] and upgraded["tenant"] == "default"
        assert engine.schema("shop").table("customers") is not None  # the snapshot survived
        assert engine.mappings("shop")["mappings"]["customers"]["synonyms"] == ["clients"]
        listed = engine.list_tokens()
        assert listed[0]["id"] == token["id"] and listed[0]["tenant"] == "default"
        assert "admin" in listed[0]["scopes"]  # a token from before scopes keeps every scope
        engine.add_source("shop", type="sqlite", connection={"database": str(shop_path)}, tenant="acme")
        with pytest.raises(Conflict):
            engine.add_source("shop", type="sqlite", connection={"database": str(shop_path)}, tenant="acme")
        assert engine.get_source("shop")["id"] == source["id"]  # the operator: default first
        assert engine.get_source("shop", tenant="acme")["tenant"] == "acme"
        engine.remove_source(source["id"])
        assert engine.get_source("shop")["tenant"] == "acme"  # now the only one of that name
        engine.add_source("shop", type="sqlite", connection={"database": str(shop_path)}, tenant="beta")
        with pytest.raises(InvalidRequest, match="several sources"):
            engine.get_source("shop")
    conn = sqlite3.connect(nlquery_home / "catalog.db")
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
