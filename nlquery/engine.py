"""The :class:`Engine`: the one object services embed.

Every query takes the same path, whoever sent it: the read-only guard
(:func:`nlquery.guard.validate_sql`, row cap included), ``$n`` placeholders bound
through the AST, then the connector's read-only session. Connector errors become
:class:`nlquery.errors.NLQueryError` here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import connectors
from connectors.base import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_S, ProgressCallback
from nlquery.errors import InvalidRequest, connector_errors
from nlquery.guard import Policy, SafeQuery, validate_sql

__all__ = ["Engine"]


class Engine:
    """Runs guarded, parameterized, read-only queries and introspects sources.

    >>> engine = Engine()
    >>> db = engine.connect("sqlite", database="shop.db")                    # doctest: +SKIP
    >>> engine.query(db, "SELECT name FROM customers WHERE id = $1", [1])    # doctest: +SKIP
    """

    def __init__(self, *, max_rows: int = DEFAULT_MAX_ROWS, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.max_rows = max_rows
        self.timeout_s = timeout_s
        self._open: list[connectors.Connector] = []

    def connect(self, type: str | None = None, url: str | None = None, **connection: Any) -> connectors.Connector:
        """A connector for a source given by type and/or URL and connection fields.
        It connects lazily; the Engine closes it on :meth:`close`."""
        with connector_errors():
            connector = connectors.connect(type, url, **connection)
        self._open.append(connector)
        return connector

    def validate(
        self,
        source: connectors.Connector,
        sql: str,
        *,
        max_rows: int | None = None,
        policy: Policy | None = None,
        schema: connectors.Schema | None = None,
    ) -> SafeQuery:
        """The guard's verdict on ``sql`` for ``source``'s dialect, without running it."""
        cap = self.max_rows if max_rows is None else max_rows
        # One row past the cap lets the connector tell that the result was truncated.
        return validate_sql(sql, source.dialect, policy=policy, schema=schema, max_rows=cap + 1)

    def query(
        self,
        source: connectors.Connector,
        sql: str,
        params: Sequence[Any] | None = None,
        *,
        max_rows: int | None = None,
        timeout_s: float | None = None,
        policy: Policy | None = None,
        schema: connectors.Schema | None = None,
    ) -> connectors.QueryResult:
        """Validate ``sql`` read-only, bind ``$1, $2 ...`` to ``params`` and run it.

        With ``schema``, every table and column must exist in it; ``policy`` hides
        tables and columns (see :class:`nlquery.guard.Policy`). Returns at most
        ``max_rows`` rows (``truncated`` says whether more existed). Raises
        :class:`~nlquery.errors.NLQueryError` subclasses only.
        """
        cap = self.max_rows if max_rows is None else max_rows
        if cap < 0:
            raise InvalidRequest("max_rows must be >= 0")
        if params is not None and (isinstance(params, (str, bytes)) or not isinstance(params, Sequence)):
            raise InvalidRequest("parameters must be a list of values")
        safe = self.validate(source, sql, max_rows=cap, policy=policy, schema=schema)
        driver_sql, ordered = safe.bind(params or [], source.paramstyle)
        with connector_errors():
            return source.execute(
                driver_sql, ordered, max_rows=cap,
                timeout_s=self.timeout_s if timeout_s is None else timeout_s,
            )

    def introspect(
        self,
        source: connectors.Connector,
        *,
        schemas: Sequence[str] | None = None,
        progress: ProgressCallback | None = None,
    ) -> connectors.Schema:
        """The source's schema, read in a constant number of catalog queries."""
        with connector_errors():
            return source.introspect(schemas=schemas, progress=progress)

    def close(self) -> None:
        """Close every connection this Engine opened."""
        while self._open:
            self._open.pop().close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
