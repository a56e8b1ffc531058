"""Connector-specific tests; some check the shared suite's own machinery."""

from tests.backends.markers import register


def pytest_configure(config):
    register(config)
