"""Encoding results straight from driver values: JSON bytes, JSON lines, CSV and Arrow.

ONE mapping of driver values to JSON, the same as :func:`connectors.values.json_safe`
(what ``Engine.query(result="json")`` returns), whichever encoder writes it:

=====================  ====================================================================
driver value           JSON
=====================  ====================================================================
Decimal                a number when it survives a double exactly (<= 15 significant
                       digits, or an integer below 2**53), else a string (money never loses
                       a cent); NaN / Infinity as strings
datetime               ISO 8601, ``Z`` for UTC (``2026-01-01T10:00:00Z``); naive stays naive
date, time             ISO 8601
timedelta (interval)   ISO 8601 duration: ``P1DT7200S``
UUID, IP address, ...  ``str(value)``
bytes                  base64
arrays, tuples, sets   lists (values mapped the same way)
JSON columns (dict)    the object itself (values mapped the same way)
float NaN / Infinity   ``null`` (JSON has no such numbers)
=====================  ====================================================================

With ``orjson`` installed (extras ``server``, ``mcp``) the encoder writes str, int, float,
bool, None, lists, dicts, datetimes and UUIDs itself and calls back into Python only for
Decimal, bytes, intervals and the rare rest; without it, the stdlib ``json`` writes the
converted values. A value orjson refuses (an integer past 64 bits, a ``time`` with a time
zone, a dict with non-string keys) makes that one document go the stdlib way: same output.
Known difference: orjson writes UTC offsets to the minute (historic local-mean-time
offsets with seconds, pre-1900 in non-UTC sessions, lose their seconds).

CSV and formula injection: a spreadsheet opening a CSV file runs a cell that starts with
``=``, ``+``, ``-`` or ``@`` as a formula (``=HYPERLINK(...)``, ``-2+3+cmd|...``), and one
that starts with a tab or a carriage return may be read the same way. Every CSV writer of
nlquery (HTTP ``/query`` as CSV, the CLI's ``--format csv``, the console's download) puts a
``'`` before such text cells, column names included (:func:`csv_text`); numbers (integers,
floats, decimals) are written as they are, so ``-5`` stays a number. The JSON, JSON lines
and Arrow outputs carry the values untouched.
"""

from __future__ import annotations

import csv
import io
import json
import math
from decimal import Decimal
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from connectors.values import json_default, json_safe

try:  # optional: the fast path
    import orjson
except ImportError:  # pragma: no cover - exercised where orjson is absent
    orjson = None  # type: ignore[assignment]

__all__ = ["ARROW_STREAM", "arrow_ipc", "arrow_table", "csv_lines", "csv_text", "dumps", "jsonl_lines", "loads"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"

if orjson is not None:
    _OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_PASSTHROUGH_DATACLASS
    _Fragment = orjson.Fragment


def _orjson_default(value: Any) -> Any:
    """:func:`json_default` for orjson, with a shortcut for the hot case: a ``Decimal``
    whose text is a plain number of at most 15 characters (so at most 15 significant
    digits, exact in a double) is written as that text, a JSON number, with no float made
    and printed again. Same value as the mapping gives (``1.250`` reads back as 1.25);
    the callback is what a 100,000-row NUMERIC column costs, so it stays this small."""
    if type(value) is Decimal:
        text = str(value)
        if len(text) <= 15 and text[-1].isdigit() and "E" not in text:
            return _Fragment(text)
    return json_default(value)


def dumps(data: Any) -> bytes:
    """``data`` (driver values anywhere inside) as compact UTF-8 JSON bytes."""
    if orjson is not None:
        try:
            return orjson.dumps(data, default=_orjson_default, option=_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError: a value only the stdlib writes
            pass
    return json.dumps(_plain(data), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def loads(data: bytes | str) -> Any:
    return orjson.loads(data) if orjson is not None else json.loads(data)


def _plain(value: Any) -> Any:
    """JSON-safe values with non-finite floats as None (the stdlib path of :func:`dumps`)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    safe = json_safe(value)
    return _plain(safe) if isinstance(safe, (dict, list, float)) else safe


def jsonl_lines(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, chunk: int = 1000) -> Iterator[bytes]:
    """One JSON object per row (``{"column": value}``), newline-terminated, yielded in
    chunks of ``chunk`` rows: memory stays flat whatever the row count."""
    names = list(columns)
    batch: list[bytes] = []
    for row in rows:
        batch.append(dumps(dict(zip(names, row))))
        if len(batch) >= chunk:
            yield b"\n".join(batch) + b"\n"
            batch = []
    if batch:
        yield b"\n".join(batch) + b"\n"


def csv_lines(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, chunk: int = 1000,
              header: bool = True) -> Iterator[str]:
    """CSV text (header first unless ``header=False``: the rows of a later chunk), yielded
    in chunks of ``chunk`` rows. Values are written as in JSON (the same mapping), NULL
    is an empty field, booleans ``true`` / ``false``, lists and objects as their JSON text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    # The csv module quotes a field holding "\n" (the line end) but not one holding a bare
    # "\r", which readers take for a line end: rows with one are written fully quoted.
    quoted = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    if header:
        names = [csv_text(str(c)) for c in columns]
        (quoted if any("\r" in c for c in names) else writer).writerow(names)
    count = 0
    for row in rows:
        cells = [_csv_value(v) for v in row]
        if any(type(c) is str and "\r" in c for c in cells):
            quoted.writerow(cells)
        else:
            writer.writerow(cells)
        count += 1
        if count % chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(text: str) -> str:
    """``text`` as a CSV cell a spreadsheet will not run as a formula: a ``'`` before text
    that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    kind = type(value)
    if kind is str:
        return csv_text(value)
    if kind is int:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is float:
        return value if math.isfinite(value) else ""
    safe = json_safe(value)
    if isinstance(safe, (dict, list)):
        return dumps(value).decode("utf-8")
    if isinstance(safe, str) and not isinstance(value, (int, float, Decimal)):
        return csv_text(safe)  # text of a UUID, bytes (base64 may start with +), an enum ...
    return safe


# -- Arrow -----------------------------------------------------------------------------------
def arrow_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, truncated: bool = False) -> Any:
    """A ``pyarrow.Table`` from driver rows, column by column with types inferred from the
    values: integers int64, text string, Decimal decimal128, datetime timestamp[us] (with
    its time zone), date date32, time time64, interval duration, bytes binary, arrays
    lists. JSON objects become their JSON text (objects of different keys are no one
    struct), and a column of mixed types (SQLite) its JSON-safe text. ``truncated`` goes
    into the schema metadata (``nlquery.truncated``)."""
    pa = _pyarrow()
    names = [str(c) for c in columns]
    if rows:
        data = list(zip(*rows))
    else:
        data = [() for _ in names]
    arrays = [_arrow_column(pa, values) for values in data]
    table = pa.Table.from_arrays(arrays, names=names) if names else pa.table({})
    return table.replace_schema_metadata({"nlquery.truncated": "true" if truncated else "false"})


def _arrow_column(pa: Any, values: Sequence[Any]) -> Any:
    if any(type(v) is dict for v in values):
        return pa.array([None if v is None else dumps(v).decode("utf-8") for v in values], pa.string())
    try:
        return pa.array(values, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError,
            OverflowError):
        return pa.array([None if v is None else _text(json_safe(v)) for v in values], pa.string())


def _text(value: Any) -> str:
    return value if isinstance(value, str) else dumps(value).decode("utf-8")


def arrow_ipc(table: Any) -> bytes:
    """``table`` as an Arrow IPC stream (``application/vnd.apache.arrow.stream``)."""
    pa = _pyarrow()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:
        from nlquery.errors import DriverNotInstalled

        raise DriverNotInstalled("Arrow results need pyarrow: pip install 'nlquery[arrow]'") from None
    return pyarrow
