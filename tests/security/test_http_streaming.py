"""Hostile bodies against a real uvicorn server on 127.0.0.1: a 200 MB chunked (or
declared) upload is refused after at most the cap has been read, and a request that is not
authenticated is refused before any body byte is read.

The server runs in this process, behind a wrapper that counts the body bytes uvicorn hands
to the app (what the server consumed); a raw socket client streams the upload chunk by
chunk and counts what it managed to send before the server answered or hung up."""

from __future__ import annotations

import datetime as dt
import select
import socket
import threading
import time

import pytest

uvicorn = pytest.importorskip("uvicorn")

from nlquery import Engine  # noqa: E402
from nlquery.service import Settings, create_app  # noqa: E402

TOKEN = "stream-token"
SECRET = "stream-secret"
CAP = 1_000_000
UPLOAD = 200 * 1024 * 1024
CHUNK = b"x" * 65_536
SLACK = 1024 * 1024  # the message that crossed the cap: uvicorn hands over what one socket read got


class Counted:
    """Counts the request body bytes the app pulls through ``receive``."""

    def __init__(self, app):
        self.app, self.consumed = app, 0

    async def __call__(self, scope, receive, send):
        async def counting():
            message = await receive()
            if message["type"] == "http.request":
                self.consumed += len(message.get("body", b""))
            return message

        await self.app(scope, counting if scope["type"] == "http" else receive, send)


@pytest.fixture
def live(nlquery_home):
    app = Counted(create_app(Engine(), Settings(tokens=TOKEN, callback_secret=SECRET, redis_url=None,
                                                max_request_bytes=CAP)))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield app, port
    server.should_exit = True
    thread.join(timeout=20)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    sock.settimeout(20)
    try:
        while b"\r\n\r\n" not in data:
            more = sock.recv(65_536)
            if not more:
                break
            data += more
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            more = sock.recv(65_536)
            if not more:
                break
            body += more
    except (ConnectionResetError, TimeoutError):
        return 0, {}, b""
    if not lines[0]:
        return 0, {}, b""
    return int(lines[0].split()[1]), headers, body


def upload(port: int, path: str, headers: dict[str, str], *, declared: int | None = None) -> tuple[int, bytes, int]:
    """Stream up to 200 MB (chunked, or raw bytes under a declared Content-Length) until the
    server answers or hangs up; returns (status, body, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port))
    framing = {"Content-Length": str(declared)} if declared is not None else {"Transfer-Encoding": "chunked"}
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": "127.0.0.1", "Content-Type": "application/json",
                                                   **framing, **headers}.items())
    sock.sendall(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode())
    sent = 0
    sock.settimeout(5)
    try:
        while sent < UPLOAD:
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered (or closed): stop sending
            sock.sendall(CHUNK if declared is not None else b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            sent += len(CHUNK)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass  # the server stopped reading
    status, _, body = read_response(sock)
    sock.close()
    return status, body, sent


def fresh_stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def test_unsigned_200_mb_tool_callback_is_refused_before_reading(live):
    app, port = live
    status, body, sent = upload(port, "/api/v1/tools/query_data", {})
    assert status == 401, body
    assert app.consumed == 0
    assert sent < 32 * 1024 * 1024  # socket buffers, not the 200 MB


def test_signed_looking_200_mb_tool_callback_stops_at_the_cap(live):
    app, port = live
    headers = {"X-Interactor-Signature": "sha256=" + "0" * 64, "X-Interactor-Timestamp": fresh_stamp()}
    status, body, sent = upload(port, "/api/v1/tools/query_data", headers)
    assert status == 422 and b"byte limit" in body, body
    assert CAP < app.consumed <= CAP + SLACK
    assert sent < 32 * 1024 * 1024


def test_authenticated_200_mb_upload_stops_at_the_cap(live):
    app, port = live
    status, body, sent = upload(port, "/api/v1/data-sources", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 422 and b"invalid_request" in body and b"NLQUERY_MAX_REQUEST_BYTES" in body, body
    assert app.consumed <= CAP + SLACK
    assert sent < 32 * 1024 * 1024


@pytest.mark.parametrize("authorization", [None, "Bearer wrong"])
def test_unauthenticated_200_mb_upload_is_refused_before_reading(live, authorization):
    app, port = live
    headers = {"Authorization": authorization} if authorization else {}
    status, body, sent = upload(port, "/api/v1/data-sources", headers)
    assert status == 401 and b"unauthorized" in body, body
    assert app.consumed == 0
    assert sent < 32 * 1024 * 1024


def test_a_declared_200_mb_body_is_refused_without_reading(live):
    app, port = live
    status, body, sent = upload(port, "/api/v1/data-sources", {"Authorization": f"Bearer {TOKEN}"},
                                declared=UPLOAD)
    assert status == 422 and b"byte limit" in body, body
    assert app.consumed == 0
    assert sent < 32 * 1024 * 1024
