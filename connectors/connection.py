"""The connection settings a connector accepts, as one pydantic model per connector.

Every connector declares a subclass of :class:`ConnectionModel` in its own module
(``connection_model = PostgreSQLConnection``); nlquery validates what users send with
it, so a third-party connector with structured settings registers without editing
nlquery. A model knows four things about its settings:

- which **options** it accepts, and which of them a *remote* caller (a token holder
  over HTTP or MCP) may set: options that read local files, run code at connect time or
  undo the read-only hardening are refused from them (:meth:`ConnectionModel.check_remote`);
- which **secrets** it holds besides ``password`` (a URL's userinfo, ``password``-like
  options and URL parameters, REST headers and key-like parameters): they move out of
  the stored settings into the encrypted secret (:meth:`ConnectionModel.split_secrets`);
- where it **goes** (:attr:`ConnectionModel.destination_fields`, :meth:`destinations`):
  a secret stays bound to its destination and egress rules apply to these hosts;
- which **local files** it opens (:meth:`local_files`), made absolute at registration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["ConnectionModel", "NLQUERY_OPTIONS", "SECRET_NAME", "deep_merge", "is_secret_name"]

Scalar = str | int | float | bool

SECRET_NAME = re.compile(
    r"(pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
    r"credential|auth|signature|session)", re.IGNORECASE)
"""Option, parameter and header names whose values are secrets."""

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A host is a DNS name or an IP literal: nothing a driver could read as more settings
# (libpq's "host=a user=b", ODBC's "SERVER=a;UID=b") and no list of hosts.
HOST_PATTERN = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.:-]+)$")
NO_CONTROL = re.compile(r"^[^\x00-\x1f;{}]*$")


# nlquery's own options, never passed to a driver: taken from anyone (a remote caller's
# are clamped: a result cap may only be lowered, a pool no larger than the default).
NLQUERY_OPTIONS = frozenset({"max_result_bytes", "pool_size"})
# Options every connector takes from anyone: the password itself and nlquery's own.
_ALWAYS_ACCEPTED = frozenset({"password"}) | NLQUERY_OPTIONS


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, dictionaries key by key."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class ConnectionModel(BaseModel):
    """Settings common to connectors reached by host or URL; subclasses narrow them.

    Class attributes a connector overrides:

    ``remote_options``
        option names a remote caller may set (anything else is refused, named);
    ``destination_fields``
        fields that say where the connection goes; changing one drops the stored secret.
    """

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=4096)
    host: str | None = Field(default=None, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)
    database: str | None = Field(default=None, max_length=1024)
    username: str | None = Field(default=None, max_length=255)
    password: SecretStr | None = None
    password_env: str | None = None
    options: dict[str, Scalar] = Field(default_factory=dict)

    remote_options: ClassVar[frozenset[str]] = frozenset()
    destination_fields: ClassVar[tuple[str, ...]] = ("url", "host", "port", "database", "username",
                                                     "options.hostaddr")
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)
    """Top-level fields held only in the encrypted secret."""
    url_fields: ClassVar[tuple[str, ...]] = ()
    """URL fields besides ``url`` (a REST ``base_url``) whose userinfo password and
    secret-like query parameters are secrets; they go back into that URL when joined."""

    @field_validator("options")
    @classmethod
    def _pool_size(cls, options: dict[str, Scalar]) -> dict[str, Scalar]:
        value = options.get("pool_size")
        if value is not None and (isinstance(value, bool) or not str(value).isdigit() or int(value) < 1):
            raise ValueError(f"pool_size must be a whole number of connections (at least 1), got {value!r}")
        return options

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.match(value):
            raise ValueError("must be the name of an environment variable, e.g. SALES_DB_PASSWORD")
        return value

    @model_validator(mode="after")
    def _complete(self) -> ConnectionModel:
        if self.password is not None and self.password_env:
            raise ValueError("give password or password_env, not both")
        self.require()
        return self

    def require(self) -> None:
        """Raise ValueError when a setting the connector needs is missing."""
        if not (self.url or self.host or self.database):
            raise ValueError("give a url, or host/database")

    # -- what the settings say -------------------------------------------------------
    def url_params(self) -> dict[str, str]:
        if not self.url or "?" not in self.url:
            return {}
        try:
            return dict(parse_qsl(urlsplit(self.url).query))
        except ValueError:
            return {}

    def url_host(self) -> tuple[str | None, int | None]:
        if not self.url:
            return None, None
        try:
            parts = urlsplit(self.url)
            return parts.hostname, parts.port
        except ValueError as exc:
            raise ValueError(f"malformed URL: {exc}") from None

    def destinations(self) -> list[tuple[str, int | None]]:
        """The network hosts (and ports) this connection reaches."""
        found: list[tuple[str, int | None]] = []
        url_host, url_port = self.url_host()
        # No host is the driver's default, this machine (a Unix socket or localhost): the
        # egress policy judges it like any host.
        host = self.host or url_host or "localhost"
        found.append((host, self.port or url_port))
        hostaddr = self.options.get("hostaddr")
        if hostaddr:
            found.append((str(hostaddr), self.port or url_port))
        return found

    def local_files(self) -> list[str]:
        """Local files this connection opens (file databases)."""
        return []

    def destination(self) -> dict[str, Any]:
        """The values of :attr:`destination_fields`, to tell whether a change moves the connection."""
        data = self.model_dump(exclude_none=True)
        found: dict[str, Any] = {}
        for name in self.destination_fields:
            head, _, rest = name.partition(".")
            value = data.get(head)
            if rest and isinstance(value, dict):
                value = value.get(rest)
            elif rest:
                value = None
            if (name == "url" or name in self.url_fields) and isinstance(value, str):
                value = _split_url_secrets(value)[0]  # the place, not the secrets in it
            found[name] = value
        return found

    # -- checks for callers who are not the operator -------------------------------
    def accepted_remote_options(self) -> frozenset[str]:
        """The options and URL parameters a remote caller may set (``remote_options``;
        a connector whose accepted set depends on the settings overrides this)."""
        return self.remote_options

    def check_remote(self) -> None:
        """Raise ValueError naming the first setting a remote caller may not use."""
        if self.password_env:
            raise ValueError("password_env: reading the server's environment is allowed from the CLI and "
                             "Python API only; send the password itself")
        accepted = self.accepted_remote_options()
        for source, names in (("options", self.options), ("url", self.url_params())):
            refused = sorted(set(names) - accepted - _ALWAYS_ACCEPTED)
            if refused:
                allowed = ", ".join(sorted(accepted)) or "none"
                raise ValueError(f"{source}: option {refused[0]!r} is not accepted from a remote caller "
                                 f"(accepted: {allowed})")
        for host, _ in self.destinations():
            if not HOST_PATTERN.match(host):
                raise ValueError(f"host: {host!r} is not a host name or IP address")
        for name in ("database", "username"):
            value = getattr(self, name)
            if value is not None and not NO_CONTROL.match(value):
                raise ValueError(f"{name}: control characters, ';', '{{' and '}}' are not allowed")

    # -- secrets -----------------------------------------------------------------------
    def split_secrets(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(public, secret)``: the settings safe to store and show, and every secret
        (``password``, a URL's userinfo password and secret-like query parameters,
        secret-like options), as dictionaries; ``deep_merge(public, secret)`` restores them."""
        data = self.model_dump(exclude_none=True)
        secret: dict[str, Any] = {}
        for name in self.secret_fields:
            if name in data:
                value = data.pop(name)
                secret[name] = _reveal(value)
        if self.url:
            url, password, params = _split_url_secrets(self.url)
            data["url"] = url
            if password is not None and "password" not in secret:
                secret["password"] = password
            if params:
                secret["url_params"] = params
        for name in self.url_fields:
            if isinstance(data.get(name), str):
                data[name], password, params = _split_url_secrets(data[name])
                parts = {k: v for k, v in (("password", password), ("params", params)) if v}
                if parts:
                    secret.setdefault("url_secrets", {})[name] = parts
        options = data.get("options") or {}
        hidden = {k: v for k, v in options.items() if is_secret_name(k)}
        if hidden:
            data["options"] = {k: v for k, v in options.items() if k not in hidden}
            secret["options"] = hidden
        self._split_more(data, secret)
        return {k: v for k, v in data.items() if v not in ({}, [])}, secret

    def _split_more(self, public: dict[str, Any], secret: dict[str, Any]) -> None:
        """Subclasses move their own secret-bearing settings from ``public`` to ``secret``."""

    @classmethod
    def join_secrets(cls, public: Mapping[str, Any], secret: Mapping[str, Any]) -> dict[str, Any]:
        """The full settings from what :meth:`split_secrets` returned."""
        secret = dict(secret)
        params = secret.pop("url_params", None)
        url_secrets = secret.pop("url_secrets", {})
        data = deep_merge(public, secret)
        if params and data.get("url"):
            data["url"] = _with_params(data["url"], params)
        for name, parts in url_secrets.items():
            if data.get(name):
                data[name] = _with_params(_with_password(data[name], parts.get("password")), parts.get("params") or {})
        return data

    # -- registration --------------------------------------------------------------
    def absolute(self, base: Path) -> ConnectionModel:
        """The same settings with relative local paths made absolute against ``base``."""
        return self


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    return value


def _without_userinfo_password(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.split(':', 1)[0]}@{host}"))


def _split_url_secrets(url: str) -> tuple[str, str | None, dict[str, str]]:
    """``(url without secrets, userinfo password, secret query parameters)``."""
    try:
        parts = urlsplit(url)
        password = unquote(parts.password) if parts.password is not None else None
    except ValueError:
        return url, None, {}
    stripped = _without_userinfo_password(url)
    if not parts.query:
        return stripped, password, {}
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    secret = {k: v for k, v in pairs if is_secret_name(k)}
    if not secret:
        return stripped, password, {}
    kept = urlencode([(k, v) for k, v in pairs if k not in secret], quote_via=quote)
    return urlunsplit(urlsplit(stripped)._replace(query=kept)), password, secret


def _with_password(url: str, password: str | None) -> str:
    if not password:
        return url
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.split(':', 1)[0]}:{quote(password, safe='')}@{host}"))


def _with_params(url: str, params: Mapping[str, str]) -> str:
    if not params:
        return url
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(pairs, quote_via=quote)))


class FileConnectionModel(ConnectionModel):
    """A database in a local file (``database`` is its path)."""

    destination_fields: ClassVar[tuple[str, ...]] = ("url", "database")

    def require(self) -> None:
        if not (self.database or self.url):
            raise ValueError("the database file path is required, e.g. {\"database\": \"/data/shop.db\"}")

    def path(self) -> str | None:
        if self.database:
            return self.database
        if self.url:
            path = unquote(urlsplit(self.url).path)
            return path[1:] if path.startswith("/") else path or None
        return None

    def destinations(self) -> list[tuple[str, int | None]]:
        return []

    def local_files(self) -> list[str]:
        path = self.path()
        return [path] if path and path != ":memory:" else []

    def absolute(self, base: Path) -> FileConnectionModel:
        path = self.path()
        if not path or path == ":memory:" or Path(path).expanduser().is_absolute():
            return self
        resolved = str((base / Path(path).expanduser()).resolve())
        return self.model_copy(update={"database": resolved, "url": None})
