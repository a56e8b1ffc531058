"""The CLI as a user meets it: JSON output, exit codes, one-line errors."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from nlquery.cli import cli
from nlquery.demo import demo_database


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def shop_url():
    path, _ = demo_database()
    return f"sqlite:///{path}"


def test_demo_builds_the_shop_and_refuses_a_write(runner, nlquery_home):
    result = runner.invoke(cli, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["created"] is True and (nlquery_home / "demo" / "shop.db").exists()
    assert {t["name"] for t in data["tables"]} == {"customers", "products", "orders", "order_items"}
    assert all(q["row_count"] > 0 for q in data["queries"])
    assert [a["planner"] for a in data["answers"]] == ["rules"] * 4  # offline: no LLM configured
    assert all(a["row_count"] > 0 for a in data["answers"])
    assert data["refused"]["code"] == "query_not_read_only"
    again = json.loads(runner.invoke(cli, ["demo", "--json"]).output)
    assert again["created"] is False


def test_demo_renders_tables_for_people(runner):
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 0
    assert "How many customers signed up last month?" in result.output
    assert "error[query_not_read_only]" in result.output


def test_schema_extract_prints_the_api_json(runner, shop_url):
    result = runner.invoke(cli, ["schema", "extract", "--url", shop_url, "--json"])
    assert result.exit_code == 0, result.output
    tables = {t["name"]: t for t in json.loads(result.output)["tables"]}
    assert tables["orders"]["columns"][0] == {"name": "id", "type": "int", "nullable": False}


def test_schema_extract_table_view(runner, shop_url):
    result = runner.invoke(cli, ["schema", "extract", "--url", shop_url])
    assert result.exit_code == 0 and "order_items" in result.output


def test_query_with_parameters_and_cap(runner, shop_url):
    result = runner.invoke(cli, ["query", "--url", shop_url, "--json", "--max-rows", "2",
                                 "SELECT id FROM customers WHERE country = $1 ORDER BY id", "-p", "CA"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["row_count"] == 2 and data["truncated"] is True and data["columns"] == ["id"]


def test_refused_query_is_one_line_on_stderr_and_exit_1(runner, shop_url):
    result = runner.invoke(cli, ["query", "--url", shop_url, "DROP TABLE orders"])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error[query_not_read_only]: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_connection_is_a_usage_error(runner):
    result = runner.invoke(cli, ["query", "SELECT 1"])
    assert result.exit_code == 2 and "--url" in result.output


def test_bad_option_value_is_a_usage_error(runner, shop_url):
    result = runner.invoke(cli, ["query", "--url", shop_url, "--max-rows", "-5", "SELECT 1"])
    assert result.exit_code == 2


def test_password_env_must_exist(runner):
    result = runner.invoke(cli, ["query", "--type", "postgresql", "--host", "h", "--password-env",
                                 "NLQ_TEST_UNSET_VAR", "SELECT 1"])
    assert result.exit_code == 1 and "error[invalid_request]" in result.stderr


def test_unknown_type_is_a_clear_error(runner):
    result = runner.invoke(cli, ["schema", "extract", "--type", "cobol", "--host", "h"])
    assert result.exit_code == 1 and "error[invalid_request]: unknown source type 'cobol'" in result.stderr


def test_console_script_help_teaches():
    result = subprocess.run([sys.executable, "-m", "nlquery.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "nlquery demo" in result.stdout


def test_query_explain_shows_the_guarded_sql_without_running_it(runner, shop_url):
    result = runner.invoke(cli, ["query", "--url", shop_url, "SELECT name FROM customers WHERE id = $1",
                                 "-p", "7", "--explain", "--max-rows", "3"])
    assert result.exit_code == 0, result.output
    explained = json.loads(result.stdout)
    assert explained["parameters"] == ["7"]
    assert explained["sql"].endswith("LIMIT 4") and "?" in explained["sql"]
    assert "rows" not in explained
