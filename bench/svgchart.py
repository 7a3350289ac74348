"""A dependency-free SVG strip chart for bench/driver.py: one panel per
measurement, one row per server, one dot per run on a log-scale axis, the
median as a bar with its value."""

import math
import statistics
from xml.sax.saxutils import escape

WIDTH = 860
LEFT = 150  # row labels
RIGHT = 30
ROW = 34
PANEL_TOP = 46  # title and gap above the rows
AXIS = 40  # tick labels below the rows
FLOOR = 0.1  # smallest value drawn (log scale); smaller values sit on it

COLORS = {
    "bare axum": "#7f7f7f",
    "bare, no http2": "#b5b5b5",
    "#[idle_server]": "#1f77b4",
}
SEED_COLOR = "#e6550d"


def color(label):
    return COLORS.get(label, SEED_COLOR)


def fmt(value):
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ticks(lo, hi):
    out = []
    exponent = math.floor(math.log10(lo))
    while 10**exponent <= hi * 1.0001:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if lo * 0.9999 <= value <= hi * 1.0001:
                out.append(value)
        exponent += 1
    return out


def tick_label(value):
    if value >= 1:
        return f"{value:g}"
    return f"{value:.1f}".rstrip("0") if value >= 0.1 else f"{value:g}"


def panel(svg, top, title, rows):
    values = [max(v, FLOOR) for _, vs in rows for v in vs]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    if hi <= lo:
        hi = lo * 10
    span = math.log10(hi) - math.log10(lo)
    plot_width = WIDTH - LEFT - RIGHT

    def x(value):
        return LEFT + (math.log10(max(value, FLOOR)) - math.log10(lo)) / span * plot_width

    height = PANEL_TOP + ROW * len(rows) + AXIS
    svg.append(
        f'<text x="{LEFT}" y="{top + 24}" font-size="15" font-weight="bold">{escape(title)}</text>'
    )
    rows_top = top + PANEL_TOP
    rows_bottom = rows_top + ROW * len(rows)
    for value in ticks(lo, hi):
        tx = x(value)
        major = abs(math.log10(value) - round(math.log10(value))) < 1e-9
        svg.append(
            f'<line x1="{tx:.1f}" y1="{rows_top}" x2="{tx:.1f}" y2="{rows_bottom}" '
            f'stroke="{"#cccccc" if major else "#eeeeee"}"/>'
        )
        svg.append(
            f'<text x="{tx:.1f}" y="{rows_bottom + 16}" font-size="11" text-anchor="middle" '
            f'fill="#555">{tick_label(value)}</text>'
        )
    svg.append(
        f'<text x="{LEFT + plot_width / 2:.0f}" y="{rows_bottom + 32}" font-size="11" '
        f'text-anchor="middle" fill="#555">milliseconds (values below {FLOOR:g} drawn at {FLOOR:g})</text>'
    )
    for index, (label, vs) in enumerate(rows):
        cy = rows_top + ROW * index + ROW / 2
        fill = color(label)
        svg.append(
            f'<text x="{LEFT - 10}" y="{cy + 4:.1f}" font-size="13" text-anchor="end">{escape(label)}</text>'
        )
        svg.append(
            f'<line x1="{LEFT}" y1="{cy:.1f}" x2="{WIDTH - RIGHT}" y2="{cy:.1f}" stroke="#f4f4f4"/>'
        )
        for i, value in enumerate(sorted(vs)):
            jitter = ((i * 7) % 9 - 4) * 2.0  # deterministic spread of overlapping dots
            svg.append(
                f'<circle cx="{x(value):.1f}" cy="{cy + jitter:.1f}" r="3.2" fill="{fill}" '
                f'fill-opacity="0.55"/>'
            )
        median = statistics.median(vs)
        mx = x(median)
        svg.append(
            f'<line x1="{mx:.1f}" y1="{cy - 12:.1f}" x2="{mx:.1f}" y2="{cy + 12:.1f}" '
            f'stroke="{fill}" stroke-width="2.5"/>'
        )
        anchor, dx = ("end", -6) if mx > WIDTH - RIGHT - 120 else ("start", 6)
        svg.append(
            f'<text x="{mx + dx:.1f}" y="{cy - 6:.1f}" font-size="11" text-anchor="{anchor}" '
            f'fill="{fill}">median {fmt(median)}</text>'
        )
    return height


def write(path, panels):
    """panels: [(title, [(row label, [values in ms])])]"""
    body = []
    top = 0
    for title, rows in panels:
        top += panel(body, top, title, rows) + 10
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{top}" '
        f'viewBox="0 0 {WIDTH} {top}" font-family="sans-serif">',
        f'<rect width="{WIDTH}" height="{top}" fill="white"/>',
        *body,
        "</svg>",
    ]
    with open(path, "w") as out:
        out.write("\n".join(svg) + "\n")
