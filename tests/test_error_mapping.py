"""Every connector error class maps to a specific nlquery error by class, keeping its code."""

from __future__ import annotations

import importlib

import pytest

import connectors
from nlquery import errors

CONNECTOR_MODULES = ["connectors.errors", "connectors.egress", "connectors.rest_api", "connectors.mongodb",
                     "connectors.sqlalchemy", "connectors.postgresql", "connectors.mysql", "connectors.mssql",
                     "connectors.sqlite"]


def _all_connector_errors() -> list[type[connectors.ConnectorError]]:
    for name in CONNECTOR_MODULES:
        importlib.import_module(name)
    found, pending = set(), [connectors.ConnectorError]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub not in found:
                found.add(sub)
                pending.append(sub)
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


@pytest.mark.parametrize("error_class", _all_connector_errors(), ids=lambda c: c.__qualname__)
def test_each_connector_error_maps_to_the_nlquery_error_with_its_code(error_class):
    mapped = errors.from_connector_error(error_class("boom"))
    assert isinstance(mapped, errors.NLQueryError)
    assert mapped.code == error_class.code, f"{error_class.__qualname__} -> {type(mapped).__name__}"
    assert mapped.message == "boom"
    if error_class.code != "query_execution_failed":
        assert type(mapped) is not errors.QueryExecutionFailed


def test_a_missing_driver_is_one_error_with_its_install_line():
    mapped = errors.from_connector_error(connectors.DriverNotInstalled("pip install 'nlquery[postgresql]'"))
    assert mapped.code == "driver_not_installed" and isinstance(mapped, errors.DataSourceDisconnected)


def test_driver_messages_become_one_line_without_losing_the_reason():
    from connectors.errors import QueryExecutionFailed, map_driver_errors

    message = ('connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused\n'
               '\tIs the server running on that host and accepting TCP/IP connections?')
    with pytest.raises(QueryExecutionFailed) as raised:
        with map_driver_errors(lambda exc: QueryExecutionFailed):
            raise RuntimeError(message)
    assert "\n" not in raised.value.message and "Connection refused" in raised.value.message
