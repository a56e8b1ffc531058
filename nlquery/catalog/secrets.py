"""Credentials at rest: Fernet (AES-128-CBC + HMAC) with one key per installation.

The key comes from ``NLQUERY_SECRET_KEY`` (any string; a Fernet key is used as is,
anything else is stretched with SHA-256) or from ``$NLQUERY_HOME/secret.key``, created
on first use with mode 0600. A value encrypted with another key is refused with a
clear error, never returned as garbage.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from nlquery.errors import SecretKeyMismatch


class SecretBox:
    """Encrypts and decrypts short secrets (passwords, API tokens)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_environment(cls, home: Path) -> SecretBox:
        configured = os.environ.get("NLQUERY_SECRET_KEY")
        if configured:
            return cls(_as_fernet_key(configured))
        return cls(_key_file(home / "secret.key"))

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str, *, what: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretKeyMismatch(
                f"cannot decrypt {what}: it was stored with a different secret key "
                "(check NLQUERY_SECRET_KEY or $NLQUERY_HOME/secret.key)"
            ) from None


def _as_fernet_key(value: str) -> bytes:
    try:
        Fernet(value.encode("ascii"))
        return value.encode("ascii")
    except (ValueError, UnicodeEncodeError):
        return base64.urlsafe_b64encode(hashlib.sha256(value.encode("utf-8")).digest())


def _key_file(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # The key is written whole to a private file, then linked into place: link() fails if
    # the name exists, so two processes starting at once never write two different keys,
    # and one never reads a key file another has created but not yet written.
    partial = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        try:
            os.link(partial, path)
        except FileExistsError:
            return path.read_bytes().strip()
    finally:
        partial.unlink(missing_ok=True)
    return key
