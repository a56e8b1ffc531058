"""Type name -> connector class.

Built-in connectors are named here by import path so that importing ``connectors``
never imports a driver. Third parties register theirs under the entry-point group
``nlquery.connectors`` (``mytype = "mypkg.connector:MyConnector"``).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from connectors.base import ConnectionConfig, Connector
from connectors.connection import ConnectionModel
from connectors.errors import InvalidConnection

ENTRY_POINT_GROUP = "nlquery.connectors"

BUILTIN: dict[str, str] = {
    "sqlite": "connectors.sqlite:SQLiteConnector",
    "postgresql": "connectors.postgresql:PostgreSQLConnector",
    "mysql": "connectors.mysql:MySQLConnector",
    "sqlalchemy": "connectors.sqlalchemy:SQLAlchemyConnector",
    "rest_api": "connectors.rest_api:RestAPIConnector",
    "mongodb": "connectors.mongodb:MongoDBConnector",
    "mssql": "connectors.mssql:MSSQLConnector",
}

# URL schemes people write, mapped to our type names.
SCHEME_ALIASES: dict[str, str] = {
    "postgres": "postgresql",
    "postgresql+psycopg": "postgresql",
    "mariadb": "mysql",
    "mysql+pymysql": "mysql",
    "mongodb+srv": "mongodb",
    "sqlserver": "mssql",
    "mssql+pyodbc": "mssql",
    # dialects only SQLAlchemy speaks
    "duckdb": "sqlalchemy",
    "snowflake": "sqlalchemy",
    "trino": "sqlalchemy",
    "oracle": "sqlalchemy",
    "oracle+oracledb": "sqlalchemy",
    "bigquery": "sqlalchemy",
    "databricks": "sqlalchemy",
}

_extra: dict[str, Any] = {}


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Every registered type name, built-in and from entry points, sorted."""
    return sorted({*BUILTIN, *_extra, *_entry_points()})


def register(type_name: str, connector_class: type) -> None:
    """Register a connector class at run time (tests, embedding applications)."""
    _extra[type_name] = connector_class


def connector_class(type_name: str) -> type:
    """The class registered for ``type_name``; :class:`InvalidConnection` if none."""
    type_name = SCHEME_ALIASES.get(type_name, type_name)
    if type_name in _extra:
        return _extra[type_name]
    if type_name in BUILTIN:
        module_name, _, class_name = BUILTIN[type_name].partition(":")
        return getattr(importlib.import_module(module_name), class_name)
    plugin = _entry_points().get(type_name)
    if plugin is not None:
        return plugin.load()
    raise InvalidConnection(
        f"unknown source type {type_name!r}; available: {', '.join(available())}"
    )


def type_from_url(url: str) -> str:
    """``postgres://...`` -> ``postgresql``."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme:
        raise InvalidConnection("connection URL needs a scheme, e.g. postgresql://host/db")
    return SCHEME_ALIASES.get(scheme, scheme)


def connect(type: str | None = None, url: str | None = None, **connection: Any) -> Connector:
    """Build a connector from a type and a URL and/or connection fields.

    The connection opens lazily, on the first query or introspection.
    """
    if type is None:
        if url is None:
            raise InvalidConnection("give a source type or a URL")
        type = type_from_url(url)
    cls = connector_class(type)
    return cls(ConnectionConfig.build(url, **connection))


def connection_model(type_name: str) -> type[ConnectionModel]:
    """The pydantic model of the settings ``type_name`` accepts (the base model for a
    connector that declares none)."""
    return getattr(connector_class(type_name), "connection_model", ConnectionModel)
