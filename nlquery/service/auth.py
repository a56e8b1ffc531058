"""Bearer tokens: from ``NLQUERY_API_TOKENS`` (comma list) and tokens stored hashed in
the catalog (``nlquery tokens create``), compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from nlquery.errors import Unauthorized

STORED_TOKENS_TTL_S = 5.0  # a revoked token stops working within this time


class TokenAuth:
    def __init__(self, tokens: list[str], stored: Callable[[], list[str]] | None = None) -> None:
        # Only digests are kept; comparing digests of equal length is constant-time.
        self._digests = [hashlib.sha256(t.encode()).digest() for t in tokens if t]
        self._stored = stored
        self._stored_cache: tuple[float, list[bytes]] = (0.0, [])

    @classmethod
    def from_setting(cls, value: str | None, stored: Callable[[], list[str]] | None = None) -> TokenAuth:
        return cls([t.strip() for t in (value or "").split(",") if t.strip()], stored)

    @property
    def enabled(self) -> bool:
        return bool(self._digests) or bool(self._stored_digests())

    def _stored_digests(self) -> list[bytes]:
        if self._stored is None:
            return []
        expires, digests = self._stored_cache
        if expires < time.monotonic():
            digests = [bytes.fromhex(d) for d in self._stored()]
            self._stored_cache = (time.monotonic() + STORED_TOKENS_TTL_S, digests)
        return digests

    def subject(self, authorization: str | None) -> str:
        """The caller's rate-limit identity (a token digest prefix); Unauthorized if the
        header is missing or the token unknown."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("a bearer token is required: Authorization: Bearer <token>")
        digest = hashlib.sha256(authorization[7:].strip().encode()).digest()
        matched = False
        for known in self._digests + self._stored_digests():  # no early exit: timing reveals nothing
            matched |= hmac.compare_digest(digest, known)
        if not matched:
            raise Unauthorized("the bearer token is not valid")
        return digest.hex()[:16]
