"""The out-of-tree example (examples/nlquery-csvdir) registers through the
``nlquery.connectors`` entry point, as an installed third-party package would, and works
end to end through the Engine. The entry point is the one its pyproject.toml declares,
served by a fake ``importlib.metadata`` distribution (no pip install into the venv)."""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import connectors
from connectors import registry
from nlquery import Engine

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nlquery-csvdir"


def _declared_entry_point() -> EntryPoint:
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    (name, value), = project["entry-points"][registry.ENTRY_POINT_GROUP].items()
    return EntryPoint(name=name, value=value, group=registry.ENTRY_POINT_GROUP)


@pytest.fixture
def installed(monkeypatch):
    """The example as if pip-installed: importable, and its entry point listed."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.delitem(registry._extra, "csvdir", raising=False)  # the backend suite registers it directly
    for module in [m for m in sys.modules if m == "nlquery_csvdir" or m.startswith("nlquery_csvdir.")]:
        monkeypatch.delitem(sys.modules, module)
    real = registry._entry_points
    point = _declared_entry_point()
    monkeypatch.setattr(registry, "_entry_points", lambda: {**real(), point.name: point})
    return point


@pytest.fixture
def csv_directory(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "orders.csv").write_text("id,customer,total,created_at\n1,ana,10.5,2026-01-03 10:00:00\n"
                                       "2,ben,4,2026-01-20 08:30:00\n3,ana,,2026-02-01 12:00:00\n")
    (folder / "customers.csv").write_text("name,country\nana,PT\nben,\n")
    return folder


def test_the_example_declares_its_entry_point():
    point = _declared_entry_point()
    assert (point.name, point.value) == ("csvdir", "nlquery_csvdir:CSVDirConnector")


def test_it_is_unknown_without_the_entry_point(monkeypatch):
    monkeypatch.delitem(registry._extra, "csvdir", raising=False)
    monkeypatch.setattr(registry, "_entry_points", lambda: {})
    assert "csvdir" not in connectors.available()
    with pytest.raises(connectors.InvalidConnection, match="unknown source type 'csvdir'"):
        registry.connector_class("csvdir")


def test_the_entry_point_registers_the_connector(installed):
    assert "csvdir" in connectors.available()
    cls = registry.connector_class("csvdir")
    assert cls.__module__ == "nlquery_csvdir" and cls.type_name == "csvdir"
    assert registry.connection_model("csvdir").__name__ == "CSVDirConnection"
    assert isinstance(connectors.connect("csvdir", database="/nowhere"), connectors.Connector)


def test_engine_add_source_works_end_to_end(installed, csv_directory):
    with Engine() as engine:
        engine.add_source("exports", type="csvdir", connection={"database": str(csv_directory)})
        schema = engine.refresh_schema("exports").schema
        orders = schema.table("orders")
        assert [(c.name, c.type) for c in orders.columns] == [
            ("id", "integer"), ("customer", "text"), ("total", "real"), ("created_at", "text")]
        assert orders.row_estimate == 3 and orders.column("total").nullable
        result = engine.query("exports", "SELECT customer, SUM(total) FROM orders WHERE id > $1 "
                                         "GROUP BY customer ORDER BY customer", [0])
        assert result.rows == [["ana", 10.5], ["ben", 4.0]]
        with pytest.raises(Exception) as refused:  # the guard, before the connector
            engine.query("exports", "DELETE FROM orders")
        assert refused.value.code == "query_not_read_only"
        answer = engine.ask("exports", "How many orders per month?", planner="rules")
        assert answer.result.rows == [["2026-01", 2], ["2026-02", 1]]


def test_the_session_is_read_only_and_files_are_reread(installed, csv_directory):
    conn = connectors.connect("csvdir", database=str(csv_directory))
    with conn:
        with pytest.raises(connectors.QueryExecutionFailed, match="not authorized"):
            conn.execute("ATTACH ':memory:' AS other")
        (csv_directory / "orders.csv").write_text("id\n1\n2\n3\n4\n")
        assert conn.execute("SELECT COUNT(*) FROM orders").rows == [[4]]
        with pytest.raises(connectors.DataSourceDisconnected):
            connectors.connect("csvdir", database=str(csv_directory / "missing")).ping()
