"""The console in a real browser: Playwright driving Debian's Chromium against a real
``nlquery serve`` on the demo shop (the offline rules planner answers).

Skipped, with the reason, when the ``playwright`` package or a Chromium binary is missing
(``apt-get install chromium``; NLQUERY_TEST_CHROMIUM names another binary). Browsers are
never downloaded. A failing test leaves a screenshot (and the page's console log) in
NLQUERY_TEST_ARTIFACTS, or the test's tmp directory, and prints where.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nlquery import chart

CHROMIUM = os.environ.get("NLQUERY_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-dev-shm-usage"]
TOKEN = "console-test-token"
TIMEOUT_MS = 20_000

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need: pip install 'playwright<2'")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set NLQUERY_TEST_CHROMIUM)",
                allow_module_level=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def nlquery(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nlquery.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def server(nlquery_home, tmp_path):
    """``nlquery demo`` (builds and registers demo-shop), then ``nlquery serve`` on a free port."""
    env = {**os.environ, "NLQUERY_API_TOKENS": TOKEN, "PYTHONUNBUFFERED": "1"}
    env.pop("NLQUERY_LLM_BASE_URL", None)
    demo = nlquery("demo", env=env)
    assert demo.returncode == 0, demo.stderr
    port = free_port()
    log = open(tmp_path / "serve.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "nlquery.cli", "serve", "--port", str(port)], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if process.poll() is not None:
                pytest.fail(f"nlquery serve exited: {(tmp_path / 'serve.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(base + "/healthz", timeout=1):
                    break
            time.sleep(0.1)
        else:
            pytest.fail("nlquery serve did not answer /healthz")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def page(server, tmp_path, request):
    """A Chromium page that records console errors, page errors and failed responses;
    screenshot and log saved when the test fails."""
    artifacts = Path(os.environ.get("NLQUERY_TEST_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.problems = []  # console errors and uncaught exceptions
        page.failed = []  # (method, path, status) of every response >= 400
        page.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource")
                and page.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: page.problems.append(f"pageerror: {e}"))
        page.on("response", lambda r: r.status >= 400 and page.failed.append(
            (r.request.method, r.url.replace(server, ""), r.status)))
        page.on("requestfailed", lambda r: page.problems.append(f"request failed: {r.url} {r.failure}"))
        page.base = server
        try:
            yield page
        finally:
            report = getattr(request.node, "rep_call", None)
            if report is None or report.failed:
                shot = artifacts / f"{request.node.name}.png"
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(shot), full_page=True)
                (artifacts / f"{request.node.name}.log").write_text("\n".join(page.problems + [str(f) for f in page.failed]))
                print(f"\nconsole test failed: screenshot {shot}", file=sys.stderr)
            context.close()
            browser.close()


def open_console(page):
    page.goto(page.base + f"/#token={TOKEN}")
    page.wait_for_function("() => document.querySelectorAll('#ask-source option').length > 0")
    assert "token" not in page.url  # moved to sessionStorage, out of the address bar and history
    assert page.evaluate("sessionStorage.getItem('nlq.token')") == TOKEN


def ask(page, question):
    page.fill("#ask-question", question)
    page.press("#ask-question", "Enter")


def test_ask_chart_edit_refuse_export_map_and_ask_again(page, tmp_path):
    open_console(page)
    assert page.locator("#ask-source option:checked").inner_text() == "demo-shop"

    # ask -> table
    ask(page, "How many orders per status?")
    page.wait_for_selector("#result-table tbody tr")
    headers = page.locator("#result-table thead th").all_inner_texts()
    assert headers == ["status", "count"]
    rows = page.locator("#result-table tbody tr").count()
    assert rows >= 2
    sql = page.input_value("#sql-editor")
    assert "GROUP BY" in sql and "FROM" in sql.splitlines()[1]  # formatted: clauses on their own lines
    page.click("#answer-details summary")
    assert "Tables used" in page.inner_text("#answer-facts")
    assert page.locator("#answer-attempts li").count() >= 1

    # -> chart: an SVG with one bar per row
    assert page.locator("#chart svg rect.mark").count() == rows
    assert page.get_attribute("#chart svg", "aria-label") == "bar chart of count by status"
    page.select_option("#chart-type", "point")
    page.select_option("#chart-type", "line")
    assert page.locator("#chart svg path.mark").count() == 1
    page.select_option("#chart-type", "auto")

    # -> edit SQL (with a $1 parameter), run through /query
    page.fill("#sql-editor", "SELECT status, COUNT(*) AS n FROM orders WHERE total_amount > $1\nGROUP BY status ORDER BY n DESC")
    page.fill("#param-1", "100")
    page.click("#run-sql")
    page.wait_for_function("() => document.querySelector('#result-table thead th:last-child').textContent === 'n'")
    assert page.inner_text("#result-meta").startswith("Edited SQL")
    assert not page.is_visible("#sql-error")
    assert page.locator("#chart svg rect.mark").count() >= 1

    # -> a write is refused inline, with its code
    page.fill("#sql-editor", "DELETE FROM orders")
    page.click("#run-sql")
    page.wait_for_selector("#sql-error:not([hidden])")
    refusal = page.inner_text("#sql-error")
    assert "error[query_not_read_only]" in refusal and "DELETE" in refusal

    # -> export CSV of the result on screen
    with page.expect_download() as download_info:
        page.click("#export-csv")
    download = download_info.value
    assert download.suggested_filename.startswith("demo-shop-") and download.suggested_filename.endswith(".csv")
    path = tmp_path / "export.csv"
    download.save_as(path)
    table = list(csv.reader(io.StringIO(path.read_text())))
    assert table[0] == ["status", "n"] and len(table) == page.locator("#result-table tbody tr").count() + 1
    with page.expect_download() as download_info:
        page.click("#export-json")
    exported = json.loads(Path(download_info.value.path()).read_text())
    assert exported["columns"] == ["status", "n"] and exported["rows"][0].keys() == {"status", "n"}

    # a question the schema's words do not cover yet
    ask(page, "How many shoppers?")
    page.wait_for_selector("#ask-error:not([hidden])")
    assert "question_not_answerable" in page.inner_text("#ask-error")

    # -> edit a mapping: an invalid one shows the API's message, a valid one is saved
    page.click("button.tab[data-page=schema]")
    page.wait_for_selector("article[aria-label='table customers']")
    # value hints (GET /value-hints) are shown and searched: the country codes of customers
    country = page.locator("article[aria-label='table customers'] tr[data-key='customers.country'] td.values")
    assert "US" in country.inner_text()
    page.fill("#schema-search", "signup")
    assert page.locator("article.table-card").count() == 1  # only customers mentions a signup date
    page.fill("#schema-search", "Berlin")
    assert page.locator("article.table-card").all_inner_texts()[0].startswith("customers")
    assert page.locator("article.table-card").count() == 1
    # no table or column mentions the phrase: the planner's linker (GET /schema/search) picks the tables
    page.fill("#schema-search", "customers who signed up")
    page.wait_for_selector("#schema-linked button[aria-label='Go to table customers']")
    page.wait_for_selector("article[data-table='customers']")
    assert page.locator("article.table-card").first.get_attribute("data-table") == "customers"
    page.fill("#schema-search", "")
    page.wait_for_selector("#schema-linked", state="hidden")
    page.click("button[aria-label='Edit mapping of customers']")
    synonyms = page.locator("#edit-customers-synonyms")
    synonyms.fill(synonyms.input_value() + ", " + "x" * 201)
    page.click("form[aria-label='Mapping of customers'] button[type=submit]")
    page.wait_for_selector("form[aria-label='Mapping of customers'] + p.error:not([hidden])")
    assert "invalid_request" in page.inner_text("form[aria-label='Mapping of customers'] + p.error")
    synonyms.fill("users, clients, shoppers")
    page.click("form[aria-label='Mapping of customers'] button[type=submit]")
    page.wait_for_selector("article[aria-label='table customers'] .tag:text-is('shoppers')")

    # -> ask again: the planner uses the new synonym
    page.click("button.tab[data-page=ask]")
    assert page.locator("#ask-history button:text-is('How many shoppers?')").count() == 0  # failures not kept
    ask(page, "How many shoppers?")
    page.wait_for_function("() => document.querySelector('#result-table thead').textContent === 'count'")
    assert page.locator("#result-table thead th").all_inner_texts() == ["count"]
    count = int(page.inner_text("#result-table tbody td.num"))
    assert count > 0 and page.locator("#chart svg text.mark").text_content() == f"{count:,}"  # the big figure

    # history kept per source; the failures seen were the two expected ones only
    history = page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('nlq.history.'))")
    assert len(history) == 1
    assert page.problems == []
    assert sorted(page.failed) == sorted([
        ("POST", "/api/v1/data-sources/" + page.evaluate("document.querySelector('#ask-source').value") + "/query", 400),
        ("POST", "/api/v1/data-sources/" + page.evaluate("document.querySelector('#ask-source').value") + "/ask", 422),
        ("PATCH", "/api/v1/data-sources/" + page.evaluate("document.querySelector('#ask-source').value") +
         "/semantic-mappings", 422),
    ])


def test_share_link_reruns_the_question_and_keyboard_only(page):
    open_console(page)
    page.goto(page.base + "/#source=demo-shop&q=Average%20order%20total%20by%20month%20this%20year")
    page.wait_for_selector("#chart svg path.mark")  # a line: month + number
    assert page.input_value("#ask-question") == "Average order total by month this year"
    assert page.get_attribute("#chart svg", "aria-label").startswith("line chart of")

    # keyboard only: from the top of the page, Tab reaches the question, Enter asks
    page.goto(page.base + "/")
    page.wait_for_function("() => document.querySelectorAll('#ask-source option').length > 0")
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "ask-question":
            break
    else:
        pytest.fail("Tab never reached the question")
    page.keyboard.type("How many orders per status?")
    page.keyboard.press("Enter")
    page.wait_for_selector("#chart svg rect.mark")
    assert page.problems == [] and page.failed == []


def test_without_a_token_the_console_asks_for_one_then_runs_the_shared_question(page):
    page.goto(page.base + "/#source=demo-shop&q=How%20many%20orders%20per%20status%3F")
    page.wait_for_selector("#token-panel:not([hidden])")
    page.fill("#token-input", "wrong")
    page.press("#token-input", "Enter")
    page.wait_for_selector("#token-error:not([hidden])")
    assert "unauthorized" in page.inner_text("#token-error")
    page.fill("#token-input", TOKEN)
    page.press("#token-input", "Enter")
    page.wait_for_selector("#token-panel", state="hidden")
    assert page.locator("#ask-source option").all_inner_texts() == ["demo-shop"]
    page.wait_for_selector("#chart svg rect.mark")  # the shared link's question, asked once signed in
    assert page.input_value("#ask-question") == "How many orders per status?"
    assert page.problems == []
    assert {status for _, _, status in page.failed} == {401}


def test_sources_page_register_test_and_delete(page, shop_path):
    open_console(page)
    page.click("button.tab[data-page=sources]")
    page.wait_for_selector("#sources-table tr[data-source='demo-shop']")
    page.click("button[aria-label='Test the connection of demo-shop']")
    page.wait_for_selector("#sources-table .ok")
    assert "demo-shop: connected" in page.inner_text("#sources-table .ok")  # POST /test-connection
    assert "SELECT 1" not in page.inner_text("#sources-table .ok")

    # the API's validation shown as is: a duplicate name
    page.fill("#add-name", "demo-shop")
    page.select_option("#add-type", "sqlite")
    page.fill("#add-database", str(shop_path))
    page.click("#add-form button[type=submit]")
    page.wait_for_selector("#add-error:not([hidden])")
    assert "conflict" in page.inner_text("#add-error")

    page.fill("#add-name", "second-shop")
    page.fill("#add-password", "never-shown")
    page.click("#add-form button[type=submit]")
    page.wait_for_selector("#sources-table tr[data-source='second-shop']")
    page.wait_for_function("() => document.querySelector('#sources-status').textContent.includes('schema ready')")
    assert "never-shown" not in page.content()
    assert page.input_value("#add-password") == ""

    # refresh its schema after a change: the diff of the refresh is shown
    import sqlite3
    with contextlib.closing(sqlite3.connect(shop_path)) as db:
        db.execute("CREATE TABLE returns (id INTEGER PRIMARY KEY, order_id INTEGER, reason TEXT)")
        db.execute("ALTER TABLE products ADD COLUMN colour TEXT")
        db.commit()
    page.click("button[aria-label='Schema of second-shop']")
    page.wait_for_selector("article[aria-label='table products']")
    page.click("#schema-refresh")
    page.wait_for_selector("#schema-diff:not([hidden])")
    diff = page.locator("#schema-diff li").all_inner_texts()
    assert "added: table returns" in diff and "added: column products.colour text" in diff, diff
    assert "version 2" in page.inner_text("#schema-diff h3")
    page.wait_for_selector("article[aria-label='table returns']")
    # the diff comes from the server (GET /schema/diff): shown again on demand, after a reload too
    page.reload()
    page.click("button.tab[data-page=schema]")
    page.select_option("#schema-source", label="second-shop")
    page.wait_for_selector("article[aria-label='table returns']")
    page.click("#schema-diff-show")
    page.wait_for_selector("#schema-diff li.added")
    assert "added: table returns" in page.locator("#schema-diff li").all_inner_texts()
    # a refresh that changes nothing says so
    page.click("#schema-refresh")
    page.wait_for_selector("#schema-diff p.muted")
    assert "No change since the previous version." in page.inner_text("#schema-diff")
    assert page.locator("#schema-diff li").count() == 0

    page.click("button.tab[data-page=sources]")
    page.click("button[aria-label='Delete second-shop']")
    page.get_by_role("alertdialog").get_by_role("button", name="Delete second-shop").click()  # confirmed
    page.wait_for_selector("#sources-table tr[data-source='second-shop']", state="detached")
    assert page.problems == []


def test_the_browser_and_python_choose_the_same_chart(page):
    open_console(page)
    shapes = [
        (["month", "total"], [["2026-01", 1.5], ["2026-02", 2]]),
        (["day", "status", "n"], [["2026-11-01", "paid", 1], ["2026-11-02", "paid", 2]]),
        (["status", "count"], [["paid", 3], ["shipped", "4.50"]]),
        (["price", "qty"], [[1, 2], [3, 4]]),
        (["count"], [[7]]),
        (["country", "n"], [["US", 3]]),
        (["year", "n"], [[2024, 1], [2025, 2]]),
        (["name", "email"], [["a", "b"]]),
        (["n"], [[1], [2]]),
        ([], []),
    ]
    for columns, rows in shapes:
        in_browser = page.evaluate("([c, r]) => window.nlqChart.infer(c, r)", [columns, rows])
        assert in_browser == chart.infer(columns, rows), (columns, rows)


def test_accessibility_basics(page):
    """Every control has a label or an accessible name; one h1; the page has a language;
    focus is visible (an outline style on :focus-visible)."""
    open_console(page)
    ask(page, "How many orders per status?")
    page.wait_for_selector("#chart svg rect.mark")
    unlabeled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter(e => e.offsetParent !== null && e.type !== 'hidden')
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
        .map(e => e.outerHTML.slice(0, 80))""")
    assert unlabeled == []
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.locator("h1").count() == 1
    assert page.get_attribute("#chart svg", "role") == "img"
    # WCAG AA contrast (4.5:1) of the text people read: body, muted notes, buttons, headers, errors
    low = page.evaluate("""() => {
        const rgb = s => s.match(/[\\d.]+/g).map(Number);
        const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
            .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
        const background = e => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
            if (c.length < 4 || c[3] > 0) return c.slice(0, 3); } return [255, 255, 255]; };
        const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
        return [...document.querySelectorAll('label, p, button, th, td, dt, dd, h1, h2, h3, .tab, .muted, .error')]
            .filter(e => e.offsetParent !== null && e.textContent.trim())
            .map(e => [e.tagName + '.' + e.className, ratio(rgb(getComputedStyle(e).color).slice(0, 3), background(e))])
            .filter(([, r]) => r < 4.5);
    }""")
    assert low == []
    page.focus("#ask-button")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")


def test_csv_export_defuses_formulas(page):
    """Cells a spreadsheet would run as formulas get a leading quote; numbers stay numbers."""
    open_console(page)
    cells = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)", "\tx", "\rx", "plain", "a=b"]
    got = page.evaluate("(cells) => cells.map(window.nlqConsole.csvCell)", cells)
    assert got == ['"\'=HYPERLINK(""http://x"")"', "'+1+1", "'-2+3+cmd|' /C calc'!A0", "'@SUM(A1)", "'\tx",
                   '"\'\rx"', "plain", "a=b"]
    assert page.evaluate("[-5, 3.5, null].map(window.nlqConsole.csvCell)") == ["-5", "3.5", ""]
    page.fill("#ask-question", "How many orders per status?")
    page.press("#ask-question", "Enter")
    page.wait_for_selector("#result-table tbody tr")
    page.fill("#sql-editor", "SELECT '=1+2' AS \"=x\", -3 AS n, '-4' AS t")
    page.click("#run-sql")
    page.wait_for_function("() => document.querySelector('#result-table thead th').textContent === '=x'")
    with page.expect_download() as download_info:
        page.click("#export-csv")
    text = Path(download_info.value.path()).read_text()
    assert list(csv.reader(io.StringIO(text))) == [["'=x", "n", "t"], ["'=1+2", "-3", "'-4"]]
    assert page.problems == []
