"""nlquery: ask your databases questions, safely.

>>> from nlquery import Engine, validate_sql
>>> validate_sql("SELECT 1", dialect="postgres").sql
'SELECT 1'
"""

from nlquery.engine import Engine
from nlquery.errors import NLQueryError, UnsafeQueryError
from nlquery.guard import Policy, SafeQuery, validate_sql

__version__ = "0.1.0"
__all__ = ["Engine", "NLQueryError", "Policy", "SafeQuery", "UnsafeQueryError", "__version__", "validate_sql"]
