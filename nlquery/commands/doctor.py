"""``nlquery doctor``: check the set-up and say how to fix what is wrong.

Every check is a row: ``ok``, ``warn`` (works, but something is missing or risky) or
``fail`` (something the user configured does not work); each problem carries the one
line that fixes it. Exit status 1 if any check fails; warnings do not fail.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import platform
import re
import stat
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table as RichTable

from nlquery.commands.common import engine, one_line, out, print_json
from nlquery.errors import NLQueryError

LLM_TIMEOUT_S = 2.0

# extra -> (modules it installs, what it unlocks). Imported for real: a module can be
# installed and still fail to load (pyodbc without the system's unixODBC).
EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "postgresql": (("psycopg",), "PostgreSQL sources"),
    "mysql": (("pymysql",), "MySQL/MariaDB sources"),
    "mssql": (("pyodbc",), "SQL Server sources"),
    "mongodb": (("pymongo",), "MongoDB sources"),
    "rest": (("httpx",), "REST API sources"),
    "duckdb": (("duckdb_engine",), "DuckDB sources"),
    "llm": (("openai",), "the LLM planner"),
    "server": (("fastapi", "uvicorn"), "nlquery serve (the HTTP API)"),
    "mcp": (("mcp",), "nlquery mcp (agent clients)"),
}

ODBC_FIX = "apt-get install unixodbc tdsodbc"

# Variables shown when set; secrets only as "set".
SERVICE_VARIABLES = (
    "NLQUERY_HOME", "NLQUERY_CATALOG_URL", "NLQUERY_SECRET_KEY", "NLQUERY_LLM_BASE_URL", "NLQUERY_LLM_MODEL",
    "NLQUERY_LLM_API_KEY", "OPENAI_API_KEY", "NLQUERY_API_TOKENS", "NLQUERY_CALLBACK_SECRET",
    "NLQUERY_DATA_DIRS", "NLQUERY_EGRESS_ALLOW", "NLQUERY_EGRESS_DENY", "NLQUERY_MAX_RESPONSE_BYTES",
    "NLQUERY_RATE_LIMIT_REDIS_URL", "NLQUERY_RATE_LIMIT_QUERIES", "NLQUERY_RATE_LIMIT_GLOBAL",
)
SECRET_VARIABLES = {"NLQUERY_SECRET_KEY", "NLQUERY_LLM_API_KEY", "OPENAI_API_KEY", "NLQUERY_CALLBACK_SECRET"}
INTEGER_VARIABLES = {"NLQUERY_MAX_RESPONSE_BYTES", "NLQUERY_RATE_LIMIT_QUERIES", "NLQUERY_RATE_LIMIT_GLOBAL"}


@dataclass
class Check:
    group: str
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str | None = None


@click.command()
@click.option("--json", "as_json", is_flag=True,
              help="Print {checks: [{group, name, status, detail, fix}], summary, ok}.")
def doctor(as_json: bool) -> None:
    """Check the set-up: Python and packages, optional extras and system libraries,
    the catalog and its secret key, configured variables, the LLM endpoint and
    whether every registered source connects. Each problem comes with its fix.

    Exit status 1 if a check fails (warnings do not fail).
    """
    checks = [*python_checks(), *extra_checks(), *odbc_checks(), *environment_checks()]
    try:
        key_existed = _key_file().exists()  # before the catalog opens (it creates the key)
    except OSError:
        key_existed = False  # the home cannot be created: the catalog check says so
    catalog = catalog_checks(key_existed)
    checks += catalog
    checks += llm_checks()
    if all(c.status != "fail" for c in catalog):  # else there is no list of sources to check
        checks += source_checks()
    summary = {status: sum(c.status == status for c in checks) for status in ("ok", "warn", "fail")}
    if as_json:
        print_json({"checks": [asdict(c) for c in checks], "summary": summary, "ok": not summary["fail"]})
    else:
        _render(checks, summary)
    if summary["fail"]:
        raise click.exceptions.Exit(1)


def _render(checks: list[Check], summary: dict[str, int]) -> None:
    colour = {"ok": "green", "warn": "yellow", "fail": "red"}
    table = RichTable()
    for header in ("group", "check", "status", "detail"):
        table.add_column(header)
    for c in checks:
        table.add_row(c.group, escape(c.name), f"[{colour[c.status]}]{c.status}[/{colour[c.status]}]",
                      escape(c.detail))
    out.print(table)
    problems = [c for c in checks if c.fix and c.status != "ok"]
    if problems:
        out.print("[bold]To fix:[/bold]")
        for c in problems:  # one line each, never wrapped: they are meant to be copied
            out.print(f"  [{colour[c.status]}]{escape(c.name)}[/{colour[c.status]}]: {escape(c.fix or '')}",
                      soft_wrap=True)
    out.print(f"{summary['ok']} ok, {summary['warn']} warning(s), {summary['fail']} failure(s)")


# -- what is installed ----------------------------------------------------------------
def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def pip_line(extra: str) -> str:
    """How to add an extra: editable from a source checkout, else from the index."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").exists() and (checkout / "nlquery").is_dir():
        return f'pip install -e ".[{extra}]"'
    return f'pip install "nlquery[{extra}]"'


def python_checks() -> list[Check]:
    checks = [Check("python", "python", "ok" if sys.version_info >= (3, 10) else "fail",
                    f"{platform.python_version()} ({sys.executable})",
                    None if sys.version_info >= (3, 10) else "nlquery needs Python 3.10 or newer")]
    checks.append(Check("python", "nlquery", "ok", f"{_version('nlquery') or 'not installed (source tree)'} "
                                                   f"at {Path(__file__).resolve().parents[1]}"))
    sqlglot, compiled = _version("sqlglot"), _version("sqlglotc")
    checks.append(Check("python", "sqlglot", "ok" if sqlglot else "fail", sqlglot or "not installed",
                        None if sqlglot else 'pip install -e .'))
    if compiled is None:
        checks.append(Check("python", "sqlglotc", "warn", "not installed: the guard runs on pure-Python "
                            "sqlglot (about 3x slower)", pip_line("fast")))
    elif sqlglot and compiled.split(".")[:2] != sqlglot.split(".")[:2]:
        checks.append(Check("python", "sqlglotc", "warn", f"{compiled} differs from sqlglot {sqlglot}",
                            f'pip install "sqlglotc=={sqlglot}"'))
    else:
        checks.append(Check("python", "sqlglotc", "ok", f"{compiled} (compiled guard)"))
    return checks


NOT_INSTALLED = "not installed"


def import_problem(module: str) -> str | None:
    """None if ``module`` imports, else why not (one line; NOT_INSTALLED if it is absent)."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        return NOT_INSTALLED if exc.name in (module, None) or module.startswith(f"{exc.name}.") else \
            one_line(str(exc))
    except ImportError as exc:
        return one_line(str(exc)) or type(exc).__name__
    except Exception as exc:  # a broken install: anything may come out of a module's import
        return f"{type(exc).__name__}: {one_line(str(exc))}"
    return None


def extra_checks() -> list[Check]:
    checks = []
    for extra, (modules, unlocks) in EXTRAS.items():
        problems = {m: import_problem(m) for m in modules}
        missing = {m: p for m, p in problems.items() if p}
        if not missing:
            versions = ", ".join(f"{m} {_version(m) or ''}".strip() for m in modules)
            checks.append(Check("extras", extra, "ok", f"{versions}: {unlocks}"))
            continue
        module, problem = next(iter(missing.items()))
        if "libodbc" in problem:  # the fix is the system check's (unixODBC, below)
            checks.append(Check("extras", extra, "warn", f"{module} is installed but the system's unixODBC is "
                                f"missing (see system: unixODBC): no {unlocks}"))
        elif problem == NOT_INSTALLED:
            checks.append(Check("extras", extra, "warn", f"{module} not installed: no {unlocks}",
                                pip_line(extra)))
        else:
            checks.append(Check("extras", extra, "warn", f"{module} does not import ({problem}): no {unlocks}",
                                f"{pip_line(extra)} --force-reinstall"))
    return checks


def odbc_checks() -> list[Check]:
    """unixODBC (the library pyodbc links) and an ODBC driver for SQL Server (FreeTDS)."""
    problem = import_problem("pyodbc")
    if problem is None:
        import pyodbc

        drivers = list(pyodbc.drivers())
        checks = [Check("system", "unixODBC", "ok", "loaded by pyodbc")]
        sqlserver = [d for d in drivers if "freetds" in d.lower() or "sql server" in d.lower()]
        if sqlserver:
            checks.append(Check("system", "SQL Server ODBC driver", "ok", ", ".join(sqlserver)))
        else:
            checks.append(Check("system", "SQL Server ODBC driver", "warn",
                                f"none registered (ODBC drivers: {', '.join(drivers) or 'none'}): SQL Server "
                                "sources cannot connect", "apt-get install tdsodbc (FreeTDS), or Microsoft's "
                                "msodbcsql18"))
        return checks
    import ctypes.util

    if "libodbc" in problem or ctypes.util.find_library("odbc") is None:
        return [Check("system", "unixODBC", "warn", "libodbc not found, so no ODBC driver either (FreeTDS): "
                      "SQL Server sources (and their tests) are unavailable", ODBC_FIX)]
    return [Check("system", "unixODBC", "ok", f"{ctypes.util.find_library('odbc')} (pyodbc not installed)")]


# -- configuration ----------------------------------------------------------------------
def _home() -> Path:
    from nlquery.paths import home

    return home()


def _key_file() -> Path:
    return _home() / "secret.key"  # nlquery.catalog.secrets: $NLQUERY_HOME/secret.key


def _mask_url(url: str) -> str:
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def environment_checks() -> list[Check]:
    checks = []
    for name in SERVICE_VARIABLES:
        value = os.environ.get(name)
        if value is None:
            continue
        status, detail, fix = "ok", value, None
        if name in SECRET_VARIABLES:
            detail = "set" if value else "set but empty"
        elif name.endswith("_URL"):
            detail = _mask_url(value)
        elif name == "NLQUERY_API_TOKENS":
            detail = f"{len([t for t in value.split(',') if t.strip()])} token(s)"
        if name in INTEGER_VARIABLES and not value.strip().isdigit():
            status, fix = "fail", f"export {name}=<a whole number> (or unset it for the default)"
            detail = f"{value!r} is not a whole number"
        elif name == "NLQUERY_LLM_BASE_URL" and not re.match(r"https?://", value):
            status, fix = "fail", "export NLQUERY_LLM_BASE_URL=http://host:port/v1"
            detail = f"{value!r} is not an http(s) URL"
        elif name == "NLQUERY_DATA_DIRS":
            gone = [d for d in value.split(os.pathsep) if d.strip() and not Path(d).expanduser().is_dir()]
            if gone:
                status, fix = "warn", f"mkdir -p {' '.join(gone)} (or remove them from NLQUERY_DATA_DIRS)"
                detail = f"{value} (not a directory: {', '.join(gone)})"
        checks.append(Check("environment", name, status, detail, fix))
    return checks


def catalog_checks(key_existed: bool) -> list[Check]:
    checks = []
    try:
        home = _home()
    except OSError as exc:
        return [Check("catalog", "NLQUERY_HOME", "fail", f"cannot create it: {exc.strerror or exc}",
                      "export NLQUERY_HOME=<a writable directory>")]
    if os.access(home, os.W_OK | os.X_OK):
        checks.append(Check("catalog", "home", "ok", f"{home} (writable)"))
    else:
        checks.append(Check("catalog", "home", "fail", f"{home} is not writable",
                            f"chmod u+rwx {home} (or export NLQUERY_HOME=<a writable directory>)"))
    url = os.environ.get("NLQUERY_CATALOG_URL")
    location = _mask_url(url) if url else str(home / "catalog.db")
    database = None if url else home / "catalog.db"
    if database is not None and database.exists() and not os.access(database, os.R_OK | os.W_OK):
        checks.append(Check("catalog", "catalog", "fail", f"{database} is not readable and writable",
                            f"chmod u+rw {database}"))
        return checks
    try:
        with engine() as e:
            count = len(e.list_sources())
    except NLQueryError as exc:
        checks.append(Check("catalog", "catalog", "fail", f"{location}: {one_line(exc.message)}",
                            "check NLQUERY_CATALOG_URL / NLQUERY_HOME (a corrupt file can be moved aside; "
                            "sources are then registered again)"))
        return checks
    except Exception as exc:
        checks.append(Check("catalog", "catalog", "fail", f"{location}: {type(exc).__name__}: "
                            f"{one_line(str(exc))}", "check NLQUERY_CATALOG_URL / NLQUERY_HOME"))
        return checks
    checks.append(Check("catalog", "catalog", "ok", f"{location} ({count} source(s))"))
    checks.append(_secret_key_check(key_existed))
    return checks


def _secret_key_check(key_existed: bool) -> Check:
    if os.environ.get("NLQUERY_SECRET_KEY"):
        return Check("catalog", "secret key", "ok", "from NLQUERY_SECRET_KEY")
    path = _key_file()
    if not path.exists():
        return Check("catalog", "secret key", "ok", f"{path} is created (mode 0600) when a password is stored")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Check("catalog", "secret key", "warn", f"{path} has mode {mode:04o}: others can read the key "
                     "that decrypts stored passwords", f"chmod 600 {path}")
    return Check("catalog", "secret key", "ok", f"{path} (mode 0600)" + ("" if key_existed else ", created now"))


# -- services ---------------------------------------------------------------------------
def llm_checks() -> list[Check]:
    with engine() as e:
        config = e.llm
    if not config.configured:
        return [Check("llm", "LLM", "warn", "none configured: ask uses the offline rules planner (simple "
                      "questions only)", "export NLQUERY_LLM_BASE_URL=http://host:port/v1 "
                      "NLQUERY_LLM_MODEL=<model> (and NLQUERY_LLM_API_KEY if the endpoint needs one)")]
    checks = []
    if import_problem("openai") is not None:
        checks.append(Check("llm", "openai package", "fail", "an LLM is configured but the openai package "
                            "does not import", pip_line("llm")))
    base = (config.base_url or "https://api.openai.com/v1").rstrip("/")
    request = urllib.request.Request(f"{base}/models", headers={"Accept": "application/json"})
    if config.api_key:
        request.add_header("Authorization", f"Bearer {config.api_key}")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=LLM_TIMEOUT_S) as response:  # noqa: S310 (http(s) only)
            listed = json.loads(response.read(2_000_000) or b"{}")
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return checks + [Check("llm", "LLM endpoint", "fail", f"{base} refused the API key (HTTP {exc.code})",
                                   "export NLQUERY_LLM_API_KEY=<a valid key>")]
        return checks + [Check("llm", "LLM endpoint", "warn", f"{base} is reachable but GET /models answered "
                               f"HTTP {exc.code}: the model cannot be checked")]
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return checks + [Check("llm", "LLM endpoint", "fail", f"cannot reach {base} within {LLM_TIMEOUT_S:g} s: "
                               f"{one_line(str(reason))}", "start the LLM server, or fix NLQUERY_LLM_BASE_URL")]
    elapsed = (time.perf_counter() - started) * 1000
    models = [m.get("id") for m in (listed.get("data") or []) if isinstance(m, dict)] \
        if isinstance(listed, dict) else []
    checks.append(Check("llm", "LLM endpoint", "ok", f"{base} answered in {elapsed:.0f} ms"))
    offered = ", ".join(map(str, models[:10])) + (" ..." if len(models) > 10 else "")
    if not config.model:
        checks.append(Check("llm", "LLM model", "warn", f"NLQUERY_LLM_MODEL is not set (requests name "
                            f"'default'); the endpoint offers: {offered or 'nothing listed'}",
                            f"export NLQUERY_LLM_MODEL={models[0] if models else '<model>'}"))
    elif models and config.model not in models:
        checks.append(Check("llm", "LLM model", "fail", f"{config.model!r} is not offered; the endpoint offers: "
                            f"{offered}", f"export NLQUERY_LLM_MODEL={models[0]}"))
    else:
        checks.append(Check("llm", "LLM model", "ok", config.model))
    return checks


def _source_fix(name: str, reason: str) -> str:
    """The one line that fixes a source: the driver's install line, else an update."""
    extra = re.search(r"nlquery\[(\w+)\]", reason)
    if extra:
        return pip_line(extra.group(1))
    system = re.search(r"(apt-get install [\w .-]+?)(?:\)|;|$)", reason)
    if system:
        return system.group(1).strip()
    variable = re.search(r"environment variable (\w+)", reason)
    if variable:
        return f"export {variable.group(1)}=<the password>"
    return (f"nlquery sources update {name} --url ... (or --host/--port/--username/--password-env), "
            f"or nlquery sources rm {name}")


def source_checks() -> list[Check]:
    with engine() as e:
        names = [s["name"] for s in e.list_sources()]

        def one(name: str) -> Check:
            try:
                status = e.check_connection(name)
                data = e.get_source(name)
            except NLQueryError as exc:
                return Check("sources", name, "fail", one_line(exc.message), _source_fix(name, exc.message))
            if status == "connected":
                if data["schema_status"] == "error":
                    return Check("sources", name, "warn", f"connects ({data['type']}); schema not read: "
                                 f"{one_line(data.get('schema_error') or '')}", f"nlquery schema refresh {name}")
                return Check("sources", name, "ok", f"connects ({data['type']})")
            reason = data.get("status_reason") or status
            return Check("sources", name, "fail", f"{status} ({data['type']}): {one_line(reason)}",
                         _source_fix(name, reason))

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
            return list(pool.map(one, names))
