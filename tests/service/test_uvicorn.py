"""One real uvicorn process on 127.0.0.1, driven with httpx: 50 concurrent /query
calls against the real PostgreSQL."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import scratch_postgres

TOKEN = "uvicorn-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def postgres_shop():
    backend = scratch_postgres(with_data=True)
    yield backend
    backend.drop_database()


@pytest.fixture
def server(nlquery_home):
    port = free_port()
    env = {**os.environ, "NLQUERY_HOME": str(nlquery_home), "NLQUERY_API_TOKENS": TOKEN}
    process = subprocess.Popen([sys.executable, "-m", "nlquery.cli", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        process.kill()
        raise AssertionError(f"the server did not start: {process.stdout.read()}")
    yield httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    process.terminate()
    process.wait(timeout=10)


def test_fifty_concurrent_queries_on_postgresql(server, postgres_shop):
    created = server.post("/api/v1/data-sources", json={"name": "pg", "type": "postgresql",
                                                         "connection": {"url": postgres_shop.url}})
    assert created.status_code == 201, created.text
    source_id = created.json()["data"]["id"]
    for _ in range(200):
        if server.get(f"/api/v1/data-sources/{source_id}").json()["data"]["schema_status"] != "extracting":
            break
        time.sleep(0.05)

    def one(i: int) -> httpx.Response:
        return server.post(f"/api/v1/data-sources/{source_id}/query",
                           json={"query": "SELECT name FROM customers WHERE id = $1", "parameters": [i + 1]},
                           headers={"X-Client-Request-Id": f"call-{i}"})

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(one, range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    names = [r.json()["data"]["rows"][0][0] for r in responses]
    assert names == [c[1] for c in postgres_shop.shop.rows["customers"][:50]]
    assert sorted(r.headers["X-Request-Id"] for r in responses) == sorted(f"call-{i}" for i in range(50))


def test_errors_keep_their_envelope_over_the_wire(server):
    response = server.post("/api/v1/data-sources/ds_missing/query", json={"query": "SELECT 1"})
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "data_source_not_found",
                                         "message": "no data source named or with id 'ds_missing'"}}
    assert server.get("/api/v1/data-sources", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_a_large_result_streams_and_an_error_mid_stream_cuts_the_response(server, postgres_shop):
    created = server.post("/api/v1/data-sources", json={"name": "pg", "type": "postgresql",
                                                         "connection": {"url": postgres_shop.url}})
    source_id = created.json()["data"]["id"]
    rows_sql = "SELECT g AS n, md5(g::text) AS pad FROM generate_series(1, 60000) AS g ORDER BY g"
    with server.stream("POST", f"/api/v1/data-sources/{source_id}/query",
                       json={"query": rows_sql, "max_rows": 100000}) as response:
        assert response.status_code == 200
        assert response.headers.get("transfer-encoding") == "chunked" and "content-length" not in response.headers
        body = response.read()
    data = httpx.Response(200, content=body).json()["data"]
    assert data["row_count"] == len(data["rows"]) == 60000 and data["truncated"] is False
    assert data["rows"][59999][0] == 60000 and data["columns"] == ["n", "pad"]

    # Division by zero at row 50,000: after the first MiB went out, the response is cut
    # (no final chunk), so the client cannot take the partial body for a whole one.
    failing = "SELECT g AS n, md5(g::text) AS pad, 1 / (50000 - g) AS x FROM generate_series(1, 60000) AS g"
    with pytest.raises(httpx.RemoteProtocolError):
        with server.stream("POST", f"/api/v1/data-sources/{source_id}/query",
                           json={"query": failing, "max_rows": 100000}) as response:
            assert response.status_code == 200
            response.read()
    # The source is free again at once.
    after = server.post(f"/api/v1/data-sources/{source_id}/query", json={"query": "SELECT 1 AS one"})
    assert after.status_code == 200 and after.json()["data"]["rows"] == [[1]]
