"""``nlquery doctor``: every check, and the fix line of every problem."""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from nlquery.cli import cli

REFUSED_PG = "postgresql://postgres@127.0.0.1:1/nlq_nothing_here"


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, list(args))

    return invoke


@pytest.fixture
def good_source(run, shop_path):
    assert run("sources", "add", "shop", "--url", f"sqlite:///{shop_path}").exit_code == 0


def doctor_json(run) -> tuple[int, dict]:
    result = run("doctor", "--json")
    return result.exit_code, json.loads(result.stdout)


def check(data: dict, group: str, name: str) -> dict:
    return next(c for c in data["checks"] if c["group"] == group and c["name"] == name)


def test_a_good_set_up_passes_with_warnings_only(run, good_source):
    code, data = doctor_json(run)
    assert code == 0, data
    assert data["ok"] is True and data["summary"]["fail"] == 0
    assert check(data, "sources", "shop") == {"group": "sources", "name": "shop", "status": "ok",
                                             "detail": "connects (sqlite)", "fix": None}
    assert check(data, "python", "python")["status"] == "ok"
    assert check(data, "python", "sqlglot")["status"] == "ok"
    assert check(data, "catalog", "catalog")["status"] == "ok"
    assert "(1 source(s))" in check(data, "catalog", "catalog")["detail"]
    assert {c["status"] for c in data["checks"]} <= {"ok", "warn"}


def test_a_broken_source_fails_with_its_fix_line(run, good_source):
    assert run("sources", "add", "broken", "--url", REFUSED_PG, "--allow-unreachable").exit_code == 0
    code, data = doctor_json(run)
    assert code == 1 and data["ok"] is False and data["summary"]["fail"] == 1
    broken = check(data, "sources", "broken")
    assert broken["status"] == "fail" and "Connection refused" in broken["detail"]
    assert broken["fix"].startswith("nlquery sources update broken --url")
    assert check(data, "sources", "shop")["status"] == "ok"


def test_the_table_lists_each_fix_on_one_line_and_exits_1(run, good_source):
    run("sources", "add", "broken", "--url", REFUSED_PG, "--allow-unreachable")
    result = run("doctor")
    assert result.exit_code == 1
    assert "To fix:" in result.stdout
    assert any(line.strip().startswith("broken: nlquery sources update broken --url")
               for line in result.stdout.splitlines())
    assert "0 failure(s)" not in result.stdout and "1 failure(s)" in result.stdout


def test_a_source_whose_driver_is_missing_gets_the_install_line(run, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyodbc", None)
    run("sources", "add", "ms", "--url", "mssql://sa@127.0.0.1:1/master", "--allow-unreachable")
    code, data = doctor_json(run)
    assert code == 1
    assert check(data, "sources", "ms")["fix"] == 'pip install -e ".[mssql]"'  # in this source checkout
    extra = check(data, "extras", "mssql")
    assert extra["status"] == "warn" and extra["fix"] == 'pip install -e ".[mssql]"'


def test_a_missing_password_variable_says_which_to_export(run, monkeypatch):
    monkeypatch.setenv("NLQ_DOCTOR_PW", "x")
    run("sources", "add", "pg", "--type", "postgresql", "--host", "127.0.0.1", "--port", "1",
        "--database", "d", "--username", "u", "--password-env", "NLQ_DOCTOR_PW", "--allow-unreachable")
    monkeypatch.delenv("NLQ_DOCTOR_PW")
    code, data = doctor_json(run)
    assert code == 1
    assert check(data, "sources", "pg")["fix"] == "export NLQ_DOCTOR_PW=<the password>"


def test_no_llm_is_a_warning_with_the_variables_to_set(run):
    code, data = doctor_json(run)
    assert code == 0
    llm = check(data, "llm", "LLM")
    assert llm["status"] == "warn"
    assert "NLQUERY_LLM_BASE_URL" in llm["fix"] and "NLQUERY_LLM_MODEL" in llm["fix"]


class _Models(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path != "/v1/models":
            self.send_error(404)
            return
        if self.headers.get("Authorization") != "Bearer good-key":
            self.send_error(401)
            return
        body = json.dumps({"object": "list", "data": [{"id": "qwen-small"}, {"id": "llama-tiny"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def llm_server(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("NLQUERY_LLM_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
    monkeypatch.setenv("NLQUERY_LLM_API_KEY", "good-key")
    yield server
    server.shutdown()
    server.server_close()


def test_llm_endpoint_and_model_are_checked(run, llm_server, monkeypatch):
    monkeypatch.setenv("NLQUERY_LLM_MODEL", "llama-tiny")
    code, data = doctor_json(run)
    assert code == 0, data
    assert check(data, "llm", "LLM endpoint")["status"] == "ok"
    assert check(data, "llm", "LLM model") == {"group": "llm", "name": "LLM model", "status": "ok",
                                               "detail": "llama-tiny", "fix": None}
    assert check(data, "environment", "NLQUERY_LLM_API_KEY")["detail"] == "set"  # never the key itself
    assert "good-key" not in json.dumps(data)


def test_a_model_the_endpoint_does_not_offer_fails(run, llm_server, monkeypatch):
    monkeypatch.setenv("NLQUERY_LLM_MODEL", "gpt-imaginary")
    code, data = doctor_json(run)
    assert code == 1
    model = check(data, "llm", "LLM model")
    assert model["status"] == "fail" and "qwen-small, llama-tiny" in model["detail"]
    assert model["fix"] == "export NLQUERY_LLM_MODEL=qwen-small"


def test_a_refused_api_key_fails(run, llm_server, monkeypatch):
    monkeypatch.setenv("NLQUERY_LLM_API_KEY", "bad-key")
    code, data = doctor_json(run)
    assert code == 1
    assert "refused the API key (HTTP 401)" in check(data, "llm", "LLM endpoint")["detail"]


def test_an_unreachable_llm_fails(run, monkeypatch):
    monkeypatch.setenv("NLQUERY_LLM_BASE_URL", "http://127.0.0.1:1/v1")
    code, data = doctor_json(run)
    assert code == 1
    endpoint = check(data, "llm", "LLM endpoint")
    assert endpoint["status"] == "fail" and "cannot reach http://127.0.0.1:1/v1" in endpoint["detail"]


def test_a_key_file_others_can_read_is_a_warning_with_chmod(run, nlquery_home, good_source):
    key = nlquery_home / "secret.key"
    assert key.exists()
    os.chmod(key, 0o644)
    code, data = doctor_json(run)
    assert code == 0
    secret = check(data, "catalog", "secret key")
    assert secret["status"] == "warn" and secret["fix"] == f"chmod 600 {key}"
    os.chmod(key, 0o600)
    assert check(doctor_json(run)[1], "catalog", "secret key")["status"] == "ok"


def test_a_secret_key_from_the_environment_is_reported_not_shown(run, monkeypatch):
    monkeypatch.setenv("NLQUERY_SECRET_KEY", "correct horse battery staple")
    data = doctor_json(run)[1]
    assert check(data, "catalog", "secret key")["detail"] == "from NLQUERY_SECRET_KEY"
    assert "correct horse" not in json.dumps(data)


def test_a_malformed_service_variable_fails(run, monkeypatch):
    monkeypatch.setenv("NLQUERY_MAX_RESPONSE_BYTES", "ten megabytes")
    code, data = doctor_json(run)
    assert code == 1
    assert check(data, "environment", "NLQUERY_MAX_RESPONSE_BYTES")["status"] == "fail"


def test_an_unreadable_catalog_fails(run, nlquery_home):
    nlquery_home.mkdir(parents=True, exist_ok=True)
    (nlquery_home / "catalog.db").write_bytes(b"this is not a database" * 100)
    code, data = doctor_json(run)
    assert code == 1
    assert check(data, "catalog", "catalog")["status"] == "fail"


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True,
                    reason="root writes anywhere: a read-only home cannot be shown")
def test_a_read_only_home_fails(run, nlquery_home):
    nlquery_home.mkdir(parents=True, exist_ok=True)
    os.chmod(nlquery_home, 0o500)
    try:
        code, data = doctor_json(run)
    finally:
        os.chmod(nlquery_home, 0o700)
    assert code == 1 and check(data, "catalog", "home")["status"] == "fail"


def test_extras_and_system_libraries_are_reported(run, monkeypatch):
    monkeypatch.setitem(sys.modules, "pymongo", None)
    data = doctor_json(run)[1]
    mongodb = check(data, "extras", "mongodb")
    assert mongodb["status"] == "warn" and mongodb["fix"] == 'pip install -e ".[mongodb]"'
    assert check(data, "extras", "postgresql")["status"] == "ok"  # psycopg is part of the dev set-up
    unixodbc = check(data, "system", "unixODBC")
    assert unixodbc["status"] in {"ok", "warn"}
    if unixodbc["status"] == "warn":
        assert unixodbc["fix"] == "apt-get install unixodbc tdsodbc"
