"""Validation of what users send: source names, connection settings, source settings.

Connection settings are checked by the connector's own model
(:func:`connectors.connection_model`), one clear message per bad field
(``connection.port: Input should be a valid integer``). Settings sent by a remote caller
(HTTP, MCP) pass three more gates: the model's remote rules (no ``password_env``, no
option that reads local files), local files only inside ``NLQUERY_DATA_DIRS`` and never
the catalog's own files, and network destinations through the egress policy.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

import connectors
from connectors.connection import ConnectionModel
from nlquery.errors import AccessDenied, InvalidRequest, connector_errors

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")

ConnectionSettings = ConnectionModel  # the name earlier releases exported


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"connection.{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else f"connection: {e['msg']}"
        for e in exc.errors()
    ).replace("Value error, ", "")


def validate_connection(type_name: str, connection: Any, *, remote: bool = False,
                        protected: tuple[Path, ...] = ()) -> ConnectionModel:
    """The connection as the connector's model reads it, relative file paths made
    absolute. ``remote``: sent by a token holder, so the remote gates apply.
    ``protected``: the catalog's own files (database, WAL, key), which no source opens."""
    if type_name not in connectors.available():
        raise InvalidRequest(f"unknown source type {type_name!r}; available: {', '.join(connectors.available())}")
    if not isinstance(connection, dict):
        raise InvalidRequest("connection must be an object")
    with connector_errors():
        model_class = connectors.connection_model(type_name)
    try:
        settings = model_class.model_validate(connection)
        if remote:
            settings.check_remote()
        settings = settings.absolute(Path.cwd())
    except ValidationError as exc:
        raise InvalidRequest(_problems(exc)) from None
    except ValueError as exc:
        raise InvalidRequest(f"connection.{exc}" if ":" in str(exc).split(" ")[0] else f"connection: {exc}") from None
    for path in settings.local_files():
        _check_file(path, remote=remote, protected=protected)
    if remote:
        _check_egress(settings)
    return settings


def stored_connection(type_name: str, data: dict[str, Any]) -> ConnectionModel:
    """A stored connection, read back without the checks made when it was registered."""
    try:
        model_class = connectors.connection_model(type_name)
    except connectors.ConnectorError:
        model_class = ConnectionModel  # its connector is not installed any more
    try:
        return model_class.model_validate(data)
    except (ValidationError, ValueError):
        return model_class.model_construct(**data)


def data_dirs() -> list[Path]:
    """``NLQUERY_DATA_DIRS``: where file sources registered remotely may live."""
    raw = os.environ.get("NLQUERY_DATA_DIRS", "")
    return [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]


def _check_file(path: str, *, remote: bool, protected: tuple[Path, ...]) -> None:
    resolved = Path(path).expanduser().resolve()  # after symlinks: a link cannot lead out
    if resolved in protected:
        raise AccessDenied("a source cannot open the catalog's own files")
    if not remote:
        return
    allowed = data_dirs()
    if not allowed:
        raise AccessDenied("file sources cannot be registered over the API unless the operator lists their "
                           "directories in NLQUERY_DATA_DIRS")
    if not any(d == resolved or d in resolved.parents for d in allowed):
        raise AccessDenied(f"{path}: file sources must be inside NLQUERY_DATA_DIRS")
    if not resolved.is_file():
        raise InvalidRequest(f"{path}: no such database file (files are opened read-only, never created)")


def _check_egress(settings: ConnectionModel) -> None:
    from connectors.egress import EgressPolicy

    policy = EgressPolicy.from_environment(remote=True)
    if policy is None:
        return
    with connector_errors():
        for host, port in settings.destinations():
            policy.resolve(host, port)


def check_name(name: Any) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidRequest("name: 1-100 characters, letters, digits, '_', '-' or '.', starting with a "
                             "letter or digit")
    if name.lower().startswith("ds_"):  # ids look like that: a name must never pass for another's id
        raise InvalidRequest("name: may not start with 'ds_' (source ids do)")


_POLICY_KEYS = {"allowed_tables", "denied_tables", "denied_columns", "allowed_functions"}
_HINT_KEYS = {"enabled", "max_distinct", "exclude_columns"}


def check_settings(settings: dict[str, Any]) -> dict[str, Any]:
    unknown = set(settings) - {"policy", "value_hints", "remote"}
    if unknown:
        raise InvalidRequest(f"unknown source settings: {', '.join(sorted(unknown))}")
    for key, allowed in (("policy", _POLICY_KEYS), ("value_hints", _HINT_KEYS)):
        value = settings.get(key)
        if value is None:
            continue
        if not isinstance(value, dict) or set(value) - allowed:
            raise InvalidRequest(f"{key}: an object with keys {', '.join(sorted(allowed))}")
    return settings
