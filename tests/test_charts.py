"""The SVG chart engine: well-formed, accessible, escaped, CSP-safe, and drawn to scale.
Pure engine tests: no app, no database."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.engines.charts import (
    Series,
    bar_chart,
    format_number,
    line_chart,
    nice_ceiling,
    text_width,
)

SVG = "{http://www.w3.org/2000/svg}"
NASTY = "<script>alert('x')</script> & \"A\""


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (our own output, parsed to check it)


def texts(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{SVG}text")]


@pytest.mark.parametrize("draw", [bar_chart, line_chart])
def test_charts_are_named_images(draw):
    svg = draw("chart-a", "Sign-ups", "Per day; the table below has the numbers.",
               ["10/01", "10/02"], [Series("Sign-ups", [3, 5])])
    root = parse(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "chart-a-title chart-a-desc"
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and title.get("id") == "chart-a-title" and title.text == "Sign-ups"
    assert desc is not None and desc.get("id") == "chart-a-desc"
    assert list(root)[:2] == [title, desc]  # first, so that they name the image
    assert root.get("viewBox", "").startswith("0 0 ") and root.get("width") == "100%"


@pytest.mark.parametrize("draw", [bar_chart, line_chart])
def test_every_text_is_escaped_and_no_inline_style_is_used(draw):
    svg = draw("chart-x", NASTY, NASTY, [NASTY, "東京都"], [Series(NASTY, [1, 2]),
                                                              Series("確定", [2, 1])])
    assert "<script>" not in svg
    root = parse(svg)
    assert root.find(f"{SVG}title").text == NASTY
    assert any(NASTY in text for text in texts(root))
    assert "style=" not in svg and "<style" not in svg


def test_bars_are_drawn_to_scale():
    root = parse(bar_chart("b", "t", "d", ["A", "B", "C"], [Series("n", [10, 5, 0])]))
    widths = [float(rect.get("width")) for rect in root.iter(f"{SVG}rect")]
    assert widths[0] == pytest.approx(2 * widths[1], abs=0.2)
    assert widths[2] == 0
    assert texts(root)[-6:] == ["A", "10", "B", "5", "C", "0"]


def test_several_series_get_a_legend_and_a_value_on_every_bar():
    root = parse(bar_chart("b", "t", "d", ["東京都", "大阪府"],
                           [Series("申込", [4, 3]), Series("出席", [1, 1234])]))
    shown = texts(root)
    assert shown[:2] == ["申込", "出席"]  # the legend
    assert "1,234" in shown
    fills = {rect.get("fill") for rect in root.iter(f"{SVG}rect")}
    assert len(fills) == 2
    single = parse(bar_chart("c", "t", "d", ["A"], [Series("n", [1])]))
    assert texts(single) == ["A", "1"]  # one series: no legend


def test_long_labels_are_shortened_to_fit():
    label = "とても長い名前の分科会" * 5
    root = parse(bar_chart("b", "t", "d", [label], [Series("n", [1])], max_label_width=120))
    first = texts(root)[0]
    assert first.endswith("…") and len(first) < len(label)
    assert text_width(first) <= 120


def test_line_chart_points_and_an_integer_axis():
    root = parse(line_chart("l", "t", "d", ["1", "2", "3"], [Series("n", [0, 1, 3])]))
    points = root.find(f"{SVG}polyline").get("points").split()
    assert len(points) == 3
    ys = [float(point.split(",")[1]) for point in points]
    assert ys[0] > ys[1] > ys[2]  # higher values are drawn higher
    axis = [text for text in texts(root) if text.isdigit()]
    assert axis[:5] == ["0", "1", "2", "3", "4"]  # counts: no axis line at 0.75 people
    assert len(list(root.iter(f"{SVG}circle"))) == 3


def test_line_chart_thins_its_labels():
    labels = [f"d{n}" for n in range(100)]
    root = parse(line_chart("l", "t", "d", labels, [Series("n", list(range(100)))]))
    shown = [text for text in texts(root) if text.startswith("d")]
    assert shown[0] == "d0" and shown[-1] == "d99" and len(shown) <= 9
    assert list(root.iter(f"{SVG}circle")) == []  # too many points to mark


def test_empty_charts_are_still_valid():
    for draw in (bar_chart, line_chart):
        root = parse(draw("e", "t", "d", [], [Series("n", [])]))
        assert root.get("role") == "img"


@pytest.mark.parametrize(("chart_id", "labels", "values", "message"), [
    ("1bad", ["a"], [1], "not a valid XML id"),
    ("has space", ["a"], [1], "not a valid XML id"),
    ("ok", ["a", "b"], [1], "has 1 values for 2 labels"),
    ("ok", ["a"], [-1], "negative"),
    ("ok", ["a"], [float("inf")], "infinite"),
])
def test_bad_input_is_refused(chart_id, labels, values, message):
    with pytest.raises(ValueError, match=message):
        bar_chart(chart_id, "t", "d", labels, [Series("n", values)])
    with pytest.raises(ValueError, match="at least one series"):
        line_chart("ok", "t", "d", [], [])


@pytest.mark.parametrize(("value", "expected"), [
    (0, 1), (0.75, 1), (1, 1), (1.2, 2), (3, 5), (7, 10), (12, 20), (24, 25), (26, 50),
    (1000, 1000), (1001, 2000),
])
def test_nice_ceiling(value, expected):
    assert nice_ceiling(value) == expected


def test_format_number():
    assert [format_number(v) for v in (0, 1234, 12.5, 1_000_000.0)] == [
        "0", "1,234", "12.5", "1,000,000"]
