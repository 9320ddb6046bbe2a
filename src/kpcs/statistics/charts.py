"""Charts drawn on the server: small pure functions returning inline SVG, no JavaScript, no library.

Each chart is an image for assistive technology (`role="img"`, `<title>`, `<desc>`) with labelled axes and
its values written on it; pages put a data table beside it for screen readers and for copying the figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

Number = Decimal | float | int

# Three series colours with at least 3:1 contrast against white (WCAG non-text contrast), told apart by pattern
# too: the second series is hatched, the third dotted, so the chart reads in grey scale.
COLOURS = ("#16324f", "#b35900", "#126b2f")
# Small enough that its text stays legible when a phone scales it to the width of its screen.
WIDTH, HEIGHT = 480, 270
LEFT, RIGHT, TOP, BOTTOM = 58, 10, 34, 56


class Series(NamedTuple):
    label: str
    values: Sequence[Number | None]  # one per category; None where there is no figure


def compact(value: Number) -> str:
    """1234567 → 1.2M, 45300 → 45.3k, 12.5 → 12.5: short labels for axes and bars."""
    v = float(value)
    for size, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= size:
            text = f"{v / size:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return f"{v:.2f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above value (the top of the axis)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)  # pragma: no cover


def _frame(title: str, description: str, top: float, unit: str, ident: str) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="{WIDTH * 4 // 3}" height="{HEIGHT * 4 // 3}" role="img" '
             f'aria-labelledby="{ident}-t {ident}-d" class="chart-svg">',
             f'<title id="{ident}-t">{escape(title)}</title>', f'<desc id="{ident}-d">{escape(description)}</desc>',
             '<defs><pattern id="' + ident + '-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
             'patternTransform="rotate(45)"><rect width="6" height="6" fill="' + COLOURS[1] + '"/>'
             '<line x1="0" y1="0" x2="0" y2="6" stroke="#fff" stroke-width="2"/></pattern>'
             '<pattern id="' + ident + '-dots" width="5" height="5" patternUnits="userSpaceOnUse">'
             '<rect width="5" height="5" fill="' + COLOURS[2] + '"/><circle cx="2.5" cy="2.5" r="1" fill="#fff"/>'
             '</pattern></defs>',
             f'<text x="8" y="17" font-size="14" font-weight="600" fill="#1d2433">{escape(title)}</text>',
             f'<text x="12" y="{TOP + plot_h / 2}" font-size="13" fill="#4a5568" text-anchor="middle" '
             f'transform="rotate(-90 12 {TOP + plot_h / 2})">{escape(unit)}</text>']
    for i in range(5):  # horizontal grid lines with the axis values
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#d5dbe5"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="13" fill="#4a5568" '
                     f'text-anchor="end">{escape(compact(value))}</text>')
    parts.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
                 'stroke="#4a5568"/>')
    return parts


def _fill(ident: str, i: int) -> str:
    return (COLOURS[0], f"url(#{ident}-hatch)", f"url(#{ident}-dots)")[i % 3]


def _legend(series: Sequence[Series], ident: str, line: bool = False) -> list[str]:
    if len(series) < 2:
        return []
    parts, x = [], LEFT
    for i, s in enumerate(series):
        if line:
            parts.append(f'<line x1="{x}" y1="{HEIGHT - 10}" x2="{x + 14}" y2="{HEIGHT - 10}" '
                         f'stroke="{COLOURS[i % 3]}" stroke-width="3"{_dash(i)}/>')
        else:
            parts.append(f'<rect x="{x}" y="{HEIGHT - 17}" width="14" height="12" fill="{_fill(ident, i)}"/>')
        parts.append(f'<text x="{x + 19}" y="{HEIGHT - 6}" font-size="13" fill="#1d2433">{escape(s.label)}</text>')
        x += 32 + 8 * len(s.label)
    return parts


def _dash(i: int) -> str:
    return ("", ' stroke-dasharray="8 4"', ' stroke-dasharray="2 3"')[i % 3]


def _top(series: Sequence[Series]) -> float:
    values = [float(v) for s in series for v in s.values if v is not None]
    return nice_max(max(values, default=0.0))


def bar_chart(title: str, description: str, categories: Sequence[str], series: Sequence[Series], unit: str,
              ident: str = "chart") -> SafeString:
    """Grouped vertical bars: one group per category (a year, a period, a partner), one bar per series; each
    bar carries its value. An empty chart (no figures) says so."""
    top = _top(series)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(title, description, top, unit, ident)
    n = max(len(categories), 1)
    group = plot_w / n
    bar = max(min(group * 0.8 / max(len(series), 1), 48.0), 2.0)
    small = bar < 36  # too narrow for its value written above it: the value stays in the table (and tooltip)
    for c, category in enumerate(categories):
        x0 = LEFT + group * c + (group - bar * len(series)) / 2
        for i, s in enumerate(series):
            value = s.values[c] if c < len(s.values) else None
            if value is None:
                continue
            h = plot_h * float(value) / top
            x, y = x0 + bar * i, TOP + plot_h - h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" '
                         f'fill="{_fill(ident, i)}"><title>{escape(s.label)} {escape(category)}: '
                         f'{escape(compact(value))}</title></rect>')
            if not small:
                parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" font-size="12" fill="#1d2433" '
                             f'text-anchor="middle">{escape(compact(value))}</text>')
        step = max(1, -(-n // 8))  # at most 8 category labels
        if c % step == 0:
            parts.append(f'<text x="{LEFT + group * c + group / 2:.1f}" y="{TOP + plot_h + 16}" font-size="13" '
                         f'fill="#1d2433" text-anchor="middle">{escape(category)}</text>')
    if not any(v is not None for s in series for v in s.values):
        parts.append(f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" font-size="13" fill="#4a5568" '
                     'text-anchor="middle">–</text>')
    parts += _legend(series, ident)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def line_chart(title: str, description: str, categories: Sequence[str], series: Sequence[Series], unit: str,
               ident: str = "chart") -> SafeString:
    """Lines over categories (years or periods), a marker and its value at each point; a gap where a value
    is missing."""
    top = _top(series)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(title, description, top, unit, ident)
    n = max(len(categories), 1)
    step_x = plot_w / n
    crowded = step_x < 40
    for c, category in enumerate(categories):
        if c % max(1, -(-n // 8)) == 0:
            parts.append(f'<text x="{LEFT + step_x * c + step_x / 2:.1f}" y="{TOP + plot_h + 16}" font-size="13" '
                         f'fill="#1d2433" text-anchor="middle">{escape(category)}</text>')
    for i, s in enumerate(series):
        colour = COLOURS[i % 3]
        runs: list[list[tuple[float, float]]] = [[]]
        for c, value in enumerate(s.values[:n]):
            if value is None:
                runs.append([])
                continue
            x, y = LEFT + step_x * c + step_x / 2, TOP + plot_h - plot_h * float(value) / top
            runs[-1].append((x, y))
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"><title>{escape(s.label)} '
                         f'{escape(categories[c])}: {escape(compact(value))}</title></circle>')
            if not crowded:
                parts.append(f'<text x="{x:.1f}" y="{y - 7:.1f}" font-size="12" fill="#1d2433" '
                             f'text-anchor="middle">{escape(compact(value))}</text>')
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5"'
                             f'{_dash(i)}/>')
    parts += _legend(series, ident, line=True)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def price(usd: Number | None, carats: Number | None) -> Decimal | None:
    """US$ per carat, to the cent; None without both figures or with no carats."""
    if usd is None or carats is None or Decimal(str(carats)) == 0:
        return None
    return (Decimal(str(usd)) / Decimal(str(carats))).quantize(Decimal("0.01"))
