"""CSV formula injection: text a spreadsheet would run as a formula (``=``, ``+``, ``-``,
``@``, tab, CR first) gets a leading ``'`` in every CSV nlquery writes (the encoder behind
HTTP ``/query`` and ``nlquery query --format csv``, and ``nlquery ask --format csv``);
numbers stay numbers. The console's own download is checked in test_browser.py."""

from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal

import pytest
from click.testing import CliRunner

from nlquery import encoding
from nlquery.cli import cli

PAYLOADS = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A9)", "\tx", "\rx"]
SQL = ("SELECT '=1+2' AS \"=x\", '-2+3+cmd|x' AS cmd, '@A1' AS at, '+7' AS plus, -5 AS n, -2.5 AS f, "
       "'a=b' AS plain, 'x' AS \"-neg\"")
EXPECTED = [["'=x", "cmd", "at", "plus", "n", "f", "plain", "'-neg"],
            ["'=1+2", "'-2+3+cmd|x", "'@A1", "'+7", "-5", "-2.5", "a=b", "x"]]


def parsed(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_csv_text_prefixes_formula_starts(payload):
    assert encoding.csv_text(payload) == "'" + payload
    assert parsed("".join(encoding.csv_lines([payload], [(payload,)]))) == [["'" + payload], ["'" + payload]]


def test_numbers_and_plain_text_are_untouched():
    rows = [(-5, -2.5, Decimal("-12345678901234567.891"), Decimal("-1.5"), "a=b", " =x", "", None)]
    assert parsed("".join(encoding.csv_lines(list("abcdefgh"), rows)))[1] == [
        "-5", "-2.5", "-12345678901234567.891", "-1.5", "a=b", " =x", "", ""]
    # text made from other values is text too: base64 may start with +
    assert parsed("".join(encoding.csv_lines(["b", "u"], [(b"\xfb\xff", uuid.UUID(int=0))])))[1] == [
        "'+/8=", "00000000-0000-0000-0000-000000000000"]


def test_http_query_csv_defuses_formulas(nlquery_home, shop_path):
    pytest.importorskip("fastapi")
    from tests.service.conftest import make_client

    with make_client() as client:
        created = client.post("/api/v1/data-sources", json={"name": "shop", "type": "sqlite",
                                                            "connection": {"database": str(shop_path)}})
        assert created.status_code == 201, created.text
        response = client.post("/api/v1/data-sources/shop/query", params={"format": "csv"}, json={"query": SQL})
        assert response.status_code == 200, response.text
        assert parsed(response.text) == EXPECTED
        # JSON carries the values untouched
        data = client.post("/api/v1/data-sources/shop/query", json={"query": SQL}).json()["data"]
        assert data["columns"][0] == "=x" and data["rows"][0][0] == "=1+2"


def test_cli_csv_defuses_formulas(nlquery_home, shop_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["sources", "add", "shop", "--url", f"sqlite:///{shop_path}"]).exit_code == 0
    result = runner.invoke(cli, ["query", "shop", SQL, "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert parsed(result.output) == EXPECTED


def test_cli_print_csv_defuses_formulas(capsys):
    from nlquery.commands.common import print_csv

    print_csv(["=x", "n"], [["=1+2", -5], ["@A1", True], [None, "ok"]])
    assert parsed(capsys.readouterr().out) == [["'=x", "n"], ["'=1+2", "-5"], ["'@A1", "true"], ["", "ok"]]
