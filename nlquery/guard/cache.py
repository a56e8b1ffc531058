"""A bounded cache of validated statements: a service that sends the same parameterized
statement a million times parses it once.

The key is everything the verdict depends on: the SQL text, the dialect and the
connector's dialect facts (a frozen, hashable value), the exposure
:class:`~nlquery.guard.Policy` (a frozen, hashable value: a changed policy is another
key), the schema's identity and ``max_rows``. A schema is identified by a version the
caller gives (``schema_version``) or else by the object itself: a refresh makes a new
snapshot, hence a new schema object, hence a miss. Entries hold only a weak reference to
their schema, so a dropped schema's entries simply stop matching (and an id reused by a
new object can never match an old entry). Only accepted statements are kept: a rejected
one is validated again each time (its error may depend on nothing cacheable, and
rejections are not the hot path). A hit costs a dict lookup under a lock.

:class:`~nlquery.guard.SafeQuery` is immutable (binding renders a new string), so one
verdict is safely shared by threads.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any

from connectors.base import DialectFacts
from connectors.models import Schema
from nlquery.guard.exposure import Policy
from nlquery.guard.validator import SafeQuery, validate_sql

__all__ = ["StatementCache", "cached_validate", "statement_cache"]

DEFAULT_SIZE = 2048
_NO_SCHEMA = object()


class StatementCache:
    """LRU of :class:`SafeQuery` verdicts, at most ``maxsize`` entries."""

    def __init__(self, maxsize: int = DEFAULT_SIZE) -> None:
        if maxsize < 0:
            raise ValueError("maxsize must be >= 0")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Any, tuple[SafeQuery, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def validate(self, sql: str, dialect: str, *, policy: Policy | None = None, schema: Schema | None = None,
                 max_rows: int | None = None, schema_version: Any = None,
                 facts: DialectFacts | None = None) -> SafeQuery:
        """:func:`~nlquery.guard.validate_sql`, answered from the cache when the same
        statement was accepted under the same dialect, facts, policy, schema and cap."""
        if schema is None:
            identity: Any = _NO_SCHEMA
        elif schema_version is not None:
            identity = ("version", schema_version)
        else:
            # Identity, plus the table count: a table added in place is a miss too.
            identity = ("object", id(schema), len(schema.tables))
        key = (sql, dialect, facts, policy, identity, max_rows)
        try:
            hash(key)
        except TypeError:  # an unhashable policy (a caller's own subclass): no caching
            return validate_sql(sql, dialect, policy=policy, schema=schema, max_rows=max_rows, facts=facts)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and (entry[1] is None or entry[1]() is schema):
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[0]
            self.misses += 1
        safe = validate_sql(sql, dialect, policy=policy, schema=schema, max_rows=max_rows, facts=facts)
        if self.maxsize:
            ref = weakref.ref(schema) if schema is not None and schema_version is None else None
            with self._lock:
                self._entries[key] = (safe, ref)
                self._entries.move_to_end(key)
                while len(self._entries) > self.maxsize:
                    self._entries.popitem(last=False)
        return safe

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


statement_cache = StatementCache()
"""The process-wide cache the Engine uses."""


def cached_validate(sql: str, dialect: str, *, policy: Policy | None = None, schema: Schema | None = None,
                    max_rows: int | None = None, schema_version: Any = None,
                    facts: DialectFacts | None = None) -> SafeQuery:
    """:meth:`StatementCache.validate` on the process-wide :data:`statement_cache`."""
    return statement_cache.validate(sql, dialect, policy=policy, schema=schema, max_rows=max_rows,
                                    schema_version=schema_version, facts=facts)
