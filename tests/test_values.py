import datetime as dt
import decimal
import ipaddress
import json
import uuid

import pytest

from connectors.values import iso_duration, json_safe, json_safe_rows


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (decimal.Decimal("12.30"), 12.3),
        (decimal.Decimal("42"), 42),
        (decimal.Decimal("12345678901234567890.123"), "12345678901234567890.123"),
        (decimal.Decimal("NaN"), "NaN"),
        (dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.timezone.utc), "2026-01-15T10:00:00Z"),
        (dt.datetime(2026, 1, 15, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))), "2026-01-15T10:00:00+02:00"),
        (dt.datetime(2026, 1, 15, 10, 0), "2026-01-15T10:00:00"),
        (dt.date(2026, 1, 15), "2026-01-15"),
        (dt.time(9, 30), "09:30:00"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (b"\x01\x02", "AQI="),
        (memoryview(b"\x01\x02"), "AQI="),
        (ipaddress.ip_address("10.0.0.1"), "10.0.0.1"),
        ({"a": [decimal.Decimal("1.5"), dt.date(2026, 1, 1)]}, {"a": [1.5, "2026-01-01"]}),
        ((1, "x"), [1, "x"]),
    ],
)
def test_json_safe(value, expected):
    assert json_safe(value) == expected
    json.dumps(json_safe(value))


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (dt.timedelta(0), "PT0S"),
        (dt.timedelta(days=1, hours=2), "P1DT7200S"),
        (dt.timedelta(days=3), "P3D"),
        (dt.timedelta(seconds=1.5), "PT1.5S"),
        (-dt.timedelta(seconds=90), "-PT90S"),
    ],
)
def test_iso_duration(delta, expected):
    assert iso_duration(delta) == expected


def test_rows_keep_plain_scalars_and_convert_the_rest():
    rows = json_safe_rows([(1, "a", None, True, decimal.Decimal("0.5"))])
    assert rows == [[1, "a", None, True, 0.5]]
