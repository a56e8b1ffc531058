"""Every error nlquery raises, each with a stable ``code`` and its HTTP status.

Codes are a public contract (DESIGN.md): add, never rename. Connector errors are
translated here, at one boundary (:func:`from_connector_error`), so callers of
``nlquery`` only ever see :class:`NLQueryError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import connectors
import connectors.errors


class NLQueryError(Exception):
    """Base class. ``code`` and ``http_status`` are stable; ``message`` is for people
    and never contains a password or a full DSN."""

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The API's error envelope body: ``{"code", "message"}``."""
        return {"code": self.code, "message": self.message}


# -- the caller's request -----------------------------------------------------------
class InvalidRequest(NLQueryError):
    """Malformed input: bad connection settings, parameter count mismatch, ..."""

    code, http_status = "invalid_request", 422


class DataSourceNotFound(NLQueryError):
    code, http_status = "data_source_not_found", 404


class Unauthorized(NLQueryError):
    code, http_status = "unauthorized", 401


class RateLimitExceeded(NLQueryError):
    code, http_status = "rate_limit_exceeded", 429


# -- the SQL ------------------------------------------------------------------------
class InvalidQuery(NLQueryError):
    """The SQL does not parse, or names tables/columns that do not exist."""

    code, http_status = "invalid_query", 400


class UnsafeQueryError(NLQueryError):
    """The SQL is not a pure read (DML, DDL, locking, side-effect functions...)."""

    code, http_status = "query_not_read_only", 400


class AccessDenied(NLQueryError):
    """The SQL touches a table or column the source's exposure policy hides."""

    code, http_status = "access_denied", 403


# -- the data source ----------------------------------------------------------------
class DataSourceDisconnected(NLQueryError):
    """The source cannot be reached (host down, bad credentials, missing driver)."""

    code, http_status = "data_source_disconnected", 400


class QueryExecutionFailed(NLQueryError):
    """The database rejected or failed the statement."""

    code, http_status = "query_execution_failed", 400


class QueryTimeout(NLQueryError):
    code, http_status = "query_timeout", 400


# -- questions and the LLM ----------------------------------------------------------
class QuestionNotAnswerable(NLQueryError):
    code, http_status = "question_not_answerable", 422


class LLMUnavailable(NLQueryError):
    code, http_status = "llm_unavailable", 503


class InternalError(NLQueryError):
    code, http_status = "internal_error", 500


class CatalogUnavailable(NLQueryError):
    """The catalog store cannot be opened or read (the message names the file/URL)."""

    code, http_status = "catalog_unavailable", 503


class SecretKeyMismatch(NLQueryError):
    """Stored credentials cannot be decrypted with the configured key."""

    code, http_status = "secret_key_mismatch", 500


class Conflict(InvalidRequest):
    """The request clashes with what exists (a source with that name already exists).
    A subclass of InvalidRequest, which callers caught before this class existed."""

    code, http_status = "conflict", 409


class ExecutionIdConflict(Conflict):
    """A tool call reused an ``execution_id`` with a different request."""

    code, http_status = "execution_id_conflict", 409


class ResultTooLarge(NLQueryError):
    """The result passed the byte cap (``max_result_bytes``) or a response ceiling."""

    code, http_status = "result_too_large", 413


class NotFound(NLQueryError):
    """No such route (HTTP)."""

    code, http_status = "not_found", 404


class MethodNotAllowed(NLQueryError):
    """The route exists but not with this method (HTTP)."""

    code, http_status = "method_not_allowed", 405


class DriverNotInstalled(DataSourceDisconnected):
    """The connector's driver (a pip extra) or a system library it loads is missing;
    the message has the install line."""

    code, http_status = "driver_not_installed", 400


# Connector error class -> nlquery error class, as httpx maps httpcore's exceptions: the
# most specific class in the error's MRO wins, so a connector's own subclass lands on
# the class its parent maps to, and a new connector error cannot silently become a
# generic failure by a typo in a code string.
_BY_CLASS: dict[type[connectors.ConnectorError], type[NLQueryError]] = {
    connectors.errors.DriverNotInstalled: DriverNotInstalled,
    connectors.errors.DataSourceDisconnected: DataSourceDisconnected,
    connectors.errors.ResultTooLarge: ResultTooLarge,
    connectors.errors.UnsupportedQuery: InvalidQuery,
    connectors.errors.QueryExecutionFailed: QueryExecutionFailed,
    connectors.errors.QueryTimeout: QueryTimeout,
    connectors.errors.InvalidConnection: InvalidRequest,
    connectors.errors.EgressDenied: AccessDenied,
    connectors.errors.ConnectorError: QueryExecutionFailed,
}


def from_connector_error(error: connectors.ConnectorError) -> NLQueryError:
    """The nlquery error for a connector error, by class; same message."""
    for cls in type(error).__mro__:
        target = _BY_CLASS.get(cls)
        if target is not None:
            return target(error.message)
    raise TypeError(f"not a connector error: {type(error).__name__}")  # pragma: no cover


@contextlib.contextmanager
def connector_errors() -> Iterator[None]:
    """Re-raise connector errors as :class:`NLQueryError` (the one translation boundary)."""
    try:
        yield
    except connectors.ConnectorError as exc:
        raise from_connector_error(exc) from None
