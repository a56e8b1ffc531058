"""Validation of what users send: source names, connection settings, source settings.

Each bad field gets its own clear message (``connection.port: Input should be a valid
integer``); a URL's password is moved out of the URL so it can be encrypted.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

import connectors
from nlquery.errors import InvalidRequest

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConnectionSettings(BaseModel):
    """A source's connection, validated with one clear message per bad field."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    host: str | None = Field(default=None, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)
    database: str | None = Field(default=None, max_length=1024)
    username: str | None = Field(default=None, max_length=255)
    password: SecretStr | None = None
    password_env: str | None = None
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    # rest_api sources: where the API lives, its auth headers (secrets, encrypted at rest
    # like passwords) and its endpoints (virtual tables; connectors.rest_api checks them)
    base_url: str | None = Field(default=None, max_length=2048)
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    endpoints: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.match(value):
            raise ValueError("must be the name of an environment variable, e.g. SALES_DB_PASSWORD")
        return value

    @model_validator(mode="after")
    def _one_password_source(self) -> ConnectionSettings:
        if self.password is not None and self.password_env:
            raise ValueError("give password or password_env, not both")
        if not (self.url or self.host or self.database or self.base_url):
            raise ValueError("give a url, or host/database (base_url for a REST API)")
        return self

    def public(self) -> dict[str, Any]:
        """What may be shown and stored in clear: everything but the password."""
        data = self.model_dump(exclude={"password", "headers"}, exclude_none=True)
        for key in ("options", "endpoints"):
            if not data.get(key):
                data.pop(key, None)
        return data

    def without_url_password(self) -> ConnectionSettings:
        """A URL's password moves to ``password`` (encrypted at rest like any other)."""
        if not self.url:
            return self
        parts = urlsplit(self.url)
        if parts.password is None:
            return self
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        url = urlunsplit(parts._replace(netloc=f"{user}@{netloc[1]}"))
        password = self.password or SecretStr(unquote(parts.password))
        return self.model_copy(update={"url": url, "password": password})


def validate_connection(type_name: str, connection: Any) -> ConnectionSettings:
    if type_name not in connectors.available():
        raise InvalidRequest(f"unknown source type {type_name!r}; available: {', '.join(connectors.available())}")
    if not isinstance(connection, dict):
        raise InvalidRequest("connection must be an object")
    try:
        settings = ConnectionSettings.model_validate(connection)
    except ValidationError as exc:
        problems = "; ".join(
            f"connection.{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else f"connection: {e['msg']}"
            for e in exc.errors()
        )
        raise InvalidRequest(problems.replace("Value error, ", "")) from None
    if type_name == "sqlite" and not (settings.database or settings.url):
        raise InvalidRequest("connection.database: a sqlite source needs the database file path")
    try:
        return settings.without_url_password()
    except ValueError as exc:
        raise InvalidRequest(f"connection.url: {exc}") from None



def check_name(name: Any) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidRequest("name: 1-100 characters, letters, digits, '_', '-' or '.', starting with a "
                             "letter or digit")


_POLICY_KEYS = {"allowed_tables", "denied_tables", "denied_columns", "allowed_functions"}
_HINT_KEYS = {"enabled", "max_distinct", "exclude_columns"}


def check_settings(settings: dict[str, Any]) -> dict[str, Any]:
    unknown = set(settings) - {"policy", "value_hints"}
    if unknown:
        raise InvalidRequest(f"unknown source settings: {', '.join(sorted(unknown))}")
    for key, allowed in (("policy", _POLICY_KEYS), ("value_hints", _HINT_KEYS)):
        value = settings.get(key)
        if value is None:
            continue
        if not isinstance(value, dict) or set(value) - allowed:
            raise InvalidRequest(f"{key}: an object with keys {', '.join(sorted(allowed))}")
    return settings
