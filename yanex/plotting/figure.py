"""Curves as an image file (PNG, SVG, PDF) through matplotlib, the ``plot`` extra.

Legends stay outside the axes, so no curve is hidden; past ``LEGEND_ENTRIES`` curves the legend
names the first ones and says how many more there are, and the colours follow the curves' order
on one colour map, so neighbouring parameter values get neighbouring colours.

Matplotlib's axis arithmetic overflows near float range (its margins and ticks of a curve from
-8e307 to 8e307 raise ``ValueError: arange``): values beyond ``LARGEST`` are drawn divided by a
power of ten that the axis label names (``loss (×1e308)``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yanex.errors import UsageError, install_hint
from yanex.plotting.curves import Curve, Selection
from yanex.plotting.span import BIGGEST

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SUFFIXES = (".png", ".svg", ".pdf")
LARGEST = 1e300  # far below where matplotlib overflows, far above any metric's usual size
LEGEND_ENTRIES = 15
DPI = 150
LINE_STYLES = ("-", (0, (5, 2)), (0, (1, 1.5)))


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UsageError(
            "writing a plot file needs matplotlib, which is not installed",
            hint=f"{install_hint('plot')} (or leave out -o for a plot in the terminal)",
        ) from None
    matplotlib.use("Agg")  # files only: no window, no display needed
    return matplotlib


def figure(selection: Selection, title: str) -> Figure:
    """The plot of ``selection``, one line per curve and a band of ± one standard deviation for
    a group's mean."""
    matplotlib = _matplotlib()
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    curves = selection.curves
    many = len(curves) > 10
    colours = (
        [matplotlib.colormaps["viridis"](n / max(len(curves) - 1, 1)) for n in range(len(curves))]
        if many
        else [f"C{n}" for n in range(len(curves))]
    )
    fig = Figure(figsize=(9, 5), layout="constrained")
    ax = fig.add_subplot()
    exponent = _exponent(curves)
    scale = 10.0**exponent
    edge = BIGGEST / scale  # a band's edge beyond float range stops there
    for n, (c, colour) in enumerate(zip(curves, colours, strict=True)):
        marker = "o" if len(c.steps) == 1 else None
        # Line styles cycle too, so that a curve drawn over an equal one still shows.
        style = LINE_STYLES[n % len(LINE_STYLES)]
        values = [v / scale for v in c.values]
        ax.plot(c.steps, values, color=colour, label=c.label, linewidth=1.8, linestyle=style, marker=marker)
        if c.spread is not None and c.runs > 1:
            spread = [s / scale for s in c.spread]
            low = [max(v - s, -edge) for v, s in zip(values, spread, strict=True)]
            high = [min(v + s, edge) for v, s in zip(values, spread, strict=True)]
            ax.fill_between(c.steps, low, high, color=colour, alpha=0.2, linewidth=0)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.set_ylabel(f"{selection.metric} (×1e{exponent})" if exponent else selection.metric)
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if len(handles) > LEGEND_ENTRIES:
        shown = LEGEND_ENTRIES - 1
        more = len(handles) - shown
        handles = [*handles[:shown], Line2D([], [], linestyle="none")]
        labels = [*labels[:shown], f"+{more} more"]
    if len(curves) > 1 or selection.group_by:
        legend_title = ", ".join(selection.group_by) + " (mean ± std)" if selection.group_by else None
        ax.legend(
            handles,
            labels,
            title=legend_title,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize="small",
            frameon=False,
        )
    return fig


def _exponent(curves: list[Curve]) -> int:
    """The power of ten the curves are divided by when drawn: 0 unless a value or a spread is
    beyond ``LARGEST`` (a spread beyond float range is inf: its band stops at the range's edge)."""
    numbers = (abs(v) for c in curves for v in [*c.values, *(c.spread or ())])
    largest = max((v for v in numbers if math.isfinite(v)), default=0.0)
    return math.floor(math.log10(largest)) if largest > LARGEST else 0


def save(selection: Selection, title: str, path: Path) -> None:
    """Write the plot to ``path``; its suffix chooses the format."""
    if path.suffix.lower() not in SUFFIXES:
        raise UsageError(
            f"cannot write a plot as {path.suffix or 'a file without a suffix'}",
            hint=f"name the file with one of {', '.join(SUFFIXES)}",
        )
    fig = figure(selection, title)
    try:
        fig.savefig(path, dpi=DPI)
    except OSError as error:
        raise UsageError(
            f"cannot write {path}: {error.strerror}", hint="choose a folder you can write"
        ) from None
