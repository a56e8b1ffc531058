"""Bearer tokens: from ``NLQUERY_API_TOKENS`` (comma list; ``token`` or ``tenant:token``)
and tokens stored hashed in the catalog (``nlquery tokens create``), compared in constant
time. A token resolves to its :class:`nlquery.principal.Principal` (tenant, token id,
scopes, source allow-list, policy overlay).

One guard for the HTTP API and MCP over HTTP (:class:`nlquery.service.middleware.Hygiene`)
uses these token sources. With no token configured anywhere, the API answers loopback
callers only, and :func:`exposure` tells ``nlquery serve`` / ``nlquery mcp --transport http``
to refuse a bind beyond loopback.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread

from nlquery.errors import Unauthorized
from nlquery.principal import Principal, parse_env_tokens

STORED_TOKENS_TTL_S = 5.0  # a revoked token stops working within this time
NO_TOKEN_HINT = "set NLQUERY_API_TOKENS or create one with `nlquery tokens create NAME`"


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``; anything else (0.0.0.0, ::, names) is not."""
    if not host:
        return False
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TokenAuth:
    """Known tokens as ``(SHA-256 digest, principal)``: ``NLQUERY_API_TOKENS`` entries
    (``token`` is tenant ``default`` with every scope including admin; ``tenant:token`` is
    that tenant with every scope but admin: see :func:`nlquery.principal.parse_env_tokens`)
    and the catalog's tokens (their own tenant, scopes, allow-list and overlay)."""

    def __init__(self, tokens: list[str] | list[tuple[str, Principal]],
                 stored: Callable[[], list[tuple[str, Principal]]] | None = None) -> None:
        # Only digests are kept; comparing digests of equal length is constant-time.
        pairs = [t if isinstance(t, tuple) else (t, Principal(token_id="env")) for t in tokens]
        self._known = [(hashlib.sha256(t.encode()).digest(), p) for t, p in pairs if t]
        self._stored = stored
        self._stored_cache: tuple[float, list[tuple[bytes, Principal]]] = (0.0, [])
        self._refresh_lock = threading.Lock()

    @classmethod
    def from_setting(cls, value: str | None,
                     stored: Callable[[], list[tuple[str, Principal]]] | None = None) -> TokenAuth:
        return cls(parse_env_tokens(value), stored)

    @classmethod
    def for_engine(cls, engine: Any, value: str | None) -> TokenAuth:
        """The token sources of every front-end: ``value`` (NLQUERY_API_TOKENS) and the
        engine's catalog."""
        return cls.from_setting(value, stored=engine.active_tokens)

    @property
    def enabled(self) -> bool:
        """Is any token configured (environment or catalog) right now?"""
        return bool(self._known) or bool(self._stored_tokens())

    def stale(self) -> bool:
        return self._stored is not None and self._stored_cache[0] < time.monotonic()

    def refresh(self) -> None:
        """Read the catalog's tokens if the cached copy is older than the TTL (blocking:
        call it from a thread, or through :meth:`refresh_async`)."""
        if self._stored is None:
            return
        with self._refresh_lock:  # one reader at a time; the others find it fresh
            if self.stale():
                tokens = [(bytes.fromhex(d), p) for d, p in self._stored()]
                self._stored_cache = (time.monotonic() + STORED_TOKENS_TTL_S, tokens)

    async def refresh_async(self) -> None:
        """:meth:`refresh` without blocking the event loop (the catalog is a database)."""
        if self.stale():
            await anyio.to_thread.run_sync(self.refresh)

    def _stored_tokens(self) -> list[tuple[bytes, Principal]]:
        if self.stale():
            self.refresh()
        return self._stored_cache[1]

    async def authenticate(self, authorization: str | None) -> tuple[str, Principal] | None:
        """For async callers: the catalog is read in a thread (when the cached copy is
        stale), then ``(rate-limit subject, principal)`` from that copy; None when no
        token is configured."""
        await self.refresh_async()
        known = self._known + self._stored_cache[1]
        if not known:
            return None
        return self._match(authorization, known)

    def subject(self, authorization: str | None) -> str:
        """The caller's rate-limit identity (a token digest prefix); Unauthorized if the
        header is missing or the token unknown."""
        return self._match(authorization, self._known + self._stored_tokens())[0]

    def principal(self, authorization: str | None) -> Principal:
        """The caller's principal; Unauthorized if the header is missing or the token unknown."""
        return self._match(authorization, self._known + self._stored_tokens())[1]

    @staticmethod
    def _match(authorization: str | None, known: list[tuple[bytes, Principal]]) -> tuple[str, Principal]:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("a bearer token is required: Authorization: Bearer <token>")
        digest = hashlib.sha256(authorization[7:].strip().encode()).digest()
        found: Principal | None = None
        for candidate, principal in known:  # no early exit: timing reveals nothing
            if hmac.compare_digest(digest, candidate) and found is None:
                found = principal
        if found is None:
            raise Unauthorized("the bearer token is not valid")
        return digest.hex()[:16], found


class OpenAPIRefused(Exception):
    """No token is configured and the server would listen beyond loopback."""


def exposure(host: str, auth: TokenAuth, what: str) -> str | None:
    """Check a server about to bind ``host``: None when a token is configured; with none,
    the warning to print on a loopback bind, else :class:`OpenAPIRefused`."""
    if auth.enabled:
        return None
    if not is_loopback(host):
        raise OpenAPIRefused(
            f"no API token is configured, so {what} would be open to anyone who can reach {host}: "
            f"{NO_TOKEN_HINT}, or bind to loopback (--host 127.0.0.1)")
    return (f"warning: no API token is configured: {what} on {host} is open to every local caller "
            f"(loopback) without authentication; {NO_TOKEN_HINT}")
