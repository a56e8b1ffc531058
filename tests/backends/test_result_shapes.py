"""Same columns and values on every result path, on every backend: ``result="json"``,
``result="native"`` (driver values untouched), the fast JSON encoder writing those
driver values, and ``query_arrow``."""

from __future__ import annotations

import pytest

from connectors.values import json_safe
from nlquery import encoding
from tests.backends.nonsql import NOT_SQL

pa = pytest.importorskip("pyarrow")


def _driver_value(backend, sql: str):
    """What the bare driver returns for ``sql`` (no nlquery in between)."""
    conn = backend.admin_connection()
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return cursor.fetchone()[0]
    finally:
        conn.close()


def _as_json(value):
    """An Arrow value as JSON: JSON objects travel in Arrow as their JSON text."""
    return json_safe(value)


def test_typed_values_agree_on_every_path(backend, connector, engine):
    for expression, expected in backend.typed_values:
        sql = f"SELECT {expression} AS v"
        as_json = engine.query(connector, sql)
        native = engine.query(connector, sql, result="native")
        table = engine.query_arrow(connector, sql)
        assert as_json.columns == native.columns == table.column_names == ["v"], expression
        assert as_json.rows == [[expected]], expression
        # The fast encoder writes the driver's values as the JSON result has them.
        assert encoding.loads(encoding.dumps(native.rows)) == [[expected]], expression
        assert encoding.loads(encoding.dumps(native.to_dict()))["rows"] == as_json.rows, expression
        (arrow_value,) = table.column(0).to_pylist()
        if isinstance(expected, dict):
            arrow_value = encoding.loads(arrow_value)
        assert _as_json(arrow_value) == expected, expression
        assert table.num_rows == native.row_count == as_json.row_count == 1


def test_native_values_are_the_drivers_own(backend, connector, engine):
    if backend.name in NOT_SQL:
        pytest.skip("no SQL driver underneath: the connector's documents are its values")
    for expression, _ in backend.typed_values:
        sql = f"SELECT {expression} AS v"
        native = engine.query(connector, sql, result="native")
        driver = _driver_value(backend, sql)
        assert native.rows[0][0] == driver and type(native.rows[0][0]) is type(driver), expression


def test_a_table_reads_the_same_on_every_path(backend, connector, engine):
    sql = "SELECT * FROM orders ORDER BY id"
    as_json = engine.query(connector, sql, max_rows=40)
    native = engine.query(connector, sql, max_rows=40, result="native")
    table = engine.query_arrow(connector, sql, max_rows=40)
    assert as_json.columns == native.columns == table.column_names
    assert as_json.row_count == native.row_count == table.num_rows == 40
    assert as_json.truncated and native.truncated
    assert table.schema.metadata[b"nlquery.truncated"] == b"true"
    assert encoding.loads(encoding.dumps(native.rows)) == as_json.rows
    arrow_rows = [list(row.values()) for row in table.to_pylist()]
    assert [[_as_json(v) for v in row] for row in arrow_rows] == as_json.rows
    if backend.name not in NOT_SQL:
        assert [list(row) for row in native.rows] == arrow_rows  # Arrow keeps the driver's types


def test_arrow_ipc_and_csv_carry_the_same_rows(connector, engine):
    sql = "SELECT id, status FROM orders ORDER BY id"
    as_json = engine.query(connector, sql, max_rows=25)
    table = engine.query_arrow(connector, sql, max_rows=25)
    read = pa.ipc.open_stream(encoding.arrow_ipc(table)).read_all()
    assert read.equals(table)
    native = engine.query(connector, sql, max_rows=25, result="native")
    lines = "".join(encoding.csv_lines(native.columns, native.rows)).splitlines()
    assert lines[0] == "id,status"
    assert lines[1:] == [f"{i},{s}" for i, s in as_json.rows]


def test_an_empty_result_keeps_its_columns(connector, engine):
    sql = "SELECT id, status FROM orders WHERE id < 0"
    table = engine.query_arrow(connector, sql)
    native = engine.query(connector, sql, result="native")
    assert table.column_names == native.columns == ["id", "status"]
    assert table.num_rows == native.row_count == 0


def test_a_stream_reads_the_same_rows_as_query(connector, engine):
    sql = "SELECT * FROM orders ORDER BY id"
    native = engine.query(connector, sql, max_rows=40, result="native")
    with engine.stream(connector, sql, max_rows=40) as stream:
        rows = [list(row) for row in stream.rows()]
    assert stream.columns == native.columns
    assert rows == [list(row) for row in native.rows]
    assert (stream.row_count, stream.truncated) == (40, True)
    with engine.stream(connector, "SELECT id, status FROM orders WHERE id < 0") as empty:
        assert list(empty) == [] and empty.columns == ["id", "status"] and empty.row_count == 0
