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

Limits and trust (they hold on every path, CLI and Python API included):

- The source's ``headers`` (credentials: ``Authorization``, ``X-Api-Key``...) go only to
  ``base_url``'s origin (scheme, host, port): a redirect or a ``Link: rel="next"`` page on
  another origin is fetched without them. An endpoint ``path`` is relative to ``base_url``
  and must stay on its origin. Redirects are followed by hand, at most ``MAX_REDIRECTS``.
- One deadline per call (query, introspection, ping): connecting, headers and body of every
  page and retry share it, checked on every socket read, so an upstream dripping its body
  ends in ``query_timeout``.
- Bodies are read as a stream and stop at ``NLQUERY_MAX_RESPONSE_BYTES`` (server-wide,
  default 10,000,000 bytes; a source's ``max_response_bytes`` may lower it, never raise
  it): ``result_too_large``. Compressed bodies count both compressed and decoded.
- With an egress policy (``ConnectionConfig.egress``, set for sources registered over HTTP
  or MCP, or from ``NLQUERY_EGRESS_ALLOW`` / ``NLQUERY_EGRESS_DENY``), every connection,
  first page, redirect hop and next page alike, resolves its host through
  :meth:`connectors.egress.EgressPolicy.resolve` and connects to the address it checked
  (no DNS rebinding between check and connect); refused hosts -> ``access_denied``.
"""

from __future__ import annotations

import contextvars
import functools
import json
import os
import sqlite3
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.request import getproxies

from pydantic import Field, SecretStr

from connectors.base import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    Capability,
    ClosesOnExit,
    ConnectionConfig,
    ProgressCallback,
    finish_result,
    result_byte_cap,
)
from connectors.connection import SECRET_NAME, ConnectionModel
from connectors.egress import EgressPolicy
from connectors.errors import (
    DataSourceDisconnected,
    DriverNotInstalled,
    EgressDenied,
    InvalidConnection,
    QueryExecutionFailed,
    QueryTimeout,
    ResultTooLarge,
    scrub,
)
from connectors.models import Column, QueryResult, Schema, Table
from connectors.sqlite import SQLiteConnector, read_only_rows
from connectors.values import dotted_paths

DEFAULT_TTL_S = 300.0
DEFAULT_MAX_PAGES = 50
DEFAULT_MAX_BYTES = 10_000_000  # NLQUERY_MAX_RESPONSE_BYTES when unset
MAX_BYTES_VARIABLE = "NLQUERY_MAX_RESPONSE_BYTES"
CAP_NAMES = f"{MAX_BYTES_VARIABLE}, or the source's lower max_response_bytes"
MAX_REDIRECTS = 5
MAX_TIMEOUT_S = 120.0  # a source's timeout_s (per read / connect) is clamped here
MAX_DEADLINE_S = 300.0  # no call without a caller-given timeout runs longer, whatever the source says
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
DEFAULT_SAMPLE = 200
MAX_RETRIES = 3
MAX_RETRY_WAIT_S = 30.0
PAGINATION_TYPES = {"none", "page", "cursor", "link"}


class ResponseTooLarge(ResultTooLarge):
    """A response body over the byte ceiling (``NLQUERY_MAX_RESPONSE_BYTES`` or the
    source's lower ``max_response_bytes``): ``result_too_large``."""


def check_relative_path(name: str, path: str) -> None:
    """An endpoint path is relative to base_url: no scheme, no host, nothing a URL parser
    could read as another origin."""
    parts = urlsplit(path)
    if (parts.scheme or parts.netloc or path.lstrip().startswith("//") or "\\" in path
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in path)):
        raise InvalidConnection(f"endpoints.{name}.path must be a path relative to base_url "
                                f"(e.g. \"/users\"), not a URL or another host")


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
        check_relative_path(name, spec["path"])
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


class RestAPIConnection(ConnectionModel):
    """``rest_api`` settings: ``base_url``, credential ``headers`` (secret) and
    ``endpoints``; key-like endpoint ``params`` (``api_key``) are secrets too."""

    base_url: str | None = Field(default=None, max_length=2048)
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    endpoints: dict[str, dict[str, Any]] = Field(default_factory=dict)

    remote_options = frozenset({"timeout_s", "max_response_bytes", "sample_size"})
    destination_fields = ("base_url", "url")
    secret_fields = ("password", "headers")
    url_fields = ("base_url",)

    def require(self) -> None:
        if not (self.base_url or self.url):
            raise ValueError("a rest_api source needs base_url, e.g. https://api.example.com/v1")

    def destinations(self) -> list[tuple[str, int | None]]:
        parts = urlsplit(self.base_url or self.url or "")
        return [(parts.hostname, parts.port)] if parts.hostname else []

    def _split_more(self, public: dict[str, Any], secret: dict[str, Any]) -> None:
        for name, spec in (public.get("endpoints") or {}).items():
            params = spec.get("params") if isinstance(spec, dict) else None
            hidden = {k: v for k, v in (params or {}).items() if SECRET_NAME.search(str(k))}
            if hidden:
                spec["params"] = {k: v for k, v in params.items() if k not in hidden}
                secret.setdefault("endpoints", {})[name] = {"params": hidden}


class RestAPIConnector(ClosesOnExit):
    """``rest_api`` sources: declared GET endpoints read as tables, queried in SQLite."""

    type_name = "rest_api"
    connection_model = RestAPIConnection
    dialect = "sqlite"
    dialect_facts = SQLiteConnector.dialect_facts  # the responses are read in SQLite's session
    paramstyle = "qmark"
    capabilities = frozenset({Capability.DATE_BUCKETS})
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
        try:
            self.timeout_s = min(MAX_TIMEOUT_S, float(options.get("timeout_s", 10)))
            own_cap = options.get("max_response_bytes")
            ceiling = max_response_bytes()
            self.max_bytes = ceiling if own_cap is None else min(ceiling, int(own_cap))
        except (TypeError, ValueError) as exc:
            raise InvalidConnection(f"rest_api timeout_s / max_response_bytes: {exc}") from None
        if self.timeout_s <= 0 or self.max_bytes <= 0:
            raise InvalidConnection("rest_api timeout_s and max_response_bytes must be positive")
        # who may be reached: the policy the Engine set (remote sources), else the operator's
        # NLQUERY_EGRESS_* variables if set, else anywhere (trusted CLI / Python API)
        self.egress: EgressPolicy | None = config.egress if config.egress is not None \
            else EgressPolicy.from_environment(remote=False)
        self.sample_size = int(options.get("sample_size", DEFAULT_SAMPLE))
        self.max_result_bytes = result_byte_cap(config)  # of a query's result, as every connector
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
            # No credentials here: _send adds them per request, for base_url's origin only.
            # No cookie jar either: cookies do not tell ports apart, so one origin's cookies
            # would reach another.
            no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
            headers = {"Accept-Encoding": "gzip, deflate"}  # the encodings _read_capped bounds
            if self.egress is None and _environment_proxies():
                # the trusted path behind an HTTP(S)_PROXY: httpx's own transport honours it;
                # the deadline is then checked between body chunks and by httpx's timeouts
                self._client = httpx.Client(headers=headers, cookies=no_cookies, follow_redirects=False)
            else:
                self._client = httpx.Client(headers=headers, cookies=no_cookies, follow_redirects=False,
                                            transport=_transport(self.egress), trust_env=False)
        return self._client

    @property
    def origin(self) -> tuple[str, str, int]:
        """base_url's origin: the only one the source's headers are sent to."""
        import httpx

        return _origin(httpx.URL(self.base_url))

    def _secrets(self) -> list[str]:
        return list(self.headers.values())

    def _get(self, url: str, params: dict[str, Any] | None, deadline: float,
             budget: list[int] | None = None) -> tuple[Any, Any]:
        # params=None keeps a URL's own query string (a Link header's next page)
        """One GET with retries; returns the parsed JSON and the (closed) final response.
        ``budget`` (one mutable count) is what the bodies of one fetch may still total."""
        for attempt in range(MAX_RETRIES + 1):
            response, body = self._send(url, params, deadline, budget)
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
            if response.status_code >= 300:
                raise QueryExecutionFailed(f"GET {_path(url)} answered HTTP {response.status_code}")
            try:
                return json.loads(body), response
            except ValueError as exc:
                raise QueryExecutionFailed(f"GET {_path(url)} returned malformed JSON: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, url: str, params: dict[str, Any] | None, deadline: float,
              budget: list[int] | None = None) -> tuple[Any, bytes]:
        """One GET, following up to MAX_REDIRECTS redirects by hand: the response (closed)
        and its body (empty unless 2xx). Every hop gets the source's headers only if it is
        on base_url's origin, connects through the egress policy and shares ``deadline``."""
        import httpx

        origin = self.origin
        token = _DEADLINE.set(deadline)
        try:
            for _ in range(MAX_REDIRECTS + 1):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise QueryTimeout(f"GET {_path(url)}: the API did not answer before the request's deadline")
                request = self.client.build_request("GET", url, params=params,
                                                   timeout=min(self.timeout_s, remaining))
                if request.url.scheme not in ("http", "https"):
                    raise EgressDenied(f"GET {_path(url)}: only http and https URLs are followed")
                if _origin(request.url) == origin:
                    request.headers.update(self.headers)
                self.requests_made += 1
                response = self.client.send(request, stream=True)
                try:
                    location = response.headers.get("Location")
                    if response.status_code in REDIRECT_STATUSES and location:
                        url, params = str(response.url.join(location)), None  # the Location is the whole URL
                        continue
                    limit = self.max_bytes if budget is None else min(self.max_bytes, budget[0])
                    body = (_read_capped(response, limit, str(request.url), deadline)
                            if 200 <= response.status_code < 300 else b"")
                    if budget is not None:
                        budget[0] -= len(body)
                    return response, body
                finally:
                    response.close()
            raise QueryExecutionFailed(f"GET {_path(url)}: more than {MAX_REDIRECTS} redirects")
        except httpx.TimeoutException:
            raise QueryTimeout(f"GET {_path(url)}: the API did not answer before the request's deadline") from None
        except httpx.TransportError as exc:
            raise DataSourceDisconnected(scrub(f"cannot reach {_path(url)}: {exc}", self._secrets())) from None
        finally:
            _DEADLINE.reset(token)

    def _pages(self, endpoint: Endpoint, deadline: float, page_limit: int) -> Iterator[list[dict[str, Any]]]:
        """Each page's records, following the endpoint's pagination up to ``page_limit`` pages."""
        import httpx

        paging = endpoint.pagination
        kind = paging.get("type", "none")
        check_relative_path(endpoint.name, endpoint.path)
        url: str | None = urljoin(self.base_url.rstrip("/") + "/", endpoint.path.lstrip("/"))
        if _origin(httpx.URL(url)) != self.origin:
            raise InvalidConnection(f"endpoints.{endpoint.name}.path must stay on base_url's origin")
        params: dict[str, Any] | None = dict(endpoint.params)
        if kind == "page":
            params[paging.get("param", "page")] = int(paging.get("start", 1))
            if paging.get("size_param"):
                params[paging["size_param"]] = int(paging.get("size", 100))
        # The ceiling holds for the whole fetch, not per page: 50 pages of 10 MB would
        # otherwise cost the server gigabytes once parsed.
        budget = [self.max_bytes]
        for _ in range(page_limit):
            assert url is not None
            payload, response = self._get(url, params or None, deadline, budget)
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
                nxt = response.links.get("next", {}).get("url")
                if not nxt:
                    return
                # relative to the page that named it; another origin gets no credentials (_send)
                url = str(response.url.join(nxt))
                params = None  # the next link carries its own query string

    def records(self, name: str, *, deadline: float | None = None) -> list[dict[str, Any]]:
        """Every record of endpoint ``name`` (flattened), from the cache while fresh."""
        endpoint = self.endpoints[name]
        deadline = deadline or time.monotonic() + min(MAX_DEADLINE_S, self.timeout_s * (MAX_RETRIES + 1))
        # Another call (an extraction, a query) may hold the lock while it fetches: wait for
        # it no longer than this call's own deadline.
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise QueryTimeout(f"endpoint {name}: another call on this source was still fetching at this "
                               "call's deadline")
        try:
            cached = self._cache.get(name)
            if cached and time.monotonic() - cached[0] < endpoint.cache_ttl_s:
                return cached[1]
            rows = [flatten(r) for page in self._pages(endpoint, deadline, endpoint.max_pages) for r in page]
            self._cache[name] = (time.monotonic(), rows)
            return rows
        finally:
            self._lock.release()

    # -- Connector protocol ------------------------------------------------------------
    def introspect(self, *, schemas: Sequence[str] | None = None,
                   progress: ProgressCallback | None = None) -> Schema:
        """One table per endpoint, columns inferred from up to ``sample_size`` records of
        its first page(s)."""
        if schemas and "api" not in schemas:
            return Schema(tables=[], default_schema="api")
        tables = []
        deadline = time.monotonic() + min(MAX_DEADLINE_S, self.timeout_s * (MAX_RETRIES + 1) * len(self.endpoints))
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
            try:  # SQLite's session: the deadline, and no ATTACH, no PRAGMA, nothing but reading
                columns, rows = read_only_rows(db, sql, params, fetch_limit=max_rows + 1, deadline=deadline,
                                               max_bytes=self.max_result_bytes)
            except sqlite3.OperationalError as exc:
                if "interrupted" in str(exc):
                    raise QueryTimeout(f"query cancelled: it ran past its {timeout_s:g} s timeout") from None
                raise QueryExecutionFailed(str(exc)) from None
            except sqlite3.Error as exc:
                raise QueryExecutionFailed(str(exc)) from None
        finally:
            db.close()
        return finish_result(columns, rows, max_rows, started)

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


def _read_capped(response: Any, limit: int, url: str, deadline: float | None = None) -> bytes:
    """The body, read as a stream and never past ``limit`` bytes (compressed or decoded),
    nor past ``deadline``."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ResponseTooLarge(f"GET {_path(url)}: the response ({int(declared):,} bytes) is over "
                               f"the {limit:,}-byte cap ({CAP_NAMES})")
    decode = _decoder(response.headers.get("Content-Encoding", ""), url)
    received = 0
    body = bytearray()
    for chunk in response.iter_raw():
        if deadline is not None and time.monotonic() > deadline:
            raise QueryTimeout(f"GET {_path(url)}: the body did not arrive before the request's deadline")
        received += len(chunk)
        body.extend(decode(chunk, limit + 1 - len(body)))
        if received > limit or len(body) > limit:
            raise ResponseTooLarge(f"GET {_path(url)}: the response is over the {limit:,}-byte cap ({CAP_NAMES})")
    return bytes(body)


def _decoder(encoding: str, url: str) -> Any:
    """``decode(chunk, room)``: the decoded bytes of ``chunk``, at most ``room`` of them (a
    few KB of gzip can decode to gigabytes: never more than the cap is inflated)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return lambda chunk, room: chunk
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise QueryExecutionFailed(f"GET {_path(url)}: unsupported Content-Encoding {encoding!r}")
    state = {"z": zlib.decompressobj(zlib.MAX_WBITS | 16 if "gzip" in encoding else zlib.MAX_WBITS), "fresh": True}

    def decode(chunk: bytes, room: int) -> bytes:
        try:
            out = state["z"].decompress(chunk, max(room, 1))
        except zlib.error:
            if not (encoding == "deflate" and state["fresh"]):
                raise QueryExecutionFailed(f"GET {_path(url)}: the body is not valid {encoding}") from None
            state["z"] = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send
            out = state["z"].decompress(chunk, max(room, 1))
        state["fresh"] = False
        if state["z"].unconsumed_tail:  # more output than room: over the cap
            out += b"\0"
        return out

    return decode


def max_response_bytes() -> int:
    """The server-wide REST response ceiling, ``NLQUERY_MAX_RESPONSE_BYTES`` (default
    10,000,000 bytes); a source's ``max_response_bytes`` may only lower it."""
    raw = os.environ.get(MAX_BYTES_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise InvalidConnection(f"{MAX_BYTES_VARIABLE} must be a positive number of bytes, got {raw!r}")
    return value


def _path(url: str) -> str:
    """The URL without its query string (which may carry an API key)."""
    return url.split("?", 1)[0]


def _origin(url: Any) -> tuple[str, str, int]:
    """(scheme, host, port) of an ``httpx.URL``, the port made explicit."""
    scheme = url.scheme.lower()
    return scheme, url.raw_host.decode("ascii").lower().rstrip("."), url.port or (443 if scheme == "https" else 80)


def _environment_proxies() -> bool:
    return any(key in getproxies() for key in ("http", "https", "all"))


# -- the transport: deadline on every socket operation, connections through the egress policy --
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("rest_api_deadline", default=None)
"""The monotonic deadline of the request this thread is sending (set by ``_send``)."""


def _transport(policy: EgressPolicy | None) -> Any:
    return _transport_class()(policy)


@functools.cache
def _transport_class() -> type:
    """Built on first use: httpx and httpcore are imported lazily (an optional extra)."""
    import httpcore
    import httpx

    def clamp(timeout: float | None, error: type[Exception]) -> float | None:
        deadline = _DEADLINE.get()
        if deadline is None:
            return timeout
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise error("the request's deadline passed")
        return remaining if timeout is None else min(timeout, remaining)

    class DeadlineStream(httpcore.NetworkStream):
        """Every read and write waits at most until the request's deadline, so a server
        dripping bytes cannot keep one read alive past it."""

        def __init__(self, stream: Any) -> None:
            self._stream = stream

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self._stream.read(max_bytes, clamp(timeout, httpcore.ReadTimeout))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._stream.write(buffer, clamp(timeout, httpcore.WriteTimeout))

        def close(self) -> None:
            self._stream.close()

        def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                      timeout: float | None = None) -> Any:
            # TLS still verifies the certificate against the host name, not the pinned IP
            return DeadlineStream(self._stream.start_tls(ssl_context, server_hostname,
                                                         clamp(timeout, httpcore.ConnectTimeout)))

        def get_extra_info(self, info: str) -> Any:
            return self._stream.get_extra_info(info)

    class GuardedBackend(httpcore.SyncBackend):
        """Connects only to addresses the egress policy resolved and checked (pinned: no
        second DNS lookup between the check and the connection)."""

        def __init__(self, policy: EgressPolicy | None) -> None:
            self.policy = policy

        def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                        local_address: str | None = None, socket_options: Any = None) -> Any:
            targets = self.policy.resolve(host, port) if self.policy is not None else [host]
            failure: Exception | None = None
            for target in targets:
                try:
                    stream = super().connect_tcp(target, port, clamp(timeout, httpcore.ConnectTimeout),
                                                 local_address, socket_options)
                    return DeadlineStream(stream)
                except httpcore.ConnectError as exc:
                    failure = exc
            assert failure is not None
            raise failure

    class GuardedTransport(httpx.HTTPTransport):
        """httpx's transport over a connection pool whose network backend is GuardedBackend
        (httpcore's public ``network_backend`` hook; the pool is HTTPTransport's ``_pool``)."""

        # super().__init__ is not called: it would build a pool only to discard it.
        def __init__(self, policy: EgressPolicy | None) -> None:
            limits = httpx.Limits(max_connections=20, max_keepalive_connections=5)
            self._pool = httpcore.ConnectionPool(
                ssl_context=httpx.create_ssl_context(), max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
                network_backend=GuardedBackend(policy))

    return GuardedTransport

