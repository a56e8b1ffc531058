"""Value hints on wide schemas: the real tables keep their values however the names sort."""

from __future__ import annotations

import sqlite3

import connectors
from nlquery.catalog import hints


def _wide(path, distractors: int, *, analyze: bool) -> None:
    conn = sqlite3.connect(path)
    # Distractors sort before the real table and each hold one row: they are not empty.
    for index in range(distractors):
        conn.execute(f"CREATE TABLE a_{index:04d} (id INTEGER PRIMARY KEY, name TEXT, country TEXT)")
        conn.execute(f"INSERT INTO a_{index:04d} VALUES (1, 'x', 'y')")
    conn.execute("CREATE TABLE zz_genres (genre_id INTEGER PRIMARY KEY, name TEXT)")
    conn.executemany("INSERT INTO zz_genres (name) VALUES (?)", [(g,) for g in ["Rock", "Jazz", "Latin"] * 40])
    if analyze:
        conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def test_the_default_cap_keeps_the_values_of_a_table_after_600_others(tmp_path):
    _wide(tmp_path / "wide.db", 600, analyze=False)
    source = connectors.connect("sqlite", database=str(tmp_path / "wide.db"))
    try:
        found = hints.collect(source, source.introspect())
    finally:
        source.close()
    assert found["zz_genres.name"] == ["Jazz", "Latin", "Rock"]


def test_past_the_cap_the_largest_tables_keep_their_values(tmp_path):
    _wide(tmp_path / "wide.db", 20, analyze=True)
    source = connectors.connect("sqlite", database=str(tmp_path / "wide.db"))
    try:
        schema = source.introspect()
        assert schema.table("zz_genres").row_estimate == 120
        found = hints.collect(source, schema, max_columns=3)
    finally:
        source.close()
    assert found["zz_genres.name"] == ["Jazz", "Latin", "Rock"]
    assert len(found) <= 3  # the cap still holds: two distractor columns at most
