"""nlquery connectors: how to reach each kind of database and read its catalog.

This package never imports ``nlquery``; ``nlquery`` builds on it.

>>> import connectors
>>> db = connectors.connect("sqlite", database="shop.db")      # doctest: +SKIP
>>> db.introspect().tables                                     # doctest: +SKIP
"""

from connectors.base import (
    Capability,
    ConnectionConfig,
    Connector,
    DBAPIConnector,
    DialectFacts,
    dialect_facts,
    supports,
)
from connectors.connection import ConnectionModel
from connectors.errors import (
    ConnectorError,
    DataSourceDisconnected,
    DriverNotInstalled,
    InvalidConnection,
    QueryExecutionFailed,
    QueryTimeout,
)
from connectors.models import Column, ForeignKey, Index, QueryResult, Schema, Table, UniqueConstraint
from connectors.registry import available, connect, connection_model, register

__all__ = [
    "Capability",
    "Column",
    "ConnectionConfig",
    "ConnectionModel",
    "Connector",
    "ConnectorError",
    "DBAPIConnector",
    "DataSourceDisconnected",
    "DialectFacts",
    "DriverNotInstalled",
    "ForeignKey",
    "Index",
    "InvalidConnection",
    "QueryExecutionFailed",
    "QueryResult",
    "QueryTimeout",
    "Schema",
    "Table",
    "UniqueConstraint",
    "available",
    "connect",
    "connection_model",
    "dialect_facts",
    "register",
    "supports",
]
