"""Charts as inline SVG strings: a report that draws itself with no script and no network."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

FONT = 'font-family="sans-serif" font-size="12"'
_LABEL_W = 120  # horizontal bars: the label column
_BAR_W = 360
_ROW_H = 26
_COL_W = 80  # histogram columns
_PLOT_H = 160


def _frame(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def _empty(title: str) -> str:
    return _frame(
        _LABEL_W + _BAR_W,
        40,
        title,
        [f'<text x="8" y="24" {FONT} fill="#888">无数据</text>'],
    )


def bar_chart(
    title: str,
    rows: Sequence[tuple[str, float, str]],
    *,
    scale_max: float | None = None,
    marker: tuple[float, str] | None = None,
    color: str = "#3b82f6",
) -> str:
    """Horizontal bars: one ``(label, value, value shown)`` per row, scaled to ``scale_max``
    (default: the largest value); ``marker`` draws a dashed target line at a value."""
    if not rows:
        return _empty(title)
    top = scale_max or max(value for _, value, _ in rows) or 1.0
    height = _ROW_H * len(rows) + (24 if marker else 8)
    body = []
    for i, (label, value, shown) in enumerate(rows):
        y = 4 + i * _ROW_H
        length = max(0.0, min(value / top, 1.0)) * _BAR_W
        body += [
            f'<text x="{_LABEL_W - 8}" y="{y + 16}" text-anchor="end" {FONT}>'
            f"{escape(label)}</text>",
            f'<rect class="bar" x="{_LABEL_W}" y="{y + 3}" width="{length:.1f}" height="18" '
            f'rx="2" fill="{color}"><title>{escape(label)}：{escape(shown)}</title></rect>',
            f'<text x="{_LABEL_W + length + 6:.1f}" y="{y + 16}" {FONT}>{escape(shown)}</text>',
        ]
    if marker is not None:
        value, label = marker
        x = _LABEL_W + min(value / top, 1.0) * _BAR_W
        bottom = height - 20
        body += [
            f'<line class="marker" x1="{x:.1f}" y1="2" x2="{x:.1f}" y2="{bottom}" '
            'stroke="#dc2626" stroke-dasharray="4 3"/>',
            f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" {FONT} '
            f'fill="#dc2626">{escape(label)}</text>',
        ]
    return _frame(_LABEL_W + _BAR_W + 70, height, title, body)


def column_chart(
    title: str, columns: Sequence[tuple[str, int]], *, good: int, note: str = ""
) -> str:
    """Vertical columns (a histogram): the first ``good`` columns green, the rest orange."""
    if not any(count for _, count in columns):
        return _empty(title)
    top = max(count for _, count in columns)
    width = 16 + _COL_W * len(columns)
    body = []
    for i, (label, count) in enumerate(columns):
        x = 8 + i * _COL_W
        h = count / top * _PLOT_H
        y = 20 + _PLOT_H - h
        fill = "#16a34a" if i < good else "#f97316"
        body += [
            f'<rect class="bar" x="{x + 6}" y="{y:.1f}" width="{_COL_W - 12}" height="{h:.1f}" '
            f'fill="{fill}"><title>{escape(label)}：{count}</title></rect>',
            f'<text x="{x + _COL_W / 2}" y="{y - 4:.1f}" text-anchor="middle" {FONT}>'
            f"{count}</text>",
            f'<text x="{x + _COL_W / 2}" y="{_PLOT_H + 36}" text-anchor="middle" {FONT}>'
            f"{escape(label)}</text>",
        ]
    body.append(
        f'<line x1="8" y1="{_PLOT_H + 20}" x2="{width - 8}" y2="{_PLOT_H + 20}" stroke="#999"/>'
    )
    if note:
        body.append(f'<text x="8" y="{_PLOT_H + 58}" {FONT} fill="#555">{escape(note)}</text>')
    return _frame(width, _PLOT_H + 66, title, body)
