"""Who is asking: a tenant, the token's id, its scopes and its policy overlay.

Every token belongs to a tenant and carries scopes. A source belongs to the tenant that
registered it; other tenants get ``data_source_not_found`` for it. The CLI and the
Python API act as the *operator* (``tenant=None``): every tenant's sources.

Scopes: ``sources:read``, ``sources:write`` (register, update, delete, refresh,
mappings), ``query`` (raw SQL), ``ask`` (questions only), ``admin`` (tokens, audit,
every tenant; implies the others). A token may also be limited to some sources
(names or ids) and to a stricter exposure policy (an overlay: extra ``denied_tables`` /
``denied_columns``, a lower ``max_rows``) merged with the source's policy, the stricter
winning.

``NLQUERY_API_TOKENS`` entries are ``token`` (tenant ``default``, every scope including
``admin``: what a token was before tenants existed) or ``tenant:token`` (that tenant,
every scope but ``admin``). The prefix before the first ``:`` is a tenant only when it
matches :data:`TENANT_PATTERN`; otherwise the whole entry is the token.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from nlquery.errors import AccessDenied, InvalidRequest
from nlquery.guard import Policy

SCOPES = ("sources:read", "sources:write", "query", "ask", "admin")
DEFAULT_SCOPES = frozenset({"sources:read", "sources:write", "query", "ask"})
"""A catalog token created without ``--scope``, and a ``tenant:token`` entry."""
ALL_SCOPES = frozenset(SCOPES)
DEFAULT_TENANT = "default"
TENANT_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
"""A tenant name: lowercase letter first, then letters, digits, ``_`` or ``-`` (63 at most)."""


def check_tenant(name: Any) -> str:
    if not isinstance(name, str) or not TENANT_PATTERN.match(name):
        raise InvalidRequest(f"invalid tenant {name!r}: a lowercase letter, then lowercase letters, digits, "
                             "'_' or '-' (63 characters at most)")
    return name


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    given = frozenset(scopes)
    unknown = sorted(given - ALL_SCOPES)
    if unknown:
        raise InvalidRequest(f"unknown scope {unknown[0]!r}: give one of {', '.join(SCOPES)}")
    if not given:
        raise InvalidRequest("a token needs at least one scope")
    return given


def check_overlay(policy: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A token's overlay: ``denied_tables``, ``denied_columns`` (lists of names),
    ``max_rows`` (an integer >= 0). Anything else is refused."""
    if not policy:
        return None
    if not isinstance(policy, Mapping):
        raise InvalidRequest("a token policy must be an object")
    unknown = sorted(set(policy) - {"denied_tables", "denied_columns", "max_rows"})
    if unknown:
        raise InvalidRequest(f"unknown token policy key {unknown[0]!r}: give denied_tables, denied_columns "
                             "or max_rows")
    overlay: dict[str, Any] = {}
    for key in ("denied_tables", "denied_columns"):
        values = policy.get(key) or []
        if isinstance(values, str) or not all(isinstance(v, str) and v for v in values):
            raise InvalidRequest(f"{key} must be a list of names")
        if key == "denied_columns" and not all("." in v for v in values):
            raise InvalidRequest("denied_columns are written table.column")
        if values:
            overlay[key] = sorted({v.lower() for v in values})
    if policy.get("max_rows") is not None:
        rows = policy["max_rows"]
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise InvalidRequest("max_rows must be an integer >= 0")
        overlay["max_rows"] = rows
    return overlay or None


@dataclass(frozen=True)
class Principal:
    """The caller of one request. ``tenant`` None with ``admin`` means every tenant."""

    tenant: str = DEFAULT_TENANT
    token_id: str | None = None
    scopes: frozenset[str] = ALL_SCOPES
    sources: frozenset[str] | None = None  # names or ids this token may reach (None: all of its tenant's)
    overlay: Mapping[str, Any] | None = None  # denied_tables, denied_columns, max_rows
    channel: str = "http"

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes

    @property
    def sees_every_tenant(self) -> bool:
        return self.admin

    def has(self, scope: str) -> bool:
        return self.admin or scope in self.scopes

    def require(self, scope: str) -> None:
        """AccessDenied (403) naming the missing scope."""
        if not self.has(scope):
            raise AccessDenied(f"this token lacks the {scope!r} scope")

    @property
    def lookup_tenant(self) -> str | None:
        """The tenant sources are looked up in (None: every tenant, for admins)."""
        return None if self.admin else self.tenant

    def reaches(self, source_id: str, name: str) -> bool:
        return self.sources is None or source_id in self.sources or name in self.sources

    def max_rows(self, asked: int | None, default: int) -> int:
        """The row cap: the one asked for (or ``default``), never above the overlay's."""
        cap = default if asked is None else asked
        limit = (self.overlay or {}).get("max_rows")
        return cap if limit is None else min(cap, limit)

    def with_channel(self, channel: str) -> Principal:
        return replace(self, channel=channel)

    def to_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "token_id": self.token_id, "scopes": sorted(self.scopes),
                "sources": sorted(self.sources) if self.sources is not None else None,
                "policy": dict(self.overlay) if self.overlay else None}


OPERATOR = Principal(tenant=DEFAULT_TENANT, token_id=None, scopes=ALL_SCOPES, channel="operator")


def merge_policy(policy: Policy | None, overlay: Mapping[str, Any] | None) -> Policy | None:
    """The source's policy with a token's overlay: denials add up (the stricter wins)."""
    if not overlay or not (overlay.get("denied_tables") or overlay.get("denied_columns")):
        return policy
    base = policy or Policy()
    return replace(base, denied_tables=base.denied_tables | frozenset(overlay.get("denied_tables", ())),
                   denied_columns=base.denied_columns | frozenset(overlay.get("denied_columns", ())))


def parse_env_tokens(value: str | None) -> list[tuple[str, Principal]]:
    """``NLQUERY_API_TOKENS`` entries as ``(token, principal)``."""
    entries = []
    for raw in (value or "").split(","):
        entry = raw.strip()
        if not entry:
            continue
        prefix, sep, rest = entry.partition(":")
        if sep and rest and TENANT_PATTERN.match(prefix):
            entries.append((rest, Principal(tenant=prefix, token_id=f"env:{prefix}", scopes=DEFAULT_SCOPES)))
        else:
            entries.append((entry, Principal(tenant=DEFAULT_TENANT, token_id="env", scopes=ALL_SCOPES)))
    return entries


# The principal of the request being served (set by the HTTP guard, the MCP server's
# middleware, the tool callback); None outside any request (the operator).
current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("nlquery_principal", default=None)

__all__ = ["ALL_SCOPES", "DEFAULT_SCOPES", "DEFAULT_TENANT", "OPERATOR", "Principal", "SCOPES", "check_overlay",
           "check_scopes", "check_tenant", "current", "merge_policy", "parse_env_tokens"]
