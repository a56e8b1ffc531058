"""Bearer tokens: from ``NLQUERY_API_TOKENS`` (comma list) and tokens stored hashed in
the catalog (``nlquery tokens create``), compared in constant time.

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
    def __init__(self, tokens: list[str], stored: Callable[[], list[str]] | None = None) -> None:
        # Only digests are kept; comparing digests of equal length is constant-time.
        self._digests = [hashlib.sha256(t.encode()).digest() for t in tokens if t]
        self._stored = stored
        self._stored_cache: tuple[float, list[bytes]] = (0.0, [])
        self._refresh_lock = threading.Lock()

    @classmethod
    def from_setting(cls, value: str | None, stored: Callable[[], list[str]] | None = None) -> TokenAuth:
        return cls([t.strip() for t in (value or "").split(",") if t.strip()], stored)

    @classmethod
    def for_engine(cls, engine: Any, value: str | None) -> TokenAuth:
        """The token sources of every front-end: ``value`` (NLQUERY_API_TOKENS) and the
        engine's catalog."""
        return cls.from_setting(value, stored=engine.active_token_digests)

    @property
    def enabled(self) -> bool:
        """Is any token configured (environment or catalog) right now?"""
        return bool(self._digests) or bool(self._stored_digests())

    def stale(self) -> bool:
        return self._stored is not None and self._stored_cache[0] < time.monotonic()

    def refresh(self) -> None:
        """Read the catalog's digests if the cached copy is older than the TTL (blocking:
        call it from a thread, or through :meth:`refresh_async`)."""
        if self._stored is None:
            return
        with self._refresh_lock:  # one reader at a time; the others find it fresh
            if self.stale():
                digests = [bytes.fromhex(d) for d in self._stored()]
                self._stored_cache = (time.monotonic() + STORED_TOKENS_TTL_S, digests)

    async def refresh_async(self) -> None:
        """:meth:`refresh` without blocking the event loop (the catalog is a database)."""
        if self.stale():
            await anyio.to_thread.run_sync(self.refresh)

    def _stored_digests(self) -> list[bytes]:
        if self.stale():
            self.refresh()
        return self._stored_cache[1]

    async def authenticate(self, authorization: str | None) -> str | None:
        """For async callers: the catalog is read in a thread (when the cached copy is
        stale), then :meth:`subject` on that copy; None when no token is configured."""
        await self.refresh_async()
        known = self._digests + self._stored_cache[1]
        if not known:
            return None
        return self._subject(authorization, known)

    def subject(self, authorization: str | None) -> str:
        """The caller's rate-limit identity (a token digest prefix); Unauthorized if the
        header is missing or the token unknown."""
        return self._subject(authorization, self._digests + self._stored_digests())

    @staticmethod
    def _subject(authorization: str | None, known: list[bytes]) -> str:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("a bearer token is required: Authorization: Bearer <token>")
        digest = hashlib.sha256(authorization[7:].strip().encode()).digest()
        matched = False
        for candidate in known:  # no early exit: timing reveals nothing
            matched |= hmac.compare_digest(digest, candidate)
        if not matched:
            raise Unauthorized("the bearer token is not valid")
        return digest.hex()[:16]


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
