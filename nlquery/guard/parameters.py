"""``$1, $2 ...`` placeholders: found in the AST, bound in the driver's style.

PostgreSQL parses ``$1`` as ``exp.Parameter``, DuckDB as a numbered ``exp.Placeholder``;
the other dialects read it as an
unquoted column called ``$1``, which no real column can be (a bare identifier cannot
start with ``$``; a quoted ``"$1"`` stays a column). Rendering replaces each
placeholder with a unique marker, so placeholders are found in the rendered text in
the order the driver will see them, and string literals are never touched.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from nlquery.errors import InvalidRequest

_DOLLAR = re.compile(r"^\$(\d+)$")
# Every marker has this shape (see _unused_marker): one pattern compiled once, and a match
# counts only when its marker is the template's own (a fresh pattern per statement cost a
# regex compile per validation and flushed ``re``'s cache).
_MARKERS = re.compile(r"(nlqparam[0-9a-f]{8}x)(\d+)_(\d+)")
DRIVER_PLACEHOLDERS = {"qmark": "?", "format": "%s", "numeric": ":{n}", "dollar": "${n}"}


def parameter_index(node: exp.Expression) -> int | None:
    """``n`` when ``node`` is the placeholder ``$n``, else None."""
    if isinstance(node, exp.Parameter):
        inner = node.this
        match = _DOLLAR.match(f"${inner.name}") if isinstance(inner, exp.Literal) and inner.is_int else None
    elif isinstance(node, exp.Placeholder) and str(node.this or "").isdigit():
        return int(node.this)
    elif (
        isinstance(node, exp.Column)
        and not node.table
        and isinstance(node.this, exp.Identifier)
        and not node.this.quoted
    ):
        match = _DOLLAR.match(node.this.name)
    else:
        return None
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Template:
    """Rendered SQL with one marker per placeholder occurrence."""

    text: str
    marker: str
    order: tuple[int, ...]  # $n of each occurrence, in text order

    @property
    def count(self) -> int:
        """How many parameters the statement takes: its highest ``$n``."""
        return max(self.order, default=0)

    def display(self) -> str:
        """The SQL with ``$n`` placeholders, for people."""
        marker = self.marker
        return _MARKERS.sub(lambda m: f"${m.group(3)}" if m.group(1) == marker else m.group(0), self.text)

    def bind(self, params: Sequence[Any], paramstyle: str) -> tuple[str, list[Any]]:
        if len(params) != self.count:
            raise InvalidRequest(
                f"the query uses {self.count} parameter(s) ($1..${self.count}) "
                f"but {len(params)} were given"
            )
        if paramstyle not in DRIVER_PLACEHOLDERS:
            raise InvalidRequest(f"unsupported parameter style {paramstyle!r}")
        placeholder = DRIVER_PLACEHOLDERS[paramstyle]
        text = self.text
        if paramstyle == "format" and params:
            text = text.replace("%", "%%")  # the driver %-formats the whole statement
        ordered: list[Any] = []
        marker = self.marker

        def substitute(match: re.Match[str]) -> str:
            if match.group(1) != marker:
                return match.group(0)
            ordered.append(params[int(match.group(3)) - 1])
            return placeholder.format(n=len(ordered))

        return _MARKERS.sub(substitute, text), ordered


def render_template(tree: exp.Expression, dialect: str, original: str,
                    placeholders: list[tuple[exp.Expression, int]] | None = None) -> Template:
    """Render ``tree`` (without comments) with markers in place of ``$n``.

    ``tree`` is consumed: its placeholders are replaced in place (copying a large
    tree would cost more than validating it). ``placeholders``: every ``(node, n)`` of
    ``tree`` when the caller already walked it (the guard's one pass), else found here.
    """
    marker = _unused_marker(original)
    if placeholders is None:
        placeholders = [(node, index) for node in tree.walk() if (index := parameter_index(node)) is not None]
    for occurrence, (node, index) in enumerate(placeholders):
        if index == 0:
            raise InvalidRequest("parameters are numbered from $1")
        node.replace(exp.Var(this=f"{marker}{occurrence}_{index}"))
    # copy=False: the generator would otherwise deep-copy the tree before rendering it.
    text = dialect_of(dialect).generate(tree, copy=False, comments=False)
    order = tuple(int(m.group(3)) for m in _MARKERS.finditer(text) if m.group(1) == marker)
    return Template(text=text, marker=marker, order=order)


@functools.lru_cache(maxsize=64)
def dialect_of(name: str) -> Dialect:
    """``Dialect.get_or_raise(name)``, built once per name (it makes a new instance per call)."""
    return Dialect.get_or_raise(name)


def _unused_marker(sql: str) -> str:
    while True:
        marker = f"nlqparam{secrets.token_hex(4)}x"
        if marker not in sql:
            return marker
