"""The console's routes and assets, `chart` on /ask, `nlquery ask --chart` and `nlquery ui`."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from nlquery.cli import cli
from nlquery.service import console

fastapi = pytest.importorskip("fastapi")
from tests.service.conftest import make_client, wait_until_extracted  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ASSETS = sorted(p for p in console.STATIC.iterdir() if p.is_file())
BUDGET_BYTES = 1_000_000
# URLs that are names, not resources: the SVG namespace and the Vega-Lite schema's id.
IDENTIFIERS = {"http://www.w3.org/2000/svg", "https://vega.github.io/schema/vega-lite/v5.json"}


@pytest.fixture
def client(nlquery_home):
    with make_client() as test_client:
        yield test_client


@pytest.fixture
def shop(client, shop_path):
    response = client.post("/api/v1/data-sources", json={"name": "shop", "type": "sqlite",
                                                         "connection": {"database": str(shop_path)}})
    assert response.status_code == 201, response.text
    wait_until_extracted(client, response.json()["data"]["id"])
    return response.json()["data"]


def test_the_page_is_served_at_root_without_a_token_with_a_strict_policy(client):
    response = client.get("/", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy and "unsafe-inline" not in policy
    assert "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<title>nlquery console</title>" in response.text
    # the page holds no data: the API behind it still wants the token
    assert client.get("/api/v1/data-sources", headers={"Authorization": ""}).status_code in (200, 401)
    assert client.get("/api/v1/data-sources", headers={"Authorization": "Bearer wrong"}).status_code == 401


@pytest.mark.parametrize("name,content_type", [
    ("app.js", "text/javascript"), ("chart.js", "text/javascript"), ("style.css", "text/css"),
    ("favicon.svg", "image/svg+xml"), ("index.html", "text/html"),
])
def test_assets_have_their_content_types(client, name, content_type):
    response = client.get(f"/console/{name}", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == (console.STATIC / name).read_bytes()


def test_an_unknown_asset_is_the_api_s_404(client):
    response = client.get("/console/nope.js")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert client.get("/console/../app.py").status_code == 404


def test_every_page_reference_is_shipped():
    html = (console.STATIC / "index.html").read_text()
    references = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert references, "the page references its assets"
    for reference in references:
        assert reference.startswith("/console/"), reference
        assert (console.STATIC / reference.removeprefix("/console/")).is_file(), reference


def test_no_asset_loads_anything_from_elsewhere():
    """No CDN: no external script, stylesheet, font, image or fetch in any shipped file."""
    for path in ASSETS:
        text = path.read_text()
        assert not re.search(r'(?:src|href)\s*=\s*["\']?(?:https?:)?//', text, re.I), path.name
        assert not re.search(r'url\(\s*["\']?(?:https?:)?//', text, re.I), path.name
        assert not re.search(r"@import", text), path.name
        urls = set(re.findall(r"https?://[^\s\"'<>)]+", text))
        assert urls <= IDENTIFIERS, (path.name, urls - IDENTIFIERS)
        assert not re.search(r"\beval\s*\(|new Function\s*\(|\.innerHTML\s*=|insertAdjacentHTML|document\.write",
                             text), path.name


def test_assets_fit_the_budget_and_are_package_data():
    total = sum(p.stat().st_size for p in ASSETS)
    assert total < BUDGET_BYTES, total
    assert not [p for p in console.STATIC.iterdir() if p.is_dir()], "package-data globs static/* only"
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["nlquery.service.console"]
    assert all(any(p.match(g.removeprefix("static/")) for g in globs) for p in ASSETS)
    dev = config["project"]["optional-dependencies"]["dev"]
    assert any(re.match(r"playwright.*<2", d) for d in dev)


def test_ask_adds_a_chart_only_when_asked(client, shop):
    url = f"/api/v1/data-sources/{shop['id']}/ask"
    plain = client.post(url, json={"question": "How many orders per status?"})
    assert plain.status_code == 200, plain.text
    assert "chart" not in plain.json()["data"]
    charted = client.post(url, json={"question": "How many orders per status?", "chart": True}).json()["data"]
    assert charted["chart"]["mark"]["type"] == "bar"
    assert charted["chart"]["encoding"]["x"]["field"] == charted["columns"][0]
    assert charted["chart"]["data"] == {"name": "result"}
    single = client.post(url, json={"question": "How many customers?", "chart": True}).json()["data"]
    assert single["chart"]["mark"]["type"] == "text"
    bad = client.post(url, json={"question": "x", "chart": "sometimes"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"


def test_ask_chart_writes_an_svg(shop_path, tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["sources", "add", "shop", "--url", f"sqlite:///{shop_path}"]).exit_code == 0
    out = tmp_path / "status.svg"
    result = runner.invoke(cli, ["ask", "shop", "How many orders per status?", "--chart", str(out)])
    assert result.exit_code == 0, result.output
    root = ET.fromstring(out.read_text())
    marks = [e for e in root.iter() if e.get("class") == "mark"]
    assert len(marks) >= 2 and all(m.tag.endswith("rect") for m in marks)
    wrong = runner.invoke(cli, ["ask", "shop", "How many orders?", "--chart", str(tmp_path / "x.gif")])
    assert wrong.exit_code == 2 and ".svg or .png" in wrong.output
    assert not (tmp_path / "x.gif").exists()


def test_ui_serves_loopback_with_a_token_of_its_own(monkeypatch):
    import os
    import webbrowser

    import uvicorn

    started, opened = {}, []
    monkeypatch.setenv("NLQUERY_API_TOKENS", "existing")
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(kw, app=app))
    monkeypatch.setattr(webbrowser, "open", opened.append)
    result = CliRunner().invoke(cli, ["ui", "--no-browser", "--port", "8765"])
    assert result.exit_code == 0, result.output
    match = re.search(r"http://127\.0\.0\.1:8765/#token=([\w-]+)", result.output)
    assert match, result.output
    token = match.group(1)
    assert started["host"] == "127.0.0.1" and started["port"] == 8765
    assert os.environ["NLQUERY_API_TOKENS"].split(",") == ["existing", token]
    assert len(token) >= 32 and opened == []
    again = CliRunner().invoke(cli, ["ui", "--no-browser", "--port", "8765"])
    assert re.search(r"#token=([\w-]+)", again.output).group(1) != token  # one per run
