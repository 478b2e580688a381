"""Curves drawn with braille characters: a plot in the terminal, without any library.

Each character cell holds 2 x 4 dots (Unicode braille, U+2800), so an 80-column terminal gives a
canvas of about 140 x 64 dots. Lines are drawn dot by dot between consecutive points; a cell that
two curves cross takes the colour of the one drawn last. A group's mean is drawn over a band of
shaded cells (``░``, its mean ± one standard deviation).

The whole figure fits the lines it is given: the legend takes at most ``LEGEND_LINES`` lines,
entries side by side, and the canvas the rest. Curves are coloured by one parameter, the one
with the most values among those that differ (a seed only when nothing else differs), so the
seeds of one configuration share a colour; a line above the legend says which parameter that is
and what the legend could not list. Without colour (piped, ``NO_COLOR``) curves are told apart
by the legend only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from yanex.plotting.curves import Curve
from yanex.plotting.span import BIGGEST, at, fraction, widened
from yanex.store.metric_values import JsonValue
from yanex.terminal import printable

# Dot (column, row) of a cell -> its bit in the braille pattern.
_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
COLOURS = (36, 33, 35, 32, 31, 34, 96, 93, 95, 92, 91, 94)  # ANSI foreground codes
LABEL_WIDTH = 10  # the y axis' numbers, unless one is wider
LEGEND_LINES = 6  # at most, however many curves
MAX_ROWS = 30  # canvas rows on a tall terminal
MIN_ROWS = 5  # canvas rows kept however small the window
BAND = "░"
ROWS_UNSIZED = 16  # canvas rows when the window's height is unknown (piped)


def _number(value: float) -> str:
    return f"{value:.4g}"


def shown_value(value: JsonValue) -> str:
    """A parameter's value as run names show it (``yanex.display.format_value``)."""
    from yanex.display import format_value

    return format_value(value)


def _order(value: JsonValue) -> tuple[int, float, str]:
    """Numbers by value, then everything else by its text: a legend reads like an axis."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, shown_value(value))


def colour_key(curves: Sequence[Curve]) -> str | None:
    """The parameter that colours the curves, as in a plot file (``yanex.plotting.styles``): the
    one with the most values, a seed-like one only when nothing else differs; None when no
    parameter differs."""
    from yanex.plotting.styles import styling

    return styling(curves, list(dict.fromkeys(key for c in curves for key in c.params))).colour_key


@dataclass(frozen=True)
class Entry:
    """One legend entry: a colour (index into ``COLOURS``) and what it stands for."""

    colour: int
    text: str


@dataclass(frozen=True)
class Colouring:
    """Each curve's colour, the legend's entries in value order, and the summary line that says
    what colours mean and what the legend leaves out (None when every curve has its entry)."""

    colours: list[int]
    entries: list[Entry]
    summary: str | None


def _label(c: Curve) -> str:
    if not c.params:
        return printable(c.label)
    text = ", ".join(f"{key}={shown_value(value)}" for key, value in c.params.items())
    return printable(text + (f" (n={c.runs})" if c.spread is not None else ""))


def colouring(curves: Sequence[Curve]) -> Colouring:
    """Curves of one value of ``colour_key`` share a colour; past ``len(COLOURS)`` values,
    neighbouring values share one (the legend then names each colour's range)."""
    key = colour_key(curves)
    if key is None or len({shown_value(c.params.get(key)) for c in curves}) == len(curves):
        order = sorted(range(len(curves)), key=lambda n: [_order(v) for v in curves[n].params.values()])
        if key is not None:
            order.sort(key=lambda n: _order(curves[n].params.get(key)))
        colours = [0] * len(curves)
        for place, n in enumerate(order):
            colours[n] = place % len(COLOURS)
        entries = [Entry(colours[n], _label(curves[n])) for n in order]
        return Colouring(colours, entries, None)
    distinct = sorted(
        {shown_value(c.params.get(key)): c.params.get(key) for c in curves}.values(), key=_order
    )
    rank = {shown_value(value): n for n, value in enumerate(distinct)}
    bins = min(len(distinct), len(COLOURS))
    colours = [rank[shown_value(c.params.get(key))] * bins // len(distinct) for c in curves]
    entries = []
    for colour in range(bins):
        members = [v for v in distinct if rank[shown_value(v)] * bins // len(distinct) == colour]
        span = shown_value(members[0]) + ("…" + shown_value(members[-1]) if len(members) > 1 else "")
        entries.append(Entry(colour, printable(f"{key}={span}")))
    others = sorted({k for c in curves for k in c.params if k != key})
    summary = (
        f"{len(curves)} curves: colour = {printable(key)} "
        f"{shown_value(distinct[0])} … {shown_value(distinct[-1])}"
        + (f"; {printable(', '.join(others))} not told apart" if others else "")
    )
    return Colouring(colours, entries, summary)


def _legend(entries: Sequence[Entry], width: int, limit: int) -> tuple[list[list[Entry]], int]:
    """Entries in rows of equal columns, at most ``limit`` rows, and the column width; entries
    past the last row are left out (the caller says how many)."""
    if limit <= 0 or not entries:
        return [], 0
    cell = max(len(e.text) for e in entries) + 5  # "━━ " and a gap
    per_row = max(1, width // cell)
    rows = [list(entries[n : n + per_row]) for n in range(0, len(entries), per_row)]
    return rows[:limit], cell


def _decade_labels(y_low: float, y_high: float, height: int) -> dict[int, str]:
    """Rows of a log axis (``y`` = log10) labelled at the powers of ten it spans, each on the row
    holding it, every ``n``-th one when they are more than a label every other row."""
    powers = list(range(math.ceil(y_low), math.floor(y_high) + 1))
    every = max(1, math.ceil(len(powers) / max(1, height // 2)))
    return {
        round((y_high - power) / (y_high - y_low) * (height - 1)): _number(10.0**power)
        for power in powers[::-1][::every]
    }


def render(
    curves: Sequence[Curve],
    *,
    width: int,
    lines: int | None,
    title: str,
    xlabel: str = "step",
    colour: bool = False,
    logy: bool = False,
) -> list[str]:
    """The plot as at most ``lines`` lines of text (None: a canvas of ``ROWS_UNSIZED`` rows) at
    most ``width`` characters wide: a title, the canvas, an x axis, notes and the legend.

    ``logy``: a log y axis (``yanex.plotting.options`` decides when), labelled in the metric's
    units; values at or below zero are left out of it, with a note.
    """
    notes: list[str] = []
    all_values = [v for c in curves for v in c.values]
    dropped = sum(v <= 0 for v in all_values) if logy else 0
    if dropped == len(all_values):  # nothing to draw on a log axis: a linear one, then
        logy = False
    elif dropped:
        notes.append(f"left out {dropped} point{'s' if dropped != 1 else ''} <= 0 from the log axis")

    def y_of(value: float) -> float:
        return math.log10(value) if logy else value

    def shown_y(position: float) -> float:
        return 10**position if logy else position

    drawn = [[(s, y_of(v)) for s, v in zip(c.x, c.values, strict=True) if v > 0 or not logy] for c in curves]
    bands: list[list[tuple[float, float, float]]] = []
    for c in curves:
        band = []
        if c.spread is not None and c.runs > 1:
            for s, v, d in zip(c.x, c.values, c.spread, strict=True):
                low, high = max(v - d, -BIGGEST), min(v + d, BIGGEST)  # inside float range
                if logy and v <= 0:
                    continue
                if logy and low <= 0:  # a band reaching zero ends a power of ten below the mean
                    low = v / 10
                band.append((s, y_of(low), y_of(high)))
        bands.append(band)
    if any(bands):
        notes.append(f"{BAND} mean ± one standard deviation of each group's runs")

    found = colouring(curves)
    if found.summary is not None:
        notes.append(found.summary)
    xs = [s for points in drawn for s, _ in points]
    ys = [y for points in drawn for _, y in points] + [y for band in bands for _, *ends in band for y in ends]
    x_low, x_high = min(xs), max(xs)
    y_low, y_high = widened(min(ys), max(ys))

    indent = LABEL_WIDTH + 2  # the y axis' numbers and "┤", as the canvas' lines have
    room = LEGEND_LINES if lines is None else max(1, min(LEGEND_LINES, lines - 4 - len(notes) - MIN_ROWS))
    legend, cell = _legend(found.entries, width - indent, room)
    missing = len(found.entries) - sum(map(len, legend))
    if missing:
        listed = f"{missing} more not listed"
        notes.append(f"{found.summary}; {listed}" if found.summary else f"{len(curves)} curves; {listed}")
        if found.summary:
            notes.remove(found.summary)
    fixed = 3 + len(notes) + len(legend)  # title, axis line, axis labels, notes, legend
    height = ROWS_UNSIZED if lines is None else max(MIN_ROWS, min(MAX_ROWS, lines - fixed))

    labels = {
        row: _number(shown_y(at(y_high, y_low, row / max(height - 1, 1))))
        for row in (0, height // 2, height - 1)
    }
    if logy and y_high - y_low >= 2:  # powers of ten read better than the ends of the data
        labels = _decade_labels(y_low, y_high, height)
    margin = max(LABEL_WIDTH, *map(len, labels.values()))  # -6.667e+306 is wider than most
    columns = max(10, width - margin - 2)
    dots_x, dots_y = columns * 2, height * 4
    x_span = (x_high - x_low) or 1
    bits = [[0] * columns for _ in range(height)]
    owner = [[-1] * columns for _ in range(height)]
    shade = [[-1] * columns for _ in range(height)]

    def x_dot(step: float) -> int:
        return round((step - x_low) / x_span * (dots_x - 1))

    def y_dot(y: float) -> int:
        return min(dots_y - 1, max(0, round(fraction(y, y_high, y_low) * (dots_y - 1))))

    def dot(x: int, y: int, index: int) -> None:
        column, row = x // 2, y // 4
        bits[row][column] |= _BITS[x % 2][y % 4]
        owner[row][column] = index

    for index, band in enumerate(bands):
        for (s0, low0, high0), (s1, low1, high1) in zip(band, band[1:] or band, strict=False):
            x0, x1 = x_dot(s0), x_dot(s1)
            for x in range(x0, max(x0, x1) + 1):
                part = (x - x0) / (x1 - x0) if x1 > x0 else 0.0
                top, bottom = y_dot(at(high0, high1, part)) // 4, y_dot(at(low0, low1, part)) // 4
                for row in range(top, bottom + 1):
                    shade[row][x // 2] = index

    for index, points in enumerate(drawn):
        previous: tuple[int, int] | None = None
        for step, value in points:
            x, y = x_dot(step), y_dot(value)
            if previous is None:
                dot(x, y, index)
            else:
                (x0, y0), count = previous, max(abs(x - previous[0]), abs(y - previous[1]), 1)
                for n in range(1, count + 1):  # every dot of the segment
                    dot(x0 + round((x - x0) * n / count), y0 + round((y - y0) * n / count), index)
            previous = (x, y)

    def paint(text: str, index: int, dim: bool = False) -> str:
        if not colour or index < 0:
            return text
        code = COLOURS[found.colours[index] % len(COLOURS)]
        return f"\x1b[{'2;' if dim else ''}{code}m{text}\x1b[0m"

    def paint_entry(text: str, entry: Entry) -> str:
        return f"\x1b[{COLOURS[entry.colour]}m{text}\x1b[0m" if colour else text

    def cell_text(row: int, column: int) -> str:
        if bits[row][column]:
            return paint(chr(0x2800 + bits[row][column]), owner[row][column])
        if shade[row][column] >= 0:
            return paint(BAND, shade[row][column], dim=True)
        return " "

    out = [printable(title)[:width]]
    for row in range(height):
        cells = "".join(cell_text(row, column) for column in range(columns))
        out.append(f"{labels.get(row, ''):>{margin}} ┤{cells}")
    out.append(" " * margin + " └" + "─" * columns)
    first, last = _number(x_low), _number(x_high)
    axis = f"{first}{xlabel:^{max(columns - len(first) - len(last), len(xlabel) + 2)}}{last}"
    out.append((" " * (margin + 2) + axis)[:width])
    pad = " " * indent
    for note in notes:
        out.append((pad + note)[:width] if len(pad + note) <= width else note[:width])
    for legend_row in legend:
        pieces = []
        for n, entry in enumerate(legend_row):
            text = f"━━ {entry.text}"
            if len(text) > width - indent:
                text = text[: width - indent - 1] + "…"
            if n < len(legend_row) - 1:
                text = text.ljust(cell)
            pieces.append(paint_entry(text[:2], entry) + text[2:])
        out.append(pad + "".join(pieces))
    return out
