"""The read-only guard: every SQL statement nlquery runs passes :func:`validate_sql`.

* :mod:`nlquery.guard.validator`: parsing, read-only proof, row cap, :class:`SafeQuery`.
* :mod:`nlquery.guard.functions`: per-dialect deny and allow lists of functions.
* :mod:`nlquery.guard.exposure`: :class:`Policy` and resolving references to real columns.
* :mod:`nlquery.guard.parameters`: ``$n`` placeholders, bound in the driver's style.
"""

from nlquery.guard.exposure import Policy
from nlquery.guard.validator import DIALECTS, MAX_SQL_BYTES, SafeQuery, validate_sql

__all__ = ["DIALECTS", "MAX_SQL_BYTES", "Policy", "SafeQuery", "validate_sql"]
