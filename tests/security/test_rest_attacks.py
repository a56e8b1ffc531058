"""rest_api sources against hostile upstreams: real HTTP servers on 127.0.0.1 (and one on
127.0.0.2 playing "another internal host") that record what reached them, redirect,
paginate onto another origin, drip and flood.

Every test asserts what reached (or did not reach) the servers, or the error code; none
asserts on elapsed time.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import pytest

import connectors
from connectors.egress import EgressPolicy
from connectors.errors import ConnectorError

KEY = "k-secret-123"
TOKEN = "Bearer t-secret-456"
CREDENTIALS = {"X-Api-Key": KEY, "Authorization": TOKEN}
ROWS = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
LOOPBACK_ONLY = EgressPolicy(allow=("127.0.0.1",))  # the test servers are on loopback


@pytest.fixture(autouse=True)
def _no_operator_settings(monkeypatch):
    for name in ("NLQUERY_EGRESS_ALLOW", "NLQUERY_EGRESS_DENY", "NLQUERY_MAX_RESPONSE_BYTES"):
        monkeypatch.delenv(name, raising=False)


class Upstream:
    """A threaded HTTP server on ``host``: ``routes[path](handler)`` answers; every request
    is recorded as (path, headers) before it is answered; ``sent`` counts body bytes a
    streaming route wrote, ``done`` is set when such a route stops writing."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.routes: dict[str, Callable[[Any], None]] = {}
        self.sent = 0
        self.done = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                owner.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = owner.routes.get(self.path.split("?", 1)[0])
                try:
                    if route is None:
                        send_json(self, ROWS)
                    else:
                        route(self)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def send_json(handler: Any, body: Any, status: int = 200, headers: dict[str, str] | None = None,
              raw: bytes | None = None) -> None:
    data = raw if raw is not None else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(data)


def redirect(location: str, status: int = 302) -> Callable[[Any], None]:
    return lambda handler: send_json(handler, {}, status, {"Location": location})


@pytest.fixture
def origin():
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def attacker():
    """Another origin on the same machine (another port): it must never see credentials."""
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def internal():
    """An "internal service" on 127.0.0.2: loopback, and not the allowed 127.0.0.1."""
    try:
        server = Upstream("127.0.0.2")
    except OSError as exc:  # pragma: no cover - a machine without the 127/8 route
        pytest.skip(f"cannot bind 127.0.0.2: {exc}")
    yield server
    server.close()


def rest(base_url: str, endpoints: dict[str, Any], egress: EgressPolicy | None = None, **options: Any) -> Any:
    return connectors.connect("rest_api", base_url=base_url, headers=CREDENTIALS, endpoints=endpoints,
                              egress=egress, options=options)


def error_of(call: Callable[[], Any]) -> ConnectorError:
    with pytest.raises(ConnectorError) as caught:
        call()
    return caught.value


def leaked(server: Upstream) -> list[str]:
    """The credential values that reached ``server``, in any header."""
    return [value for _, headers in server.requests for value in headers.values() if KEY in value or
            "t-secret-456" in value]


# -- credentials stay on base_url's origin -----------------------------------------------------
def test_a_link_next_page_on_another_origin_gets_no_credentials(origin, attacker):
    origin.routes["/items"] = lambda h: send_json(h, ROWS, headers={"Link": f'<{attacker.url}/items?p=2>; rel="next"'})
    attacker.routes["/items"] = lambda h: send_json(h, [{"id": 3, "name": "c"}])
    with rest(origin.url, {"items": {"path": "/items", "pagination": {"type": "link"}}}) as source:
        assert [r["id"] for r in source.records("items")] == [1, 2, 3]
    assert origin.requests[0][1]["x-api-key"] == KEY  # the origin got them
    assert attacker.paths == ["/items?p=2"] and leaked(attacker) == []


def test_a_link_to_the_same_port_under_another_host_name_is_another_origin(origin):
    host_alias = origin.url.replace("127.0.0.1", "localhost")
    origin.routes["/items"] = lambda h: send_json(
        h, ROWS if "p=2" in h.path else [{"id": 0}], headers={} if "p=2" in h.path else
        {"Link": f'<{host_alias}/items?p=2>; rel="next"'})
    with rest(origin.url, {"items": {"path": "/items", "pagination": {"type": "link"}}}) as source:
        source.records("items")
    assert [p for p, _ in origin.requests] == ["/items", "/items?p=2"]
    assert origin.requests[0][1].get("x-api-key") == KEY
    assert "x-api-key" not in origin.requests[1][1] and "authorization" not in origin.requests[1][1]


def test_a_redirect_to_another_origin_gets_no_credentials(origin, attacker):
    origin.routes["/moved"] = redirect(f"{attacker.url}/stolen")
    with rest(origin.url, {"moved": {"path": "/moved"}}) as source:
        assert source.execute("SELECT COUNT(*) FROM moved").rows == [[2]]
    assert attacker.paths == ["/stolen"] and leaked(attacker) == []


def test_a_redirect_on_the_same_origin_keeps_credentials(origin):
    origin.routes["/old"] = redirect("/items", 301)
    with rest(origin.url, {"old": {"path": "/old"}}) as source:
        assert len(source.records("old")) == 2
    assert origin.paths == ["/old", "/items"]
    assert all(headers.get("x-api-key") == KEY for _, headers in origin.requests)


def test_an_https_to_http_downgrade_is_another_origin():
    from connectors.rest_api import _origin
    import httpx

    assert _origin(httpx.URL("https://api.test/x")) != _origin(httpx.URL("http://api.test/x"))
    assert _origin(httpx.URL("https://API.test:443/x")) == _origin(httpx.URL("https://api.test/y"))


@pytest.mark.parametrize("path", ["{attacker}/steal", "//127.0.0.1:{port}/steal", "\\\\127.0.0.1:{port}/steal",
                                  "/\\127.0.0.1:{port}/steal", "http:/steal", "HTTPS://127.0.0.1:{port}/x",
                                  "/ok\r\nX-Injected: 1"])
def test_an_endpoint_path_that_is_not_relative_is_refused(origin, attacker, path):
    path = path.format(attacker=attacker.url, port=attacker.port)
    error = error_of(lambda: rest(origin.url, {"evil": {"path": path}}))
    assert error.code == "invalid_request" and "endpoints.evil.path" in error.message
    assert attacker.requests == [] and origin.requests == []


def test_the_relative_path_rule_holds_at_request_time_too(origin, attacker):
    with rest(origin.url, {"items": {"path": "/items"}}) as source:
        source.endpoints["items"].path = f"//127.0.0.1:{attacker.port}/steal"  # past the parse-time check
        assert error_of(lambda: source.records("items")).code == "invalid_request"
        source.endpoints["items"].path = "/../../items"  # leaves base_url's path, not its origin: fine
        assert len(source.records("items")) == 2
    assert attacker.requests == []


def test_cookies_set_by_the_origin_do_not_reach_another_port(origin, attacker):
    origin.routes["/items"] = lambda h: send_json(
        h, ROWS, headers={"Set-Cookie": "session=s-secret; Path=/", "Link": f'<{attacker.url}/p2>; rel="next"'})
    attacker.routes["/p2"] = lambda h: send_json(h, [])
    with rest(origin.url, {"items": {"path": "/items", "pagination": {"type": "link"}}}) as source:
        source.records("items")
    assert attacker.paths == ["/p2"] and "cookie" not in attacker.requests[0][1]


# -- egress: with a policy, internal destinations are refused on every hop --------------------------
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "017700000001", "127.1",
                                  "[::ffff:127.0.0.1]", "0.0.0.0"])
def test_a_policy_refuses_loopback_however_it_is_spelled(origin, host):
    base_url = f"http://{host}:{origin.port}"
    with rest(base_url, {"items": {"path": "/items"}}, egress=EgressPolicy()) as source:
        error = error_of(lambda: source.execute("SELECT * FROM items"))
    assert error.code == "access_denied"
    assert origin.requests == []  # refused before connecting


def test_allowing_127_0_0_1_lets_the_local_server_through(origin):
    with rest(origin.url, {"items": {"path": "/items"}}, egress=LOOPBACK_ONLY) as source:
        assert source.execute("SELECT COUNT(*) FROM items").rows == [[2]]
    assert origin.paths == ["/items"]


def test_without_a_policy_the_trusted_path_is_unrestricted(origin):
    with rest(f"http://localhost:{origin.port}", {"items": {"path": "/items"}}) as source:
        assert len(source.records("items")) == 2


def test_the_operator_variables_make_a_policy_for_the_trusted_path_too(origin, monkeypatch):
    monkeypatch.setenv("NLQUERY_EGRESS_DENY", "127.0.0.0/8")
    with rest(origin.url, {"items": {"path": "/items"}}) as source:
        assert error_of(lambda: source.records("items")).code == "access_denied"
    assert origin.requests == []


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/iam/security-credentials/",
                                    "http://[fd00:ec2::254]/latest/meta-data/", "http://0.0.0.0:{port}/items",
                                    "http://2130706433:{port}/items"])
def test_a_redirect_into_the_internal_network_is_refused(origin, target):
    origin.routes["/go"] = redirect(target.format(port=origin.port))
    policy = EgressPolicy(allow=("127.0.0.1/32",))
    if "2130706433" in target:  # the allowed address itself: allowed however spelled
        policy = EgressPolicy(allow=("localhost",))
        base = f"http://localhost:{origin.port}"
    else:
        base = origin.url
    with rest(base, {"go": {"path": "/go"}}, egress=policy) as source:
        error = error_of(lambda: source.records("go"))
    assert error.code == "access_denied"
    assert origin.paths == ["/go"]  # only the first hop was fetched


def test_a_redirect_to_another_internal_host_is_refused_and_nothing_reaches_it(origin, internal):
    origin.routes["/go"] = redirect(f"{internal.url}/admin")
    with rest(origin.url, {"go": {"path": "/go"}}, egress=LOOPBACK_ONLY) as source:
        assert error_of(lambda: source.records("go")).code == "access_denied"
    assert internal.requests == []
    # the same redirect without a policy (trusted path) does reach it, without credentials
    with rest(origin.url, {"go": {"path": "/go"}}) as source:
        source.records("go")
    assert internal.paths == ["/admin"] and leaked(internal) == []


def test_a_next_page_on_an_internal_host_is_refused(origin, internal):
    origin.routes["/items"] = lambda h: send_json(h, ROWS, headers={"Link": f'<{internal.url}/admin>; rel="next"'})
    with rest(origin.url, {"items": {"path": "/items", "pagination": {"type": "link"}}}, egress=LOOPBACK_ONLY) as src:
        assert error_of(lambda: src.records("items")).code == "access_denied"
    assert internal.requests == []


def test_an_operator_proxy_serves_the_trusted_path_but_never_a_policed_source(origin, attacker, monkeypatch):
    """HTTP(S)_PROXY keeps working for CLI / Python API sources; a source under an egress
    policy connects itself to the address it checked (a proxy would resolve the host again)."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", attacker.url)  # "attacker" plays the operator's proxy here
    with rest("http://api.example.test", {"items": {"path": "/items"}}) as source:
        assert len(source.records("items")) == 2
    assert attacker.paths == ["http://api.example.test/items"]
    with rest(origin.url, {"items": {"path": "/items"}}, egress=LOOPBACK_ONLY) as source:
        assert len(source.records("items")) == 2
    assert origin.paths == ["/items"] and len(attacker.requests) == 1


def test_redirects_are_bounded(origin):
    origin.routes["/loop"] = redirect("/loop")
    with rest(origin.url, {"loop": {"path": "/loop"}}, egress=LOOPBACK_ONLY) as source:
        error = error_of(lambda: source.records("loop"))
    assert error.code == "query_execution_failed" and "redirects" in error.message
    assert len(origin.requests) == 6  # the first request and 5 redirects


def test_a_redirect_to_another_scheme_is_refused(origin):
    origin.routes["/go"] = redirect("file:///etc/passwd")
    with rest(origin.url, {"go": {"path": "/go"}}) as source:
        assert error_of(lambda: source.records("go")).code == "access_denied"


# -- one deadline per request -----------------------------------------------------------------
def drip_body(handler: Any) -> None:
    """Headers at once, then the body one byte every 0.3 s (30 s for it all)."""
    data = b" " * 90 + json.dumps(ROWS).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    for byte in data:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.3)


def drip_headers(handler: Any) -> None:
    """The status line, then one header line every 0.3 s."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for n in range(100):
        handler.wfile.write(f"X-Drip-{n}: 1\r\n".encode())
        handler.wfile.flush()
        time.sleep(0.3)
    data = json.dumps(ROWS).encode()
    handler.wfile.write(f"Content-Length: {len(data)}\r\n\r\n".encode() + data)


@pytest.mark.parametrize("route", [drip_body, drip_headers])
def test_a_dripping_upstream_ends_at_the_deadline(origin, route):
    origin.routes["/drip"] = route
    with rest(origin.url, {"drip": {"path": "/drip"}}, egress=LOOPBACK_ONLY) as source:
        # each byte arrives well within the source's 10 s read timeout: only a total deadline ends it
        error = error_of(lambda: source.execute("SELECT * FROM drip", timeout_s=1))
    assert error.code == "query_timeout"


def test_the_deadline_covers_every_page(origin):
    def slow_pages(handler: Any) -> None:
        page = int(handler.path.rsplit("=", 1)[-1]) if "page=" in handler.path else 1
        time.sleep(0.4)
        send_json(handler, [{"id": page}], headers={"Link": f'</pages?page={page + 1}>; rel="next"'})

    origin.routes["/pages"] = slow_pages
    endpoints = {"pages": {"path": "/pages", "pagination": {"type": "link"}, "max_pages": 40}}
    with rest(origin.url, endpoints, egress=LOOPBACK_ONLY) as source:
        error = error_of(lambda: source.execute("SELECT COUNT(*) FROM pages", timeout_s=1.5))
    assert error.code == "query_timeout"
    assert len(origin.requests) < 40  # it stopped paging


# -- the response-size ceiling ------------------------------------------------------------------
FLOOD_BYTES = 64 * 2**20


def flood(handler: Any, *, declare: bool = False) -> None:
    """64 MB, chunked (or with its Content-Length declared), counting what was written."""
    owner_chunk = b"[" + b'{"x": "' + b"y" * 65_000 + b'"},'
    try:
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {FLOOD_BYTES}\r\n\r\n" if declare else "Transfer-Encoding: chunked\r\n\r\n"
        handler.wfile.write(head.encode())
        sent = 0
        while sent < FLOOD_BYTES:
            piece = owner_chunk
            handler.wfile.write(piece if declare else b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
            handler.server.owner.sent = sent
    finally:
        handler.close_connection = True
        handler.server.owner.done.set()


@pytest.fixture
def flooding(origin):
    origin.server.owner = origin
    origin.routes["/flood"] = flood
    origin.routes["/declared"] = lambda h: flood(h, declare=True)
    return origin


@pytest.mark.parametrize("route", ["/flood", "/declared"])
def test_the_server_ceiling_stops_a_flood_while_streaming(flooding, monkeypatch, route):
    monkeypatch.setenv("NLQUERY_MAX_RESPONSE_BYTES", "1000000")
    # the source asks for more than the server allows: it only gets the server's ceiling
    with rest(flooding.url, {"big": {"path": route}}, egress=LOOPBACK_ONLY, max_response_bytes=10**9) as source:
        error = error_of(lambda: source.execute("SELECT COUNT(*) FROM big"))
    assert error.code == "result_too_large" and "1,000,000-byte cap" in error.message
    assert flooding.done.wait(30), "the upstream was still writing: the connector kept reading"
    assert flooding.sent < FLOOD_BYTES // 2  # it stopped reading (kernel buffers hold a few MB)


def test_the_default_ceiling_is_ten_million_bytes(origin):
    with rest(origin.url, {"items": {"path": "/items"}}) as source:
        assert source.max_bytes == 10_000_000
    with rest(origin.url, {"items": {"path": "/items"}}, max_response_bytes=5000) as source:
        assert source.max_bytes == 5000  # a source may lower it


def test_a_source_can_lower_the_ceiling(origin):
    origin.routes["/items"] = lambda h: send_json(h, [{"blob": "x" * 1000}] * 100)
    with rest(origin.url, {"items": {"path": "/items"}}, max_response_bytes=50_000) as source:
        error = error_of(lambda: source.records("items"))
    assert error.code == "result_too_large" and "50,000-byte cap" in error.message


def test_a_compressed_bomb_is_not_inflated_past_the_ceiling(origin, monkeypatch):
    monkeypatch.setenv("NLQUERY_MAX_RESPONSE_BYTES", "1000000")
    bomb = gzip.compress(b"[" + b" " * (50 * 2**20) + b"]", 9)  # 50 MB of JSON in ~50 KB
    assert len(bomb) < 1_000_000
    origin.routes["/bomb"] = lambda h: send_json(h, None, headers={"Content-Encoding": "gzip"}, raw=bomb)
    with rest(origin.url, {"bomb": {"path": "/bomb"}}) as source:
        error = error_of(lambda: source.records("bomb"))
    assert error.code == "result_too_large"


@pytest.mark.parametrize("encoding, compress", [("gzip", gzip.compress), ("deflate", zlib.compress),
                                                 ("deflate", lambda d: zlib.compress(d)[2:-4])])  # raw deflate
def test_compressed_responses_still_decode(origin, encoding, compress):
    origin.routes["/items"] = lambda h: send_json(h, None, headers={"Content-Encoding": encoding},
                                                  raw=compress(json.dumps(ROWS).encode()))
    with rest(origin.url, {"items": {"path": "/items"}}) as source:
        assert [r["name"] for r in source.records("items")] == ["a", "b"]


def test_a_malformed_ceiling_variable_is_named(origin, monkeypatch):
    monkeypatch.setenv("NLQUERY_MAX_RESPONSE_BYTES", "ten megs")
    error = error_of(lambda: rest(origin.url, {"items": {"path": "/items"}}))
    assert "NLQUERY_MAX_RESPONSE_BYTES" in error.message


def test_the_ceiling_holds_for_a_whole_fetch_not_per_page(origin):
    # Each page fits under the ceiling; twenty of them do not: the fetch stops at the sum.
    page = [{"blob": "x" * 1000}] * 20  # ~20 KB a page
    origin.routes["/items"] = lambda h: send_json(h, page, headers={"Link": '</items?more=1>; rel="next"'})
    with rest(origin.url, {"items": {"path": "/items", "pagination": {"type": "link"}, "max_pages": 20}},
              max_response_bytes=100_000) as source:
        error = error_of(lambda: source.records("items"))
    assert error.code == "result_too_large"
    assert len(origin.paths) <= 6  # stopped after the pages that fit
