"""``$1, $2 ...`` placeholders: found in the AST, bound in the driver's style.

PostgreSQL parses ``$1`` as ``exp.Parameter``, DuckDB as a numbered ``exp.Placeholder``;
the other dialects read it as an
unquoted column called ``$1``, which no real column can be (a bare identifier cannot
start with ``$``; a quoted ``"$1"`` stays a column). Rendering replaces each
placeholder with a unique marker, so placeholders are found in the rendered text in
the order the driver will see them, and string literals are never touched.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from nlquery.errors import InvalidRequest

_DOLLAR = re.compile(r"^\$(\d+)$")
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
        return self._pattern().sub(lambda m: f"${m.group(2)}", self.text)

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

        def substitute(match: re.Match[str]) -> str:
            ordered.append(params[int(match.group(2)) - 1])
            return placeholder.format(n=len(ordered))

        return self._pattern().sub(substitute, text), ordered

    def _pattern(self) -> re.Pattern[str]:
        return re.compile(rf"{self.marker}(\d+)_(\d+)")


def render_template(tree: exp.Expression, dialect: str, original: str) -> Template:
    """Render ``tree`` (without comments) with markers in place of ``$n``.

    ``tree`` is consumed: its placeholders are replaced in place (copying a large
    tree would cost more than validating it).
    """
    marker = _unused_marker(original)
    found = [(node, parameter_index(node)) for node in tree.walk()]
    for occurrence, (node, index) in enumerate((n, i) for n, i in found if i is not None):
        if index == 0:
            raise InvalidRequest("parameters are numbered from $1")
        node.replace(exp.Var(this=f"{marker}{occurrence}_{index}"))
    # copy=False: the generator would otherwise deep-copy the tree before rendering it.
    text = Dialect.get_or_raise(dialect).generate(tree, copy=False, comments=False)
    order = tuple(int(m.group(2)) for m in re.finditer(rf"{marker}(\d+)_(\d+)", text))
    return Template(text=text, marker=marker, order=order)


def _unused_marker(sql: str) -> str:
    while True:
        marker = f"nlqparam{secrets.token_hex(4)}x"
        if marker not in sql:
            return marker
