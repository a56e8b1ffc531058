"""The ``query_data`` tool callback of agent platforms: signed, fresh, idempotent.

The platform POSTs ``{"tool_name", "parameters": {"data_source", "question" | "sql",
"parameters"}, "execution_id", ...}`` with ``X-Interactor-Signature: sha256=<hex HMAC of
the raw body>`` and ``X-Interactor-Timestamp`` (ISO 8601). We verify both, run the tool
once per ``execution_id`` (a repeat returns the result stored in the catalog, shared by
replicas, for 7 days) and keep the
``result`` under 64 KB by trimming rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
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


def verify(body: bytes, signature: str | None, timestamp: str | None, secret: str) -> None:
    """Raise Unauthorized unless the signature matches and the timestamp is fresh."""
    if not signature or not timestamp:
        raise Unauthorized("X-Interactor-Signature and X-Interactor-Timestamp are required")
    try:
        signed_at = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        if signed_at.tzinfo is None:
            signed_at = signed_at.replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise Unauthorized("X-Interactor-Timestamp is not an ISO 8601 time") from None
    age = abs((dt.datetime.now(dt.timezone.utc) - signed_at).total_seconds())
    if age > MAX_AGE_S:
        raise Unauthorized(f"the request was signed {age:.0f} s ago, outside the {MAX_AGE_S} s window")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    given = signature.removeprefix("sha256=")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("the signature does not match the body")


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse_call(body: bytes) -> tuple[str, dict[str, Any]]:
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise InvalidRequest("the body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("execution_id"), str) or not data["execution_id"]:
        raise InvalidRequest("execution_id is required")
    parameters = data.get("parameters")
    if not isinstance(parameters, dict) or not isinstance(parameters.get("data_source"), str):
        raise InvalidRequest("parameters.data_source is required")
    if not (isinstance(parameters.get("question"), str) or isinstance(parameters.get("sql"), str)):
        raise InvalidRequest("give parameters.question or parameters.sql")
    return data["execution_id"], parameters


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
