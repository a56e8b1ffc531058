"""The ``query_data`` tool callback of agent platforms: signed, fresh, idempotent.

The platform POSTs ``{"tool_name", "parameters": {"data_source", "question" | "sql",
"parameters"}, "execution_id", ...}`` with ``X-Interactor-Signature: sha256=<hex HMAC of
the raw body>`` and ``X-Interactor-Timestamp`` (ISO 8601, equal to the signed body's
``timestamp``). We verify both, run the tool once per ``execution_id`` (a repeat of the same
call returns the result kept through the Engine, shared by replicas, for 7 days; the same id
with a different call is ``execution_id_conflict``) and keep the ``result`` under 64 KB by
trimming rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from nlquery.errors import InvalidRequest, Unauthorized

MAX_AGE_S = 300
RETENTION_S = 7 * 24 * 3600
MAX_RESULT_BYTES = 64 * 1024

TOOL_DEFINITION = {
    "name": "query_data",
    "description": "Answer a question from a registered database (read-only), or run a read-only SQL "
                   "query with $1, $2 parameters. Returns columns and rows.",
    "parameters": {
        "type": "object",
        "properties": {
            "data_source": {"type": "string", "description": "Name or id of the data source"},
            "question": {"type": "string", "description": "A question in plain language"},
            "sql": {"type": "string", "description": "A read-only SQL query (instead of a question)"},
            "parameters": {"type": "array", "description": "Values for $1, $2 ... in sql", "items": {}},
        },
        "required": ["data_source"],
    },
}


@dataclass(frozen=True)
class ToolCall:
    execution_id: str
    parameters: dict[str, Any]
    digest: str  # SHA-256 of the call without its timestamp: same call, same digest


def parse_time(value: str, what: str) -> dt.datetime:
    try:
        stamp = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.timezone.utc)
        return stamp.astimezone(dt.timezone.utc)
    except (ValueError, AttributeError, OverflowError):
        raise Unauthorized(f"{what} is not an ISO 8601 time") from None


def check_headers(signature: str | None, timestamp: str | None) -> dt.datetime:
    """What can be checked before reading the body: both headers present, the timestamp
    fresh. Returns the signing time."""
    if not signature or not timestamp:
        raise Unauthorized("X-Interactor-Signature and X-Interactor-Timestamp are required")
    signed_at = parse_time(timestamp, "X-Interactor-Timestamp")
    age = abs((dt.datetime.now(dt.timezone.utc) - signed_at).total_seconds())
    if age > MAX_AGE_S:
        raise Unauthorized(f"the request was signed {age:.0f} s ago, outside the {MAX_AGE_S} s window")
    return signed_at


def verify(body: bytes, signature: str | None, timestamp: str | None, secret: str) -> dt.datetime:
    """Raise Unauthorized unless the signature matches and the timestamp is fresh."""
    signed_at = check_headers(signature, timestamp)
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    given = (signature or "").removeprefix("sha256=")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("the signature does not match the body")
    return signed_at


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def json_error(exc: json.JSONDecodeError) -> str:
    return f"body: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"


def loads(body: bytes) -> Any:
    """JSON from hostile bytes: every failure is InvalidRequest saying where."""
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(json_error(exc)) from None
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"body: invalid JSON: not UTF-8 (byte {exc.start})") from None
    except (ValueError, RecursionError) as exc:  # integers of 4,300+ digits, deep nesting
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidRequest(f"body: invalid JSON: {reason}") from None


def parse_call(body: bytes, signed_at: dt.datetime | None = None,
               request_id: str | None = None) -> ToolCall:
    """The call in a verified body. Its ``timestamp`` (signed with it) must be the
    header's ``signed_at``: a fresh header cannot revive an old signed body."""
    data = loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("execution_id"), str) or not data["execution_id"]:
        raise InvalidRequest("execution_id is required")
    if signed_at is not None:
        if not isinstance(data.get("timestamp"), str):
            raise Unauthorized("the signed body has no timestamp")
        if parse_time(data["timestamp"], "the body's timestamp") != signed_at:
            raise Unauthorized("the body's timestamp does not match X-Interactor-Timestamp")
    if request_id is not None and request_id != data["execution_id"]:
        raise InvalidRequest("X-Interactor-Request-Id does not match the body's execution_id")
    parameters = data.get("parameters")
    if not isinstance(parameters, dict) or not isinstance(parameters.get("data_source"), str):
        raise InvalidRequest("parameters.data_source is required")
    if not (isinstance(parameters.get("question"), str) or isinstance(parameters.get("sql"), str)):
        raise InvalidRequest("give parameters.question or parameters.sql")
    if "parameters" in parameters and not isinstance(parameters["parameters"], (list, type(None))):
        raise InvalidRequest("parameters.parameters must be a list")
    call = {k: v for k, v in data.items() if k != "timestamp"}
    canonical = json.dumps(call, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return ToolCall(data["execution_id"], parameters, hashlib.sha256(canonical.encode()).hexdigest())


def fit(result: dict[str, Any], limit: int = MAX_RESULT_BYTES) -> dict[str, Any]:
    """Trim rows until the JSON fits ``limit`` bytes, and say so."""
    if len(json.dumps(result, default=str).encode()) <= limit:
        return result
    rows = list(result.get("rows", []))
    low, high = 0, len(rows)
    while low < high:  # the largest prefix of rows that fits
        middle = (low + high + 1) // 2
        candidate = {**result, "rows": rows[:middle], "row_count": middle, "truncated": True,
                     "note": f"trimmed to {middle} of {len(rows)} rows to stay under 64 KB"}
        if len(json.dumps(candidate, default=str).encode()) <= limit:
            low = middle
        else:
            high = middle - 1
    return {**result, "rows": rows[:low], "row_count": low, "truncated": True,
            "note": f"trimmed to {low} of {len(rows)} rows to stay under 64 KB"}
