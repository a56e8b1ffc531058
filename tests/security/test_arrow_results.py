"""What an Arrow read (ADBC) hands back is bounded like any other read, and means what the
psycopg path's values mean.

- Converting ADBC's UUID and interval columns ran a Python call per value after the read
  had ended (outside its deadline): a tenant's wide UUID result held a CPU for tens of
  seconds and came back at 2.5 times the byte cap, once UUIDs became text.
- A source's lowered byte cap was checked only once per 16 MB batch.
- Negative months were read as -35 days (Python's ``divmod`` of -1 by 12) where psycopg
  reads -30."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest

import connectors
from connectors.errors import ResultTooLarge
from tests.conftest import scratch_postgres

pa = pytest.importorskip("pyarrow")
pytest.importorskip("adbc_driver_postgresql")


@pytest.fixture(scope="module")
def backend():
    backend = scratch_postgres(with_data=False)
    yield backend
    backend.drop_database()


@pytest.fixture
def connector(backend):
    conn = backend.connect()
    yield conn
    conn.close()


def test_intervals_and_uuids_read_as_psycopg_reads_them(connector):
    sql = ("SELECT g, md5(g::text)::uuid AS u, "
           "CASE WHEN g % 3 = 0 THEN NULL ELSE make_interval(months => g % 30 - 15, days => g - 50, "
           "secs => g * 1.5) END AS i FROM generate_series(1, 200) AS g "
           "UNION ALL SELECT 0, NULL, INTERVAL '-1 month' UNION ALL SELECT -1, NULL, INTERVAL '-13 months' "
           "UNION ALL SELECT -2, NULL, INTERVAL '-1 microsecond' ORDER BY 1")
    table = connector.execute_arrow(sql, max_rows=1000)
    native = connector.execute(sql, max_rows=1000, convert=False)
    assert pa.types.is_string(table.schema.field("u").type)
    assert pa.types.is_duration(table.schema.field("i").type)
    got = table.to_pylist()
    for row, (g, u, i) in zip(got, native.rows):
        assert row == {"g": g, "u": None if u is None else str(u), "i": i}
    by_g = {row["g"]: row["i"] for row in got}
    assert by_g[0] == dt.timedelta(days=-30) and by_g[-1] == dt.timedelta(days=-395)
    assert by_g[-2] == dt.timedelta(microseconds=-1)
    assert uuid.UUID(got[-1]["u"])  # canonical text


def test_a_slice_of_a_result_converts_from_its_own_first_value(connector):
    sql = "SELECT md5(g::text)::uuid AS u, make_interval(days => g) AS i FROM generate_series(1, 50) AS g"
    table = connector.execute_arrow(sql, max_rows=20)  # sliced to the cap after the read
    assert table.num_rows == 20
    assert table.column("i").to_pylist() == [dt.timedelta(days=g) for g in range(1, 21)]
    assert table.column("u").to_pylist()[0] == str(uuid.UUID(hashlib.md5(b"1").hexdigest()))


def test_the_byte_cap_counts_uuids_as_the_text_they_become(backend):
    # 40 UUID columns x 20,000 rows: 12.8 MB as 16-byte values, 32 MB as text.
    columns = ", ".join(f"md5((g + {i})::text)::uuid AS c{i}" for i in range(40))
    capped = connectors.connect(type="postgresql", url=backend.url, max_result_bytes=20_000_000)
    try:
        with pytest.raises(ResultTooLarge):
            capped.execute_arrow(f"SELECT {columns} FROM generate_series(1, 20000) AS g", max_rows=100_000)
        assert capped.execute_arrow("SELECT 1 AS one").column("one").to_pylist() == [1]
    finally:
        capped.close()


def test_a_lowered_byte_cap_is_checked_well_before_adbcs_own_batch_size(backend, monkeypatch):
    from connectors import postgresql_arrow

    taken: list[int] = []
    original = postgresql_arrow._take_batches

    def counting(reader, max_bytes):
        class Counted:
            def __iter__(self):
                for batch in reader:
                    taken.append(batch.nbytes)
                    yield batch
        return original(Counted(), max_bytes)

    monkeypatch.setattr(postgresql_arrow, "_take_batches", counting)
    small = connectors.connect(type="postgresql", url=backend.url, max_result_bytes=400_000)
    try:
        with pytest.raises(ResultTooLarge):
            small.execute_arrow("SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 100000) AS g",
                                max_rows=100_000)
    finally:
        small.close()
    assert taken and sum(taken) < 2_000_000, "the read went on far past the source's cap"
