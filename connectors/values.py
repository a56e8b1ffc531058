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
_PASSTHROUGH_TYPES = frozenset(_PASSTHROUGH)


def json_safe(value: Any) -> Any:
    """Return ``value`` as something ``json.dumps`` accepts without losing meaning."""
    if isinstance(value, _PASSTHROUGH):
        return value
    if isinstance(value, decimal.Decimal):
        return _decimal(value)
    if isinstance(value, dt.datetime):
        return _datetime(value)
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


def dotted_paths(document: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``{"a": {"b": 1}, "c": 2}`` -> ``[("a.b", 1), ("c", 2)]``: nested objects become dotted
    paths (an empty one stays a value), in document order. MongoDB and REST records."""
    found: list[tuple[str, Any]] = []
    for key, value in document.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            found.extend(dotted_paths(value, f"{path}."))
        else:
            found.append((path, value))
    return found


def json_safe_rows(rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """Convert every value of every row. Hot path (100k rows x columns): one set lookup
    on the exact type for plain scalars, one dict lookup for the common driver types."""
    passthrough, convert = _PASSTHROUGH_TYPES, _convert
    return [[v if type(v) in passthrough else convert(v) for v in row] for row in rows]


def _convert(value: Any) -> Any:
    converter = _CONVERTERS.get(type(value))
    return converter(value) if converter is not None else json_safe(value)


def _decimal(value: decimal.Decimal) -> int | float | str:
    text = str(value)
    # Fast path (hot: every NUMERIC value): at most 15 characters hold at most 15
    # significant digits, which survive a round trip through a double; finite values end
    # in a digit. float(str) is what float(Decimal) does anyway.
    if len(text) <= 15 and text[-1].isdigit() and "E" not in text:
        return float(text) if "." in text else int(text)
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # NaN, Infinity
        return str(value)
    if len(digits) <= 15 and abs(value.adjusted()) < 300:
        # up to 15 significant digits survive a round trip through a double, within its
        # range (1E+400 would read back as infinity, 1E-400 as 0)
        return int(value) if exponent >= 0 else float(value)
    if exponent >= 0 and abs(value) < 2**53:
        return int(value)
    as_float = float(value)
    return as_float if decimal.Decimal(repr(as_float)) == value else str(value)


def _datetime(value: dt.datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _base64(value: bytes | bytearray | memoryview) -> str:
    return base64.b64encode(value).decode("ascii")


_CONVERTERS: dict[type, Any] = {
    decimal.Decimal: _decimal, dt.datetime: _datetime, dt.date: dt.date.isoformat, dt.time: dt.time.isoformat,
}

# What a JSON encoder that writes str/int/float/bool/None, dicts with str keys, lists,
# tuples, datetime/date/time and UUID natively (orjson) still needs converted: the
# ``default`` hook below, the same mapping as :func:`json_safe`.
_ENCODER_CONVERTERS: dict[type, Any] = {
    decimal.Decimal: _decimal, bytes: _base64, bytearray: _base64, memoryview: _base64,
    set: list, frozenset: list,
}


def json_default(value: Any) -> Any:
    """``default`` hook of a JSON encoder: one driver value the encoder cannot write, as
    :func:`json_safe` maps it (an unknown type raises nothing: it becomes ``str``)."""
    converter = _ENCODER_CONVERTERS.get(type(value))
    if converter is not None:
        return converter(value)
    if isinstance(value, dt.timedelta):
        return iso_duration(value)
    return json_safe(value)


def iso_duration(value: dt.timedelta) -> str:
    """``timedelta(days=1, hours=2)`` -> ``P1DT7200S``; negative durations get a sign."""
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    seconds = value.seconds + value.microseconds / 1_000_000
    seconds_text = f"{seconds:f}".rstrip("0").rstrip(".")
    days = f"{value.days}D" if value.days else ""
    time = f"T{seconds_text}S" if seconds or not days else ""
    return f"{sign}P{days}{time}"
