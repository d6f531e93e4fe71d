"""Bar and line charts as SVG text, drawn on the server: no CDN, no JavaScript, no build step.

Each chart is one ``<svg role="img">`` named by its own ``<title>`` and ``<desc>``
(``aria-labelledby``), so a screen reader announces what it shows; the page puts the same
numbers in a table next to it, which is where the detail is read. Every text is escaped
here, so the result can be inserted into a page as it is.

Only SVG presentation attributes are used (``fill``, ``font-size`` …), never ``style``:
the site's Content-Security-Policy forbids inline styles. The drawing scales with its
container (``viewBox``, width 100 %) and prints crisply.

Colours are dark enough for 3:1 contrast against white (WCAG 1.4.11), and values are
written beside the bars, so colour is never the only way to tell series apart (1.4.1).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#0b5cad", "#a14a00", "#1e6b34", "#6a3d9a")
INK = "#1b1b1b"
GRID = "#8a8a8a"
FONT = "Hiragino Sans, Noto Sans JP, Yu Gothic, Meiryo, sans-serif"
FONT_SIZE = 13
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")

ValueFormat = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


def format_number(value: float) -> str:
    """1234 → "1,234"; 12.5 → "12.5"."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def text_width(text: str, font_size: float = FONT_SIZE) -> float:
    """Rough rendered width: full-width (CJK) characters are about one em, others half."""
    ems = sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.6 for ch in text)
    return ems * font_size


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `value`, for a readable axis."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next((step * magnitude for step in (1, 2, 2.5, 5) if value <= step * magnitude),
                10 * magnitude)


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _text(value: str) -> str:
    return escape(value, quote=False)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _fit(label: str, room: float) -> str:
    """Shorten a label to the room it has, marking the cut with an ellipsis."""
    if text_width(label) <= room:
        return label
    while label and text_width(label + "…") > room:
        label = label[:-1]
    return label + "…"


def _check(chart_id: str, labels: Sequence[str], series: Sequence[Series]) -> None:
    if not _ID.match(chart_id):
        raise ValueError(f"chart id {chart_id!r} is not a valid XML id")
    if not series:
        raise ValueError("a chart needs at least one series")
    for item in series:
        if len(item.values) != len(labels):
            raise ValueError(
                f"series {item.name!r} has {len(item.values)} values for {len(labels)} labels")
        if any(value < 0 or not math.isfinite(value) for value in item.values):
            raise ValueError(f"series {item.name!r} has a negative or infinite value")


def _open(chart_id: str, title: str, desc: str, width: float, height: float) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" font-family="{_attr(FONT)}" '
        f'font-size="{FONT_SIZE}" fill="{INK}">',
        f'<title id="{chart_id}-title">{_text(title)}</title>',
        f'<desc id="{chart_id}-desc">{_text(desc)}</desc>',
    ]


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    """One swatch and name per series, in a row; nothing for a single series."""
    if len(series) < 2:
        return []
    parts = []
    for index, item in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{_num(x)}" y="{_num(y - 10)}" width="12" height="12" '
                     f'fill="{colour}"/>')
        parts.append(f'<text x="{_num(x + 16)}" y="{_num(y)}">{_text(item.name)}</text>')
        x += 16 + text_width(item.name) + 20
    return parts


def bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    width: float = 640,
    value_format: ValueFormat = format_number,
    max_label_width: float = 220,
) -> str:
    """Horizontal bars, one group per label (long Japanese labels stay readable)."""
    _check(chart_id, labels, series)
    bar_height, bar_gap, group_gap = 16, 3, 12
    group_height = len(series) * bar_height + (len(series) - 1) * bar_gap
    legend_height = 24 if len(series) > 1 else 0
    top = 8 + legend_height
    label_width = min(max((text_width(label) for label in labels), default=0) + 8,
                      max_label_width)
    largest = max((value for item in series for value in item.values), default=0)
    value_room = text_width(value_format(largest)) + 8
    plot_left = label_width + 4
    plot_width = max(width - plot_left - value_room, 40)
    scale = plot_width / largest if largest > 0 else 0
    height = top + max(len(labels), 1) * (group_height + group_gap) + 4

    parts = _open(chart_id, title, desc, width, height)
    parts += _legend(series, plot_left, 18)
    parts.append(f'<line x1="{_num(plot_left)}" y1="{_num(top - 4)}" x2="{_num(plot_left)}" '
                 f'y2="{_num(height - 4)}" stroke="{GRID}" stroke-width="1"/>')
    for row, label in enumerate(labels):
        y = top + row * (group_height + group_gap)
        parts.append(f'<text x="{_num(label_width)}" y="{_num(y + group_height / 2 + 4)}" '
                     f'text-anchor="end">{_text(_fit(label, label_width - 4))}</text>')
        for index, item in enumerate(series):
            value = item.values[row]
            bar_y = y + index * (bar_height + bar_gap)
            length = value * scale
            shown = value_format(value)
            parts.append(
                f'<rect x="{_num(plot_left)}" y="{_num(bar_y)}" width="{_num(length)}" '
                f'height="{bar_height}" fill="{PALETTE[index % len(PALETTE)]}">'
                f'<title>{_text(f"{label} – {item.name}: {shown}")}</title></rect>')
            parts.append(f'<text x="{_num(plot_left + length + 4)}" '
                         f'y="{_num(bar_y + bar_height - 3)}">{_text(shown)}</text>')
    if not labels:
        parts.append(f'<text x="{_num(plot_left + 8)}" y="{_num(top + 16)}">–</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    width: float = 640,
    height: float = 260,
    value_format: ValueFormat = format_number,
    max_ticks: int = 8,
) -> str:
    """Lines over evenly spaced categories (days, months), with a zero-based value axis."""
    _check(chart_id, labels, series)
    legend_height = 24 if len(series) > 1 else 0
    top, bottom = 12 + legend_height, 36
    values = [value for item in series for value in item.values]
    steps = 4
    step = nice_ceiling(max(values, default=0) / steps)
    if all(float(value).is_integer() for value in values):
        step = max(step, 1)  # counts: no axis line at 1.25 people
    largest = step * steps
    axis_values = [step * number for number in range(steps + 1)]
    left = max(text_width(value_format(value)) for value in axis_values) + 10
    right = 16
    plot_width = width - left - right
    plot_height = height - top - bottom
    count = len(labels)

    def x_of(index: int) -> float:
        return left + (plot_width * index / (count - 1) if count > 1 else plot_width / 2)

    def y_of(value: float) -> float:
        return top + plot_height - plot_height * value / largest

    parts = _open(chart_id, title, desc, width, height)
    parts += _legend(series, left, 18)
    for value in axis_values:
        y = y_of(value)
        dashes = "" if value == 0 else ' stroke-dasharray="2 3"'  # the zero line is solid
        parts.append(f'<line x1="{_num(left)}" y1="{_num(y)}" x2="{_num(left + plot_width)}" '
                     f'y2="{_num(y)}" stroke="{GRID}" stroke-width="1"{dashes}/>')
        parts.append(f'<text x="{_num(left - 6)}" y="{_num(y + 4)}" text-anchor="end">'
                     f'{_text(value_format(value))}</text>')
    # At most `max_ticks` labels, always the first and the last, evenly spread between.
    stride = max(math.ceil(count / max_ticks), 1)
    ticks = sorted({*range(0, count, stride), count - 1}) if count else []
    for index in ticks:
        anchor = "start" if index == 0 and count > 1 else (
            "end" if index == count - 1 and count > 1 else "middle")
        parts.append(f'<text x="{_num(x_of(index))}" y="{_num(height - bottom + 20)}" '
                     f'text-anchor="{anchor}">{_text(labels[index])}</text>')
    for number, item in enumerate(series):
        colour = PALETTE[number % len(PALETTE)]
        points = " ".join(f"{_num(x_of(i))},{_num(y_of(v))}" for i, v in enumerate(item.values))
        if count > 1:
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                         f'stroke-width="2.5" stroke-linejoin="round"/>')
        # Points only where they stay apart; each carries its value for pointer users.
        if count <= 62:
            for index, value in enumerate(item.values):
                parts.append(
                    f'<circle cx="{_num(x_of(index))}" cy="{_num(y_of(value))}" r="3" '
                    f'fill="{colour}"><title>'
                    f'{_text(f"{labels[index]} – {item.name}: {value_format(value)}")}'
                    f'</title></circle>')
    if not labels:
        parts.append(f'<text x="{_num(left + 8)}" y="{_num(top + 16)}">–</text>')
    parts.append("</svg>")
    return "".join(parts)
