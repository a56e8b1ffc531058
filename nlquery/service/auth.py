"""Bearer tokens: from ``NLQUERY_API_TOKENS`` (comma list), compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

from nlquery.errors import Unauthorized


class TokenAuth:
    def __init__(self, tokens: list[str]) -> None:
        # Only digests are kept; comparing digests of equal length is constant-time.
        self._digests = [hashlib.sha256(t.encode()).digest() for t in tokens if t]

    @classmethod
    def from_setting(cls, value: str | None) -> TokenAuth:
        return cls([t.strip() for t in (value or "").split(",") if t.strip()])

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def subject(self, authorization: str | None) -> str:
        """The caller's rate-limit identity (a token digest prefix); Unauthorized if the
        header is missing or the token unknown."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("a bearer token is required: Authorization: Bearer <token>")
        digest = hashlib.sha256(authorization[7:].strip().encode()).digest()
        matched = False
        for known in self._digests:  # no early exit: timing does not reveal which token
            matched |= hmac.compare_digest(digest, known)
        if not matched:
            raise Unauthorized("the bearer token is not valid")
        return digest.hex()[:16]
