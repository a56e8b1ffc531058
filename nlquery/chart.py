"""Charts without generated code: a Vega-Lite spec chosen from a result's shape, and a
small SVG renderer for it.

:func:`infer` is a pure function of a result's columns and rows (no LLM, no code
generation, nothing executed): time + number -> line, category + number -> bar, two
numbers -> scatter, one value -> big figure, anything else -> no chart. The spec refers to
the rows as the named data set ``result`` (``{"data": {"name": "result"}}``), so an
``/ask`` answer carries its rows once; :func:`with_values` inlines them for tools that want
a self-contained spec. The console draws the same spec in the browser;
:func:`render_svg` draws it here (``nlquery ask --chart out.svg``), and :func:`render_png`
through ``vl-convert-python`` when that optional package is installed.

The console's ``static/chart.js`` implements the same rules; a browser test compares them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

__all__ = ["MARKS", "build", "column_types", "infer", "render_png", "render_svg", "with_values"]

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
DATA_NAME = "result"
MARKS = ("line", "bar", "point", "text")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
# 2026, 2026-11, 2026-11-25, 2026-11-25T10:00[:00[.123]][Z|+01:00], also with a space.
_TEMPORAL = re.compile(r"^\d{4}-\d{2}(-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?)?$")
_TIME_NAME = re.compile(r"(^|_)(year|month|date|day|week|quarter|time|period)s?($|_)|_at$|_on$", re.I)
_SAMPLE = 200  # rows looked at to type a column


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    return isinstance(value, str) and bool(_NUMBER.match(value.strip()))


def _column_type(name: str, values: list[Any]) -> str | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, str) and _TEMPORAL.match(v) for v in present):
        return "temporal"
    if _TIME_NAME.search(name) and all(isinstance(v, int) and not isinstance(v, bool) and 1000 <= v <= 2999
                                       or isinstance(v, str) and re.fullmatch(r"\d{4}", v) for v in present):
        return "temporal"  # a year column
    if all(_is_number(v) for v in present):
        return "quantitative"
    return "nominal"


def column_types(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, str | None]:
    """Each column's Vega-Lite type from its values: temporal, quantitative, nominal, or
    None when every sampled value is null."""
    sample = rows[:_SAMPLE]
    return {name: _column_type(str(name), [row[i] for row in sample if i < len(row)])
            for i, name in enumerate(columns)}


def _field(name: str, kind: str) -> dict[str, Any]:
    return {"field": name, "type": kind}


def build(mark: str, x: str | None, y: str | None, types: dict[str, str | None], *,
          color: str | None = None) -> dict[str, Any]:
    """A spec for ``mark`` (line, bar, point, text) over fields ``x`` and ``y`` (``text``
    shows ``y``, a big figure): what :func:`infer` returns, and what the console builds when
    the user switches type or axes."""
    if mark not in MARKS:
        raise ValueError(f"mark must be one of {', '.join(MARKS)}")
    spec: dict[str, Any] = {"$schema": SCHEMA, "data": {"name": DATA_NAME}}
    if mark == "text":
        spec["mark"] = {"type": "text", "fontSize": 48}
        spec["encoding"] = {"text": _field(str(y), types.get(str(y)) or "quantitative")}
        return spec
    x_type = types.get(str(x)) or "nominal"
    if mark == "bar" and x_type == "quantitative":
        x_type = "ordinal"
    encoding: dict[str, Any] = {"x": _field(str(x), x_type), "y": _field(str(y), "quantitative")}
    if mark == "bar":
        encoding["x"]["sort"] = None  # the result's order (the SQL's ORDER BY)
    if color is not None:
        encoding["color"] = _field(color, "nominal")
    spec["mark"] = {"type": mark, "tooltip": True, **({"point": True} if mark == "line" else {})}
    spec["encoding"] = encoding
    return spec


def infer(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, Any] | None:
    """The chart for a result's shape, or None: deterministic, from the values alone.

    - one row, one value -> big figure (``text`` mark)
    - a time column and a number -> line (colored by a category when there is one)
    - a category and a number -> bar, in the result's order
    - two numbers -> scatter (``point`` mark)
    """
    if not columns or not rows:
        return None
    types = column_types(columns, rows)
    names = [str(c) for c in columns]
    numbers = [c for c in names if types[c] == "quantitative"]
    times = [c for c in names if types[c] == "temporal"]
    categories = [c for c in names if types[c] == "nominal"]
    if len(rows) == 1 and len(names) == 1 and types[names[0]] is not None:
        return build("text", None, names[0], types)
    if len(rows) == 1 and len(numbers) == 1 and not times:
        return build("text", None, numbers[0], types)
    if times and numbers:
        return build("line", times[0], numbers[0], types, color=categories[0] if categories else None)
    if categories and numbers:
        return build("bar", categories[0], numbers[0], types)
    if len(numbers) >= 2:
        return build("point", numbers[0], numbers[1], types)
    return None


def with_values(spec: dict[str, Any], columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """The spec with the rows inlined (``data.values``): self-contained Vega-Lite."""
    values = [{str(c): (row[i] if i < len(row) else None) for i, c in enumerate(columns)} for row in rows]
    return {**spec, "data": {"values": values}}


# -- rendering ---------------------------------------------------------------------------------
WIDTH, HEIGHT = 640, 360
_PAD = {"left": 64, "right": 32, "top": 16, "bottom": 56}
_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac",
           "#eeca3b")
_TEXT = 'font-family="system-ui, sans-serif" font-size="11" fill="#333"'


def _number(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    return None


def _timestamp(value: Any) -> float | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime(value, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "T")
    if re.fullmatch(r"\d{4}", text):
        text += "-01-01"
    elif re.fullmatch(r"\d{4}-\d{2}", text):
        text += "-01"
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high == low:
        high, low = (high + 1, low - 1) if high == 0 else (high + abs(high) * 0.5, low - abs(low) * 0.5)
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks, value = [], start
    while not ticks or ticks[-1] < high - step * 1e-9 or len(ticks) < 2:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _label(value: Any) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            value = int(value)
        else:
            return f"{value:,.6g}" if abs(value) >= 1e6 or abs(value) < 1e-3 else f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "null" if value is None else str(value)


def _short(text: str, limit: int = 14) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _svg(body: list[str], width: int, height: int, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title, {chr(34): "&quot;"})}">'
            f'<rect width="{width}" height="{height}" fill="#fff"/>' + "".join(body) + "</svg>\n")


def render_svg(spec: dict[str, Any], columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
               width: int = WIDTH, height: int = HEIGHT) -> str:
    """Draw ``spec`` (as returned by :func:`infer` or :func:`build`) over the rows as a
    standalone SVG document: axes, ticks, marks (``<rect class="mark">``, ``<path
    class="mark">``, ``<circle class="mark">`` or the big figure's ``<text class="mark">``)."""
    mark = spec["mark"]["type"] if isinstance(spec.get("mark"), dict) else spec.get("mark")
    encoding = spec.get("encoding", {})
    index = {str(c): i for i, c in enumerate(columns)}

    def cell(row: Sequence[Any], name: str | None) -> Any:
        i = index.get(str(name)) if name is not None else None
        return row[i] if i is not None and i < len(row) else None

    if mark == "text":
        name = encoding["text"]["field"]
        value = cell(rows[0], name) if rows else None
        number = _number(value)
        shown = _label(number if number is not None and not isinstance(value, str) else value)
        return _svg([f'<text class="mark" x="{width / 2}" y="{height / 2}" text-anchor="middle" '
                     f'dominant-baseline="middle" font-family="system-ui, sans-serif" font-size="48" '
                     f'font-weight="600" fill="#222">{escape(shown)}</text>',
                     f'<text x="{width / 2}" y="{height / 2 + 44}" text-anchor="middle" {_TEXT}>'
                     f'{escape(name)}</text>'], width, height, f"{name}: {shown}")
    x_enc, y_enc = encoding["x"], encoding["y"]
    x_name, y_name = x_enc["field"], y_enc["field"]
    color_name = encoding.get("color", {}).get("field")
    left, top = _PAD["left"], _PAD["top"]
    inner_w, inner_h = width - left - _PAD["right"], height - top - _PAD["bottom"]
    body: list[str] = []
    ys = [_number(cell(r, y_name)) for r in rows]
    finite = [v for v in ys if v is not None]
    if not finite:
        return _svg([f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" {_TEXT}>no numeric values'
                     f' in {escape(y_name)}</text>'], width, height, "empty chart")
    y_low, y_high = min(finite), max(finite)
    if mark == "bar":
        y_low, y_high = min(0.0, y_low), max(0.0, y_high)
    y_ticks = nice_ticks(y_low, y_high)
    y_min, y_max = min(y_ticks[0], y_low), max(y_ticks[-1], y_high)

    def y_pos(v: float) -> float:
        return top + inner_h - (v - y_min) / ((y_max - y_min) or 1) * inner_h

    for tick in y_ticks:
        y = y_pos(tick)
        body.append(f'<line x1="{left}" x2="{left + inner_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                    f'<text x="{left - 6}" y="{y:.1f}" text-anchor="end" dominant-baseline="middle" {_TEXT}>'
                    f'{escape(_label(float(tick)))}</text>')
    axis_y = top + inner_h
    body.append(f'<line x1="{left}" x2="{left + inner_w}" y1="{axis_y}" y2="{axis_y}" stroke="#888"/>'
                f'<line x1="{left}" x2="{left}" y1="{top}" y2="{axis_y}" stroke="#888"/>')
    body.append(f'<text x="{left + inner_w / 2}" y="{height - 8}" text-anchor="middle" {_TEXT}>'
                f'{escape(x_name)}</text><text transform="translate(12 {top + inner_h / 2}) rotate(-90)" '
                f'text-anchor="middle" {_TEXT}>{escape(y_name)}</text>')

    def x_label(x: float, text: str) -> None:
        body.append(f'<text x="{x:.1f}" y="{axis_y + 16}" text-anchor="middle" {_TEXT}>'
                    f'{escape(_short(text))}</text>')

    if mark == "bar":
        count = len(rows)
        band = inner_w / max(count, 1)
        every = max(1, math.ceil(count / max(1, inner_w // 60)))
        base = y_pos(0.0)
        for i, (row, value) in enumerate(zip(rows, ys)):
            label = _label(cell(row, x_name))
            x = left + i * band
            if value is not None:
                y = y_pos(value)
                body.append(f'<rect class="mark" x="{x + band * 0.1:.1f}" y="{min(y, base):.1f}" '
                            f'width="{max(band * 0.8, 0.5):.1f}" height="{abs(base - y):.1f}" fill="{_COLORS[0]}">'
                            f'<title>{escape(label)}: {escape(_label(value))}</title></rect>')
            if i % every == 0:
                x_label(x + band / 2, label)
        return _svg(body, width, height, f"bar chart of {y_name} by {x_name}")

    temporal = x_enc.get("type") == "temporal"
    discrete = not temporal and x_enc.get("type") != "quantitative"
    position = {k: i for i, k in enumerate(dict.fromkeys(_label(cell(r, x_name)) for r in rows))} if discrete else {}
    xs = [float(position[_label(cell(r, x_name))]) if discrete
          else _timestamp(cell(r, x_name)) if temporal else _number(cell(r, x_name)) for r in rows]
    points = [(x, y, r) for x, y, r in zip(xs, ys, rows) if x is not None and y is not None]
    if not points:
        return _svg([f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" {_TEXT}>no values'
                     f' to plot</text>'], width, height, "empty chart")
    x_lo, x_hi = min(p[0] for p in points), max(p[0] for p in points)
    if discrete:  # a point scale, in the result's order
        x_min, x_max = -0.5, len(position) - 0.5
    elif temporal:
        x_min, x_max = x_lo, x_hi if x_hi > x_lo else x_lo + 1
    else:
        x_ticks = nice_ticks(x_lo, x_hi)
        x_min, x_max = min(x_ticks[0], x_lo), max(x_ticks[-1], x_hi)

    def x_pos(v: float) -> float:
        return left + (v - x_min) / ((x_max - x_min) or 1) * inner_w

    if discrete:
        every = max(1, math.ceil(len(position) / max(1, inner_w // 60)))
        for text, i in list(position.items())[::every]:
            x_label(x_pos(i), text)
    elif temporal:  # labels: the values themselves, about six of them
        ordered = sorted(points, key=lambda p: p[0])
        distinct = list(dict.fromkeys((p[0], str(cell(p[2], x_name))) for p in ordered))
        step = max(1, math.ceil(len(distinct) / 6))
        for moment, text in distinct[::step]:
            x_label(x_pos(moment), text)
    else:
        for tick in x_ticks:
            x_label(x_pos(tick), _label(float(tick)))
    if mark == "line":
        groups: dict[Any, list[tuple[float, float]]] = {}
        for x, y, row in points:
            groups.setdefault(cell(row, color_name) if color_name else None, []).append((x, y))
        for n, (group, pts) in enumerate(groups.items()):
            pts.sort()
            color = _COLORS[n % len(_COLORS)]
            d = " ".join(f"{'M' if i == 0 else 'L'}{x_pos(x):.1f},{y_pos(y):.1f}" for i, (x, y) in enumerate(pts))
            body.append(f'<path class="mark" d="{d}" fill="none" stroke="{color}" stroke-width="2">'
                        f'<title>{escape(_label(group) if color_name else y_name)}</title></path>')
            body.extend(f'<circle cx="{x_pos(x):.1f}" cy="{y_pos(y):.1f}" r="3" fill="{color}"/>' for x, y in pts)
        if color_name:
            for n, group in enumerate(list(groups)[:10]):
                body.append(f'<rect x="{left + inner_w - 110}" y="{top + n * 16}" width="10" height="10" '
                            f'fill="{_COLORS[n % len(_COLORS)]}"/><text x="{left + inner_w - 96}" '
                            f'y="{top + n * 16 + 9}" {_TEXT}>{escape(_short(_label(group)))}</text>')
        return _svg(body, width, height, f"line chart of {y_name} over {x_name}")
    for x, y, row in points:
        body.append(f'<circle class="mark" cx="{x_pos(x):.1f}" cy="{y_pos(y):.1f}" r="4" fill="{_COLORS[0]}" '
                    f'fill-opacity="0.7"><title>{escape(_label(cell(row, x_name)))}, '
                    f'{escape(_label(y))}</title></circle>')
    return _svg(body, width, height, f"scatter plot of {y_name} against {x_name}")


def render_png(spec: dict[str, Any], columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """PNG through ``vl-convert-python`` (optional: ``pip install vl-convert-python``)."""
    try:
        import vl_convert
    except ImportError:
        raise RuntimeError("PNG charts need vl-convert-python: pip install vl-convert-python "
                           "(or write .svg)") from None
    return vl_convert.vegalite_to_png(with_values(spec, columns, rows))
