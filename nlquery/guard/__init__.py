"""The read-only guard: every SQL statement nlquery runs passes :func:`validate_sql`.

* :mod:`nlquery.guard.validator`: parsing, read-only proof, row cap, :class:`SafeQuery`.
* :mod:`nlquery.guard.functions`: per-dialect deny and allow lists of functions.
* :mod:`nlquery.guard.exposure`: :class:`Policy` and resolving references to real columns.
* :mod:`nlquery.guard.parameters`: ``$n`` placeholders, bound in the driver's style.
* :mod:`nlquery.guard.cache`: a bounded LRU of accepted statements (what the Engine uses).
"""

from nlquery.guard.exposure import Policy
from nlquery.guard.validator import DIALECTS, MAX_SQL_BYTES, SafeQuery, validate_sql
from nlquery.guard.cache import StatementCache, cached_validate, statement_cache

__all__ = ["DIALECTS", "MAX_SQL_BYTES", "Policy", "SafeQuery", "StatementCache", "cached_validate",
           "statement_cache", "validate_sql"]
