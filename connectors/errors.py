"""Errors raised by connectors, each carrying the stable ``code`` of DESIGN.md.

Connectors translate their driver's exceptions into these at one boundary
(:func:`map_driver_errors`), so no caller ever sees a driver exception and no
message carries a password. ``nlquery`` maps them onto its own hierarchy.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator


class ConnectorError(Exception):
    """Base of every error a connector raises; ``code`` is stable across releases."""

    code = "query_execution_failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DataSourceDisconnected(ConnectorError):
    """The source cannot be reached: host down, bad credentials, unknown database."""

    code = "data_source_disconnected"


class DriverNotInstalled(DataSourceDisconnected):
    """The connector's driver package is missing; the message names the pip extra."""

    code = "driver_not_installed"


class QueryExecutionFailed(ConnectorError):
    """The database rejected or failed the statement; the message is the database's."""

    code = "query_execution_failed"


class UnsupportedQuery(QueryExecutionFailed):
    """The SQL is valid but this source cannot answer it (a construct a translating
    connector, such as MongoDB's, has no equivalent for)."""

    code = "invalid_query"


class QueryTimeout(ConnectorError):
    """The statement ran past its timeout and was cancelled."""

    code = "query_timeout"


class ResultTooLarge(QueryExecutionFailed):
    """The rows read so far passed the result byte cap (``max_result_bytes``)."""

    code = "result_too_large"


class InvalidConnection(ConnectorError):
    """The connection settings are malformed (bad URL, missing database, ...)."""

    code = "invalid_request"


class EgressDenied(ConnectorError):
    """The destination is not allowed by the egress policy (loopback, link-local, cloud
    metadata, a denied network...); see :mod:`connectors.egress`."""

    code = "access_denied"


def one_line(message: str) -> str:
    """A driver's message as one line: its first meaningful line, the rest (libpq's
    ``Is the server running...`` hints, DETAIL/HINT lines, caret pictures) dropped."""
    for line in str(message).splitlines():
        line = line.strip()
        if line and not line.startswith(("^", "HINT:", "DETAIL:", "LINE ")):
            return line
    return ""


def scrub(message: str, secrets: Iterable[str | None]) -> str:
    """Remove secrets and URL passwords from ``message``."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    # user:password@host in any URL-like text the driver may echo back
    return re.sub(r"(//[^/:@\s]+):[^@\s/]+@", r"\1:***@", message)


@contextlib.contextmanager
def map_driver_errors(
    classify: Callable[[BaseException], type[ConnectorError] | None],
    secrets: Iterable[str | None] = (),
    describe: Callable[[BaseException], str] = str,
) -> Iterator[None]:
    """Translate driver exceptions into :class:`ConnectorError` subclasses.

    ``classify`` returns the error class for a driver exception, or ``None`` to let
    it propagate unchanged (programming errors in our own code stay visible).
    """
    try:
        yield
    except ConnectorError:
        raise
    except Exception as exc:
        error_class = classify(exc)
        if error_class is None:
            raise
        message = one_line(describe(exc)) or type(exc).__name__
        # "from None": the driver's exception may hold the DSN in its args.
        raise error_class(scrub(message, list(secrets))) from None
