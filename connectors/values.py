"""Conversion of driver values into JSON-safe Python values.

Choices (documented in README): Decimal -> int/float when exact, else str (money
never loses a cent); datetimes -> ISO 8601 (``Z`` for UTC); intervals -> ISO 8601
durations; bytes -> base64; UUID, IP addresses and anything else -> ``str``.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from collections.abc import Iterable, Sequence
from typing import Any

_PASSTHROUGH = (str, int, float, bool, type(None))


def json_safe(value: Any) -> Any:
    """Return ``value`` as something ``json.dumps`` accepts without losing meaning."""
    if isinstance(value, _PASSTHROUGH):
        return value
    if isinstance(value, decimal.Decimal):
        return _decimal(value)
    if isinstance(value, dt.datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return iso_duration(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    return str(value)


def json_safe_rows(rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """Convert every value of every row; the fast path leaves plain scalars alone."""
    passthrough = _PASSTHROUGH
    return [
        [v if isinstance(v, passthrough) else json_safe(v) for v in row] for row in rows
    ]


def _decimal(value: decimal.Decimal) -> int | float | str:
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value() and abs(value) < 2**53:
        return int(value)
    as_float = float(value)
    return as_float if decimal.Decimal(repr(as_float)) == value else str(value)


def iso_duration(value: dt.timedelta) -> str:
    """``timedelta(days=1, hours=2)`` -> ``P1DT7200S``; negative durations get a sign."""
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    seconds = value.seconds + value.microseconds / 1_000_000
    seconds_text = f"{seconds:f}".rstrip("0").rstrip(".")
    days = f"{value.days}D" if value.days else ""
    time = f"T{seconds_text}S" if seconds or not days else ""
    return f"{sign}P{days}{time}"
