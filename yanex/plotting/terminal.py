"""Curves drawn with braille characters: a plot in the terminal, without any library.

Each character cell holds 2 x 4 dots (Unicode braille, U+2800), so an 80-column terminal gives a
canvas of about 140 x 64 dots. Lines are drawn dot by dot between consecutive points; a cell that
two curves cross takes the colour of the one drawn last. Without colour (piped, ``NO_COLOR``) the
curves are told apart by the legend only.
"""

from __future__ import annotations

from collections.abc import Sequence

from yanex.plotting.curves import Curve
from yanex.plotting.span import at, fraction, widened

# Dot (column, row) of a cell -> its bit in the braille pattern.
_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
COLOURS = (36, 33, 35, 32, 31, 34, 96, 93, 95, 92, 91, 94)  # ANSI foreground codes
LABEL_WIDTH = 10  # the y axis' numbers, unless one is wider


def _number(value: float) -> str:
    return f"{value:.4g}"


def render(
    curves: Sequence[Curve],
    *,
    width: int,
    height: int,
    title: str,
    xlabel: str = "step",
    colour: bool = False,
) -> list[str]:
    """The plot as lines of text at most ``width`` characters wide: ``height`` rows of canvas
    between a title, an x axis and a legend (one line per curve)."""
    xs = [s for c in curves for s in c.x]
    ys = [v for c in curves for v in c.values]
    x_low, x_high = min(xs), max(xs)
    y_low, y_high = widened(min(ys), max(ys))
    labels = {
        row: _number(at(y_high, y_low, row / max(height - 1, 1))) for row in (0, height // 2, height - 1)
    }
    margin = max(LABEL_WIDTH, *map(len, labels.values()))  # -6.667e+306 is wider than most
    columns = max(10, width - margin - 2)
    dots_x, dots_y = columns * 2, height * 4
    x_span = (x_high - x_low) or 1
    bits = [[0] * columns for _ in range(height)]
    owner = [[-1] * columns for _ in range(height)]

    def dot(x: int, y: int, index: int) -> None:
        column, row = x // 2, y // 4
        bits[row][column] |= _BITS[x % 2][y % 4]
        owner[row][column] = index

    for index, c in enumerate(curves):
        previous: tuple[int, int] | None = None
        for step, value in zip(c.x, c.values, strict=True):
            x = round((step - x_low) / x_span * (dots_x - 1))
            y = round(fraction(value, y_high, y_low) * (dots_y - 1))
            if previous is None:
                dot(x, y, index)
            else:
                (x0, y0), count = previous, max(abs(x - previous[0]), abs(y - previous[1]), 1)
                for n in range(1, count + 1):  # every dot of the segment
                    dot(x0 + round((x - x0) * n / count), y0 + round((y - y0) * n / count), index)
            previous = (x, y)

    def paint(text: str, index: int) -> str:
        if not colour or index < 0:
            return text
        return f"\x1b[{COLOURS[index % len(COLOURS)]}m{text}\x1b[0m"

    lines = [title]
    for row in range(height):
        cells = "".join(
            paint(chr(0x2800 + bits[row][column]), owner[row][column]) if bits[row][column] else " "
            for column in range(columns)
        )
        lines.append(f"{labels.get(row, ''):>{margin}} ┤{cells}")
    lines.append(" " * margin + " └" + "─" * columns)
    low, high = _number(x_low), _number(x_high)
    axis = f"{low}{xlabel:^{max(columns - len(low) - len(high), len(xlabel) + 2)}}{high}"
    lines.append(" " * (margin + 2) + axis)
    for index, c in enumerate(curves):
        lines.append(" " * (margin + 2) + paint("━━", index) + " " + c.label)
    return lines
