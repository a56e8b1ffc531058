"""The catalog commands as a user meets them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nlquery.cli import cli


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, list(args))

    return invoke


@pytest.fixture
def registered(run, shop_path):
    result = run("sources", "add", "shop", "--type", "sqlite", "--database", str(shop_path), "--json",
                 "--description", "Demo shop", "--deny-column", "customers.email")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_add_list_show_update_rm(run, registered):
    assert registered["status"] == "connected" and registered["schema_status"] == "ready"
    listed = json.loads(run("sources", "list", "--json").output)
    assert [s["name"] for s in listed["data_sources"]] == ["shop"]
    shown = json.loads(run("sources", "show", "shop", "--json").output)
    assert {t["name"] for t in shown["tables"]} >= {"orders", "customers"}
    assert shown["policy"] == {"denied_columns": ["customers.email"]}
    renamed = json.loads(run("sources", "update", "shop", "--rename", "store", "--json").output)
    assert renamed["name"] == "store"
    assert json.loads(run("sources", "rm", "store", "--yes", "--json").output) == {"id": registered["id"], "deleted": True}


def test_refresh_prints_a_diff_and_all_refreshes_every_source(run, registered, shop_path):
    run("sources", "add", "copy", "--url", f"sqlite:///{shop_path}")
    text = run("schema", "refresh", "shop")
    assert text.exit_code == 0 and "shop: no change (schema version 1)" in text.output
    data = json.loads(run("schema", "refresh", "--all", "--json").output)
    assert sorted(r["source"] for r in data["refreshed"]) == ["copy", "shop"] and data["failed"] == []


def test_schema_show(run, registered):
    data = json.loads(run("schema", "show", "shop", "--json").output)
    assert "orders" in {t["name"] for t in data["tables"]}


def test_map_set_export_import(run, registered, tmp_path):
    result = run("map", "set", "shop", "customers", "--description", "Accounts", "-s", "users", "-s", "clients")
    assert result.exit_code == 0, result.output
    exported = run("map", "export", "shop", "--format", "json").output
    path = tmp_path / "m.json"
    path.write_text(exported)
    run("map", "set", "shop", "customers", "--remove")
    data = json.loads(run("map", "import", "shop", str(path), "--json").output)
    assert data["mappings"]["customers"] == {"description": "Accounts", "synonyms": ["users", "clients"]}


def test_query_by_name_applies_the_policy(run, registered):
    ok = json.loads(run("query", "shop", "SELECT COUNT(*) AS n FROM orders WHERE status = $1", "-p", "paid",
                        "--json").output)
    assert ok["columns"] == ["n"] and ok["rows"][0][0] > 0
    denied = run("query", "shop", "SELECT email FROM customers")
    assert denied.exit_code == 1 and denied.stderr.startswith("error[access_denied]")


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (("sources", "show", "nope"), 1, "error[data_source_not_found]"),
        (("sources", "rm", "nope"), 1, "error[data_source_not_found]"),
        (("sources", "add", "x", "--type", "postgresql", "--port", "abc"), 2, "abc"),
        (("sources", "add", "x", "--type", "oracle", "--host", "h"), 1, "unknown source type"),
        (("sources", "add", "x", "--host", "h"), 2, "--type"),
        (("schema", "refresh"), 2, "NAME or --all"),
        (("schema", "refresh", "nope"), 1, "error[data_source_not_found]"),
        (("map", "set", "nope", "t", "-s", "x"), 1, "error[data_source_not_found]"),
        (("map", "set", "shop", "customers"), 2, "--description"),
        (("map", "set", "shop", "custmers", "-s", "x"), 1, "did you mean 'customers'"),
        (("map", "import", "shop", "/no/such/file.yaml"), 1, "cannot read"),
        (("query", "shop"), 2, "NAME and SQL"),
        (("query", "nope", "SELECT 1"), 1, "error[data_source_not_found]"),
        (("query", "shop", "UPDATE orders SET status = 'x'"), 1, "error[query_not_read_only]"),
        (("query", "shop", "SELECT nme FROM customers"), 1, "did you mean customers.name"),
    ],
)
def test_bad_input_is_one_clear_line(run, registered, args, exit_code, message):
    result = run(*args)
    assert result.exit_code == exit_code, result.output
    assert message in result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr
