"""nlquery.chart: the chart is chosen from the result's shape, deterministically, and drawn
as SVG without running anything the result (or an LLM) supplied."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from nlquery import chart

SVG = "{http://www.w3.org/2000/svg}"


def marks(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    return [e for e in root.iter() if e.get("class") == "mark"]


def kind(spec):
    return spec["mark"]["type"]


def test_time_and_number_is_a_line():
    columns, rows = ["month", "total"], [["2026-01", 10.5], ["2026-02", 12], ["2026-03", 9]]
    spec = chart.infer(columns, rows)
    assert kind(spec) == "line"
    assert spec["encoding"]["x"] == {"field": "month", "type": "temporal"}
    assert spec["encoding"]["y"] == {"field": "total", "type": "quantitative"}
    assert spec["data"] == {"name": "result"}
    assert spec["$schema"].endswith("vega-lite/v5.json")
    svg = chart.render_svg(spec, columns, rows)
    found = marks(svg)
    assert [m.tag for m in found] == [f"{SVG}path"]
    assert found[0].get("d").count("L") == 2  # three points joined
    assert "2026-01" in svg


def test_dates_datetimes_and_year_columns_are_time():
    assert chart.column_types(["d"], [["2026-11-25"], ["2026-11-26T10:00:00Z"], [None]]) == {"d": "temporal"}
    assert chart.column_types(["year", "n"], [[2024, 1], [2025, 2]]) == {"year": "temporal", "n": "quantitative"}
    # a number named like anything else is a number
    assert chart.column_types(["id"], [[2024], [2025]]) == {"id": "quantitative"}


def test_time_number_and_category_is_a_colored_line():
    columns = ["day", "status", "orders"]
    rows = [["2026-11-01", "paid", 3], ["2026-11-01", "shipped", 1], ["2026-11-02", "paid", 5],
            ["2026-11-02", "shipped", 2]]
    spec = chart.infer(columns, rows)
    assert kind(spec) == "line" and spec["encoding"]["color"] == {"field": "status", "type": "nominal"}
    assert len(marks(chart.render_svg(spec, columns, rows))) == 2  # one line per status


def test_category_and_number_is_a_bar_in_result_order():
    columns, rows = ["status", "count"], [["paid", 40], ["shipped", 30], ["cancelled", -2]]
    spec = chart.infer(columns, rows)
    assert kind(spec) == "bar"
    assert spec["encoding"]["x"] == {"field": "status", "type": "nominal", "sort": None}
    bars = marks(chart.render_svg(spec, columns, rows))
    assert len(bars) == 3 and all(b.tag == f"{SVG}rect" for b in bars)
    heights = [float(b.get("height")) for b in bars]
    assert heights[0] > heights[1] > heights[2] > 0


def test_numeric_strings_count_as_numbers():
    """Decimals too precise for a float reach the API as strings."""
    spec = chart.infer(["country", "revenue"], [["US", "12345678901234567.25"], ["GB", "10.5"]])
    assert kind(spec) == "bar" and spec["encoding"]["y"]["field"] == "revenue"


def test_two_numbers_is_a_scatter():
    columns, rows = ["price", "quantity"], [[1.5, 10], [2, 7], [3.25, 1]]
    spec = chart.infer(columns, rows)
    assert kind(spec) == "point"
    assert (spec["encoding"]["x"]["field"], spec["encoding"]["y"]["field"]) == ("price", "quantity")
    assert len(marks(chart.render_svg(spec, columns, rows))) == 3


def test_one_value_is_a_big_figure():
    spec = chart.infer(["count"], [[1234]])
    assert spec["mark"]["type"] == "text" and spec["encoding"]["text"]["field"] == "count"
    (figure,) = marks(chart.render_svg(spec, ["count"], [[1234]]))
    assert figure.text == "1,234"
    assert kind(chart.infer(["country", "n"], [["US", 3]])) == "text"


@pytest.mark.parametrize("columns,rows", [
    ([], []),
    (["n"], []),
    (["name", "email"], [["a", "a@x"], ["b", "b@x"]]),  # nothing to measure
    (["n"], [[1], [2], [3]]),  # several numbers, no labels
    (["n", "m"], [[None, None]]),
])
def test_shapes_without_a_chart(columns, rows):
    assert chart.infer(columns, rows) is None


def test_deterministic_and_json():
    columns, rows = ["month", "a", "b"], [["2026-01", 1, 2], ["2026-02", 3, 4]]
    first = chart.infer(columns, rows)
    assert first == chart.infer(columns, [list(r) for r in rows])
    assert json.loads(json.dumps(first)) == first


def test_build_switches_type_and_axes():
    types = {"a": "quantitative", "b": "quantitative", "c": "nominal"}
    assert kind(chart.build("bar", "c", "b", types)) == "bar"
    spec = chart.build("bar", "a", "b", types)
    assert spec["encoding"]["x"]["type"] == "ordinal"  # a bar's axis is discrete
    with pytest.raises(ValueError):
        chart.build("pie", "a", "b", types)


def test_with_values_inlines_the_rows():
    spec = chart.with_values(chart.infer(["c", "n"], [["x", 1], ["y", 2]]), ["c", "n"], [["x", 1], ["y", 2]])
    assert spec["data"] == {"values": [{"c": "x", "n": 1}, {"c": "y", "n": 2}]}


def test_labels_and_values_are_escaped_not_markup():
    columns, rows = ["name", "n"], [["<script>alert(1)</script>", 1], ["a&b\"", 2]]
    svg = chart.render_svg(chart.infer(columns, rows), columns, rows)
    assert "<script" not in svg
    assert "&lt;script&gt;" in svg
    assert len(marks(svg)) == 2


def test_nulls_and_single_points_do_not_break_rendering():
    columns, rows = ["month", "total"], [["2026-01", None], ["2026-02", 5]]
    svg = chart.render_svg(chart.infer(columns, rows), columns, rows)
    assert len(marks(svg)) == 1
    columns, rows = ["x", "y"], [[1, 1], [1, 1]]
    assert len(marks(chart.render_svg(chart.infer(columns, rows), columns, rows))) == 2
    assert not re.search(r"\b(nan|inf|infinity)\b", chart.render_svg(chart.infer(columns, rows), columns, rows), re.I)


def test_nice_ticks_cover_the_range():
    ticks = chart.nice_ticks(3, 97)
    assert ticks[0] <= 3 and ticks[-1] >= 97 and len(ticks) <= 8
    assert chart.nice_ticks(5, 5)[0] <= 5 <= chart.nice_ticks(5, 5)[-1]


def test_switching_a_category_axis_to_line_or_scatter_still_draws():
    columns, rows = ["status", "count"], [["paid", 3], ["shipped", 1], ["cancelled", 2]]
    types = chart.column_types(columns, rows)
    line = chart.render_svg(chart.build("line", "status", "count", types), columns, rows)
    assert len(marks(line)) == 1 and marks(line)[0].get("d").count("L") == 2
    assert "shipped" in line
    assert len(marks(chart.render_svg(chart.build("point", "status", "count", types), columns, rows))) == 3
