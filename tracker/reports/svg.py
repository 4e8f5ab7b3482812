"""Server-side SVG for a report's Chart: no scripts, no external fonts, no client library.

The drawing scales with its container (viewBox, width 100%), and its text stays at least 12 units high
(14 for labels), readable on a 10-inch tablet. Every piece of text is escaped. Values that are None are
skipped (no bar; a line breaks there). A chart with no values says so instead of drawing empty axes.
"""
from __future__ import annotations

import math

from markupsafe import Markup, escape

from . import Chart

WIDTH, HEIGHT = 960, 380
LEFT, RIGHT, TOP, BOTTOM = 72, 20, 48, 56
FONT = 14  # about 12.7 px on a 1024 px wide tablet, where the drawing is shown at ~90 %
MIN_LABEL_SPACING = 64  # px between shown axis labels; more labels than fit are thinned
# Dark enough for 3:1 against white (graphical objects, WCAG 1.4.11), and told apart by more than hue:
# lines also differ by dash pattern.
COLOURS = ("#1d4ed8", "#b45309", "#047857", "#7e22ce", "#be123c", "#0e7490", "#4b5563", "#a16207")
DASHES = ("", "8 4", "2 4", "12 4 2 4", "4 4", "", "8 4", "2 4")


def _num(x: float) -> str:
    """Coordinates with at most two decimals."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}".rstrip("0").rstrip(".")


def nice_scale(vmax: float, ticks: int = 5) -> tuple[float, float]:
    """(top of the axis, step between gridlines): a 1-2-5 step giving about `ticks` gridlines."""
    if vmax <= 0:
        return 1.0, 0.25 if ticks >= 4 else 0.5
    raw = vmax / ticks
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return step * math.ceil(vmax / step - 1e-9), step


def label_step(n_labels: int, plot_width: float) -> int:
    """Show every k-th axis label so shown labels are at least MIN_LABEL_SPACING apart."""
    fit = max(1, int(plot_width // MIN_LABEL_SPACING))
    return max(1, math.ceil(n_labels / fit))


def render(chart: Chart, *, width: int = WIDTH, height: int = HEIGHT) -> Markup:
    title = escape(chart.title)
    unit = escape(chart.unit)
    values = [v for s in chart.series for v in s.values if v is not None]
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{escape(chart.kind)}" '
            f'viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{title}" '
            f'font-family="system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif" font-size="{FONT}">'
            f'<title>{title}</title>')
    if not chart.labels or not values:
        return Markup(head + f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f9fafb" stroke="#d1d5db"/>'
                      f'<text x="{width / 2:g}" y="{height / 2:g}" text-anchor="middle" font-size="18" fill="#374151">'
                      "No data in this period</text></svg>")

    parts = [head]
    legend, legend_rows = _legend(chart, width)
    top_margin = TOP + 22 * (legend_rows - 1)
    plot_w, plot_h = width - LEFT - RIGHT, height - top_margin - BOTTOM
    top, step = nice_scale(max(max(values), 0))
    base_y = top_margin + plot_h

    def y_of(v: float) -> float:
        return base_y - max(v, 0) / top * plot_h

    # Value gridlines and their labels, then the unit along the value axis.
    n_ticks = round(top / step)
    for i in range(n_ticks + 1):
        v = step * i
        y = y_of(v)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{_num(y)}" y2="{_num(y)}" '
                     f'stroke="{"#6b7280" if i == 0 else "#d1d5db"}" stroke-width="1"/>')
        parts.append(f'<text class="tick" x="{LEFT - 8}" y="{_num(y + 4)}" text-anchor="end" fill="#374151">'
                     f'{escape(_fmt(v))}</text>')
    if unit:
        parts.append(f'<text class="unit" x="16" y="{_num(top_margin + plot_h / 2)}" text-anchor="middle" fill="#374151" '
                     f'transform="rotate(-90 16 {_num(top_margin + plot_h / 2)})">{unit}</text>')

    n = len(chart.labels)
    slot = plot_w / n
    every = label_step(n, plot_w)
    for i, label in enumerate(chart.labels):
        if i % every:
            continue
        x = LEFT + slot * (i + 0.5)
        parts.append(f'<text class="label" x="{_num(x)}" y="{_num(base_y + 20)}" text-anchor="middle" '
                     f'fill="#111827">{escape(label)}</text>')

    if chart.kind == "bar":
        parts.extend(_bars(chart, slot, y_of, base_y))
    else:
        parts.extend(_lines(chart, slot, y_of))
    parts.extend(legend)
    parts.append("</svg>")
    return Markup("".join(parts))


def _tip(chart: Chart, label: str, series: str, v: float) -> str:
    unit = f" {chart.unit}" if chart.unit else ""
    return f"<title>{escape(label)} · {escape(series)}: {escape(_fmt(v))}{escape(unit)}</title>"


def _bars(chart: Chart, slot: float, y_of, base_y: float) -> list[str]:
    out = []
    k = max(1, len(chart.series))
    bar_w = slot * 0.8 / k
    for s_i, series in enumerate(chart.series):
        colour = COLOURS[s_i % len(COLOURS)]
        for i, v in enumerate(series.values):
            if v is None or i >= len(chart.labels):
                continue
            x = LEFT + slot * i + slot * 0.1 + bar_w * s_i
            y = y_of(v)
            out.append(f'<rect class="bar" data-series="{s_i}" data-index="{i}" x="{_num(x)}" y="{_num(y)}" '
                       f'width="{_num(bar_w)}" height="{_num(base_y - y)}" fill="{colour}">'
                       f'{_tip(chart, chart.labels[i], series.name, v)}</rect>')
    return out


def _lines(chart: Chart, slot: float, y_of) -> list[str]:
    out = []
    for s_i, series in enumerate(chart.series):
        colour, dash = COLOURS[s_i % len(COLOURS)], DASHES[s_i % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        run: list[str] = []
        points = []
        for i, v in enumerate(list(series.values)[:len(chart.labels)] + [None]):
            if v is None:  # a gap: the line breaks here
                if len(run) > 1:
                    out.append(f'<polyline class="line" data-series="{s_i}" fill="none" stroke="{colour}" '
                               f'stroke-width="2.5"{dash_attr} points="{" ".join(run)}"/>')
                run = []
                continue
            x, y = LEFT + slot * (i + 0.5), y_of(v)
            run.append(f"{_num(x)},{_num(y)}")
            points.append(f'<circle class="point" data-series="{s_i}" cx="{_num(x)}" cy="{_num(y)}" r="3.5" '
                          f'fill="{colour}">{_tip(chart, chart.labels[i], series.name, v)}</circle>')
        out.extend(points)
    return out


def _legend(chart: Chart, width: int) -> tuple[list[str], int]:
    """The series' names with their swatches, wrapped onto as many rows as they need."""
    out, x, row = [], LEFT, 0
    for s_i, series in enumerate(chart.series):
        item_w = 28 + 8.5 * len(series.name) + 24  # a generous estimate of the text's width at 14 px
        if x > LEFT and x + item_w > width - RIGHT:
            x, row = LEFT, row + 1
        y = 22 + 22 * row
        colour = COLOURS[s_i % len(COLOURS)]
        if chart.kind == "bar":
            out.append(f'<rect x="{x}" y="{y - 8}" width="16" height="16" fill="{colour}"/>')
        else:
            dash = DASHES[s_i % len(DASHES)]
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<line x1="{x}" x2="{x + 22}" y1="{y}" y2="{y}" stroke="{colour}" stroke-width="3"{dash_attr}/>')
        out.append(f'<text class="legend" x="{x + 28}" y="{y + 5}" fill="#111827">{escape(series.name)}</text>')
        x += item_w
    return out, row + 1
