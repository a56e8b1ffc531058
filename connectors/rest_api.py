"""REST APIs as virtual tables: each declared endpoint is a table of its JSON records.

A source declares::

    {"base_url": "https://api.example.com/v1",
     "headers": {"Authorization": "Bearer ..."},          # encrypted at rest
     "endpoints": {
        "users": {"path": "/users", "params": {"status": "active"},
                  "records_path": "data.items",           # where the list is in the JSON
                  "pagination": {"type": "page", "param": "page", "size_param": "per_page", "size": 100},
                  "max_pages": 20, "cache_ttl_s": 300}}}

Pagination types: ``none``; ``page`` (page number from ``start``, stops on a short or
empty page); ``cursor`` (``param`` sent with the value found at ``next_path``); ``link``
(RFC 8288 ``Link: <...>; rel="next"``). Records are flattened to dotted paths
(``address.city``); lists stay JSON text. A query fetches only the endpoints it names
(GET only, timeout, response size cap, retries on 429/5xx honouring ``Retry-After``),
loads them into an in-memory SQLite database and runs the validated SQL there.
Fetched records are cached per endpoint for ``cache_ttl_s`` (default 300 s).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from connectors.base import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    ClosesOnExit,
    ConnectionConfig,
    ProgressCallback,
)
from connectors.errors import (
    DataSourceDisconnected,
    DriverNotInstalled,
    InvalidConnection,
    QueryExecutionFailed,
    QueryTimeout,
    scrub,
)
from connectors.models import Column, QueryResult, Schema, Table
from connectors.sqlite import SQLiteConnector, authorize_read_only
from connectors.values import dotted_paths, json_safe_rows

DEFAULT_TTL_S = 300.0
DEFAULT_MAX_PAGES = 50
DEFAULT_MAX_BYTES = 10 * 2**20
DEFAULT_SAMPLE = 200
MAX_RETRIES = 3
MAX_RETRY_WAIT_S = 30.0
PAGINATION_TYPES = {"none", "page", "cursor", "link"}


@dataclass
class Endpoint:
    """One virtual table: where its records come from and how to page through them."""

    name: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    records_path: str | None = None
    pagination: dict[str, Any] = field(default_factory=lambda: {"type": "none"})
    max_pages: int = DEFAULT_MAX_PAGES
    cache_ttl_s: float = DEFAULT_TTL_S
    description: str | None = None

    @classmethod
    def parse(cls, name: str, spec: Any) -> Endpoint:
        if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
            raise InvalidConnection(f"endpoints.{name}: needs a path, e.g. {{\"path\": \"/users\"}}")
        unknown = set(spec) - {"path", "params", "records_path", "pagination", "max_pages", "cache_ttl_s",
                               "description"}
        if unknown:
            raise InvalidConnection(f"endpoints.{name}: unknown setting(s) {', '.join(sorted(unknown))}")
        pagination = spec.get("pagination") or {"type": "none"}
        if pagination.get("type", "none") not in PAGINATION_TYPES:
            raise InvalidConnection(f"endpoints.{name}.pagination.type: one of {', '.join(sorted(PAGINATION_TYPES))}")
        if pagination.get("type") == "cursor" and not pagination.get("next_path"):
            raise InvalidConnection(f"endpoints.{name}.pagination: cursor pagination needs next_path")
        try:
            return cls(name=name, path=spec["path"], params=dict(spec.get("params") or {}),
                       records_path=spec.get("records_path"), pagination=dict(pagination),
                       max_pages=int(spec.get("max_pages", DEFAULT_MAX_PAGES)),
                       cache_ttl_s=float(spec.get("cache_ttl_s", DEFAULT_TTL_S)), description=spec.get("description"))
        except (TypeError, ValueError) as exc:
            raise InvalidConnection(f"endpoints.{name}: {exc}") from None


class RestAPIConnector(ClosesOnExit):
    """``rest_api`` sources: declared GET endpoints read as tables, queried in SQLite."""

    type_name = "rest_api"
    dialect = "sqlite"
    paramstyle = "qmark"
    date_buckets = SQLiteConnector.date_buckets  # the SQL runs in SQLite

    def __init__(self, config: ConnectionConfig) -> None:
        options = config.options
        self.base_url = options.get("base_url") or config.url
        if not self.base_url or not str(self.base_url).startswith(("http://", "https://")):
            raise InvalidConnection("a rest_api source needs base_url, e.g. https://api.example.com/v1")
        endpoints = options.get("endpoints") or {}
        if not isinstance(endpoints, dict) or not endpoints:
            raise InvalidConnection("a rest_api source needs endpoints: {\"name\": {\"path\": \"/...\"}}")
        self.endpoints = {name: Endpoint.parse(name, spec) for name, spec in endpoints.items()}
        self.headers = {str(k): str(v) for k, v in (options.get("headers") or {}).items()}
        self.timeout_s = float(options.get("timeout_s", 10))
        self.max_bytes = int(options.get("max_response_bytes", DEFAULT_MAX_BYTES))
        self.sample_size = int(options.get("sample_size", DEFAULT_SAMPLE))
        self.requests_made = 0  # HTTP requests sent (the cache's effect is visible here)
        self._cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}  # endpoint -> (fetched at, rows)
        self._lock = threading.RLock()
        self._client: Any = None

    # -- HTTP -----------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import httpx
            except ImportError:
                raise DriverNotInstalled("the rest_api connector needs httpx: pip install 'nlquery[rest]'") from None
            self._client = httpx.Client(headers=self.headers, timeout=self.timeout_s, follow_redirects=True)
        return self._client

    def _secrets(self) -> list[str]:
        return list(self.headers.values())

    def _get(self, url: str, params: dict[str, Any] | None, deadline: float) -> tuple[Any, Any]:
        # params=None keeps a URL's own query string (a Link header's next page)
        """One GET with retries; returns the parsed JSON and the response."""
        import httpx

        for attempt in range(MAX_RETRIES + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise QueryTimeout(f"the API did not answer within {self.timeout_s:g} s")
            self.requests_made += 1
            try:
                with self.client.stream("GET", url, params=params, timeout=min(self.timeout_s, remaining)) as response:
                    if response.status_code == 429 or response.status_code >= 500:
                        if attempt < MAX_RETRIES:
                            wait = _retry_after(response.headers.get("Retry-After"), attempt)
                            if time.monotonic() + wait < deadline:
                                time.sleep(wait)
                                continue
                        raise QueryExecutionFailed(f"GET {_path(url)} answered HTTP {response.status_code} "
                                                   f"after {attempt + 1} attempt(s)")
                    if response.status_code in (401, 403):
                        raise DataSourceDisconnected(f"GET {_path(url)} answered HTTP {response.status_code}: "
                                                     "check the source's auth headers")
                    if response.status_code >= 400:
                        raise QueryExecutionFailed(f"GET {_path(url)} answered HTTP {response.status_code}")
                    body = _read_capped(response, self.max_bytes, url)
            except httpx.TimeoutException:
                raise QueryTimeout(f"GET {_path(url)} did not answer within {self.timeout_s:g} s") from None
            except httpx.TransportError as exc:
                raise DataSourceDisconnected(scrub(f"cannot reach {self.base_url}: {exc}", self._secrets())) from None
            try:
                return json.loads(body), response
            except ValueError as exc:
                raise QueryExecutionFailed(f"GET {_path(url)} returned malformed JSON: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _pages(self, endpoint: Endpoint, deadline: float, page_limit: int) -> Iterator[list[dict[str, Any]]]:
        """Each page's records, following the endpoint's pagination up to ``page_limit`` pages."""
        paging = endpoint.pagination
        kind = paging.get("type", "none")
        url: str | None = urljoin(self.base_url.rstrip("/") + "/", endpoint.path.lstrip("/"))
        params: dict[str, Any] | None = dict(endpoint.params)
        if kind == "page":
            params[paging.get("param", "page")] = int(paging.get("start", 1))
            if paging.get("size_param"):
                params[paging["size_param"]] = int(paging.get("size", 100))
        for _ in range(page_limit):
            assert url is not None
            payload, response = self._get(url, params or None, deadline)
            records = _records(payload, endpoint)
            yield records
            if kind == "none" or not records:
                return
            if kind == "page":
                if paging.get("size_param") and len(records) < int(paging.get("size", 100)):
                    return
                params[paging.get("param", "page")] += 1  # type: ignore[index]
            elif kind == "cursor":
                cursor = _dig(payload, paging["next_path"])
                if cursor in (None, ""):
                    return
                params[paging.get("param", "cursor")] = cursor  # type: ignore[index]
            elif kind == "link":
                url = response.links.get("next", {}).get("url")
                if not url:
                    return
                params = None  # the next link carries its own query string

    def records(self, name: str, *, deadline: float | None = None) -> list[dict[str, Any]]:
        """Every record of endpoint ``name`` (flattened), from the cache while fresh."""
        endpoint = self.endpoints[name]
        with self._lock:
            cached = self._cache.get(name)
            if cached and time.monotonic() - cached[0] < endpoint.cache_ttl_s:
                return cached[1]
            deadline = deadline or time.monotonic() + self.timeout_s * (MAX_RETRIES + 1)
            rows = [flatten(r) for page in self._pages(endpoint, deadline, endpoint.max_pages) for r in page]
            self._cache[name] = (time.monotonic(), rows)
            return rows

    # -- Connector protocol ------------------------------------------------------------
    def introspect(self, *, schemas: Sequence[str] | None = None,
                   progress: ProgressCallback | None = None) -> Schema:
        """One table per endpoint, columns inferred from up to ``sample_size`` records of
        its first page(s)."""
        if schemas and "api" not in schemas:
            return Schema(tables=[], default_schema="api")
        tables = []
        deadline = time.monotonic() + self.timeout_s * (MAX_RETRIES + 1) * len(self.endpoints)
        for done, endpoint in enumerate(self.endpoints.values(), start=1):
            with self._lock:
                cached = self._cache.get(endpoint.name)
                sample = cached[1] if cached else []
                if not cached:
                    for page in self._pages(endpoint, deadline, endpoint.max_pages):
                        sample.extend(flatten(r) for r in page)
                        if len(sample) >= self.sample_size:
                            break
            tables.append(Table(name=endpoint.name, schema="api", kind="endpoint",
                                columns=infer_columns(sample[: self.sample_size]), comment=endpoint.description))
            if progress is not None:
                progress(endpoint.name, done, len(self.endpoints))
        return Schema(tables=tables, default_schema="api")

    def execute(self, sql: str, params: Sequence[Any] = (), *, max_rows: int = DEFAULT_MAX_ROWS,
                timeout_s: float = DEFAULT_TIMEOUT_S) -> QueryResult:
        """Fetch the endpoints ``sql`` names, load them into an in-memory SQLite database
        and run ``sql`` there (SQLite dialect, ``?`` parameters)."""
        started = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        names = self._referenced(sql)
        db = sqlite3.connect(":memory:")
        db.execute("ATTACH ':memory:' AS api")  # the guard may qualify names with the schema, api
        try:
            for name in names:
                _load(db, name, self.records(name, deadline=deadline))
            db.execute("PRAGMA query_only = ON")
            db.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
            db.set_authorizer(authorize_read_only)  # no ATTACH, no PRAGMA, nothing but reading
            try:
                cursor = db.execute(sql, tuple(params))
                columns = [d[0] for d in cursor.description or ()]
                rows = cursor.fetchmany(max_rows + 1) if cursor.description else []
            except sqlite3.OperationalError as exc:
                if "interrupted" in str(exc):
                    raise QueryTimeout(f"query cancelled: it ran past its {timeout_s:g} s timeout") from None
                raise QueryExecutionFailed(str(exc)) from None
            except sqlite3.Error as exc:
                raise QueryExecutionFailed(str(exc)) from None
        finally:
            db.close()
        truncated = len(rows) > max_rows
        del rows[max_rows:]
        return QueryResult(columns=columns, rows=json_safe_rows(rows), row_count=len(rows),
                           execution_time_ms=round((time.perf_counter() - started) * 1000, 3), truncated=truncated)

    def _referenced(self, sql: str) -> list[str]:
        import sqlglot
        from sqlglot import exp

        try:
            tree = sqlglot.parse_one(sql, read="sqlite")
        except sqlglot.errors.SqlglotError as exc:
            raise QueryExecutionFailed(f"cannot parse the query: {exc}") from None
        ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        names = {t.name for t in tree.find_all(exp.Table) if t.name and t.name not in ctes}
        unknown = names - set(self.endpoints)
        if unknown:
            raise QueryExecutionFailed(f"no such endpoint: {', '.join(sorted(unknown))}")
        return sorted(names)

    def ping(self) -> None:
        """Reach the first endpoint (one page), without caching it."""
        endpoint = next(iter(self.endpoints.values()))
        next(self._pages(endpoint, time.monotonic() + self.timeout_s, 1), None)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None



# -- records ------------------------------------------------------------------------------
def _dig(payload: Any, path: str | None) -> Any:
    for part in (path or "").split("."):
        if not part:
            continue
        if not isinstance(payload, dict):
            return None
        payload = payload.get(part)
    return payload


def _records(payload: Any, endpoint: Endpoint) -> list[dict[str, Any]]:
    found = _dig(payload, endpoint.records_path)
    if endpoint.records_path is None and isinstance(payload, dict):
        # the common envelopes, when records_path is not declared
        found = next((payload[k] for k in ("data", "items", "results", "records") if isinstance(payload.get(k), list)),
                     None)
    if not isinstance(found, list):
        where = endpoint.records_path or "the top level"
        raise QueryExecutionFailed(f"endpoint {endpoint.name}: no list of records at {where}")
    return [r if isinstance(r, dict) else {"value": r} for r in found]


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """``{"a": {"b": 1}, "tags": [1]}`` -> ``{"a.b": 1, "tags": "[1]"}`` (lists as JSON text:
    a SQLite column holds one value)."""
    return {path: json.dumps(value, separators=(",", ":")) if isinstance(value, (list, dict)) else value
            for path, value in dotted_paths(record)}


_JSON_TYPES: list[tuple[type | tuple[type, ...], str]] = [
    (bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")]


def _type_of(value: Any) -> str:
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return "string"


def infer_columns(records: list[dict[str, Any]]) -> list[Column]:
    """Columns in first-seen order; the most common JSON type wins (integer and number
    together make number); nullable when a record lacks the field or holds null."""
    order: dict[str, None] = {}
    types: dict[str, Counter[str]] = {}
    present: Counter[str] = Counter()
    for record in records:
        for key, value in record.items():
            order.setdefault(key)
            if value is not None:
                types.setdefault(key, Counter())[_type_of(value)] += 1
                present[key] += 1
    columns = []
    for key in order:
        seen = types.get(key, Counter())
        kind = seen.most_common(1)[0][0] if seen else "string"
        if kind == "integer" and seen.get("number"):
            kind = "number"
        columns.append(Column(name=key, type=kind, nullable=present[key] < len(records)))
    return columns


_SQLITE_TYPES = {"integer": "INTEGER", "number": "REAL", "boolean": "INTEGER", "string": "TEXT"}


def _load(db: sqlite3.Connection, name: str, rows: list[dict[str, Any]]) -> None:
    columns = [c.name for c in infer_columns(rows)] or ["value"]
    quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    db.execute(f'CREATE TABLE api."{name}" ({quoted})')
    db.executemany(f'INSERT INTO api."{name}" VALUES ({", ".join("?" * len(columns))})',
                   ([row.get(c) for c in columns] for row in rows))


def _retry_after(header: str | None, attempt: int) -> float:
    try:
        return min(MAX_RETRY_WAIT_S, max(0.0, float(header))) if header else min(MAX_RETRY_WAIT_S, 0.5 * 2**attempt)
    except ValueError:  # an HTTP date: rare from APIs; back off instead
        return min(MAX_RETRY_WAIT_S, 0.5 * 2**attempt)


def _read_capped(response: Any, limit: int, url: str) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise QueryExecutionFailed(f"GET {_path(url)}: the response ({int(declared):,} bytes) is over "
                                   f"the {limit:,}-byte cap (max_response_bytes)")
    body = bytearray()
    for chunk in response.iter_bytes():
        body.extend(chunk)
        if len(body) > limit:
            raise QueryExecutionFailed(f"GET {_path(url)}: the response is over the {limit:,}-byte cap "
                                       "(max_response_bytes)")
    return bytes(body)


def _path(url: str) -> str:
    """The URL without its query string (which may carry an API key)."""
    return url.split("?", 1)[0]

