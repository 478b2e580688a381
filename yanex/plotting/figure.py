"""Curves as an image file (PNG, SVG, PDF) through matplotlib, the ``plot`` extra.

One panel per metric, stacked, sharing one legend and one colour bar beside them. Colours and
line styles follow ``yanex.plotting.styles``: a numeric parameter (a learning rate) is a
sequential colour map whose colour bar names it, a categorical one a palette. The legend lists
each curve, in order of value, up to ``LEGEND_ENTRIES``; past that it lists only what the colour
bar cannot say (the palette's values, the line styles), never a truncated list.

Matplotlib's axis arithmetic overflows near float range (its margins and ticks of a curve from
-8e307 to 8e307 raise ``ValueError: arange``): values beyond ``LARGEST`` are drawn divided by a
power of ten that the axis label names (``loss (×1e308)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yanex.display import format_value
from yanex.errors import UsageError, install_hint
from yanex.plotting.curves import Curve
from yanex.plotting.options import DPI, Panel, PlotOptions, ema
from yanex.plotting.span import BIGGEST
from yanex.plotting.styles import Styling, styling

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SUFFIXES = (".png", ".svg", ".pdf")
LARGEST = 1e300  # far below where matplotlib overflows, far above any metric's usual size
LEGEND_ENTRIES = 12
WIDTH, HEIGHT, PANEL_HEIGHT = 9.0, 5.0, 3.4  # inches: one panel, and each of several
# As many as styles.STYLES: solid, dashed, dotted, dash-dot.
LINE_STYLES: tuple[Any, ...] = ("-", "--", ":", "-.")
RAW_ALPHA = 0.25  # the unsmoothed curve under a smoothed one, as the web view draws it
MAP_END = 0.9  # viridis past this is a yellow that vanishes on white
TICKED_VALUES = 8  # a colour bar with at most this many values has a tick at each
DEFAULTS = PlotOptions()


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


def _number(value: float) -> str:
    """A tick of the colour bar: 6 significant digits, as run names."""
    return f"{value:.6g}"


def figure(panels: Sequence[Panel], title: str, options: PlotOptions = DEFAULTS) -> Figure:
    """The plot of ``panels`` (one metric each): one line per curve, a band of ± one standard
    deviation for a group's mean, and with ``options.smooth`` the EMA over a faint raw line."""
    matplotlib = _matplotlib()
    from matplotlib.figure import Figure

    first = panels[0].selection
    every = [c for p in panels for c in p.selection.curves]  # a curve keeps its colour in every panel
    style = styling(every, first.keys)
    size = options.size or (WIDTH, HEIGHT if len(panels) == 1 else PANEL_HEIGHT * len(panels) + 0.6)
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    cmap = matplotlib.colors.ListedColormap(matplotlib.colormaps["viridis"](_steps(MAP_END)))
    for ax, p in zip(axes, panels, strict=True):
        _draw(ax, p, style, cmap, options.smooth)
    axes[-1].set_xlabel(first.x_label)
    if len(panels) == 1:
        axes[0].set_title(title)
    else:
        fig.suptitle(title)
    _legend(fig, style, first.group_by)
    if style.numeric and style.colour_key is not None:
        _colour_bar(fig, list(axes), style, cmap, matplotlib)
    return fig


def _steps(end: float) -> list[float]:
    return [end * n / 255 for n in range(256)]


def _colour(curve: Curve, style: Styling, cmap: Any) -> Any:
    shade = style.shade(curve)
    if shade is not None:
        return cmap(shade)
    if style.numeric:  # a curve without the colour parameter's value
        return "grey"
    category = style.category(curve)
    return f"C{category % 10}" if len(style.colour_values) <= 10 else _tab20(category)


def _tab20(category: int) -> Any:
    import matplotlib

    return matplotlib.colormaps["tab20"](category % 20)


def _draw(ax: Axes, p: Panel, style: Styling, cmap: Any, smooth: float) -> None:
    curves = p.selection.curves
    exponent = 0 if p.logy else _exponent(curves)
    scale = 10.0**exponent
    edge = BIGGEST / scale  # a band's edge beyond float range stops there
    floor = min((v for c in curves for v in c.values), default=1.0) / 10  # a log band's lowest edge
    for index in style.ordered(curves):
        c = curves[index]
        colour = _colour(c, style, cmap)
        line_style = LINE_STYLES[style.style(c)]
        marker = "o" if len(c.steps) == 1 else None
        values = [v / scale for v in c.values]
        xs = list(c.x)
        if smooth > 0:
            ax.plot(xs, values, color=colour, alpha=RAW_ALPHA, linewidth=1.0, linestyle=line_style)
            values = ema(values, smooth)
        ax.plot(xs, values, color=colour, label=c.label, linewidth=1.8, linestyle=line_style, marker=marker)
        if c.spread is not None and c.runs > 1:
            spread = [s / scale for s in c.spread]
            low = [max(v - s, floor if p.logy else -edge) for v, s in zip(values, spread, strict=True)]
            high = [min(v + s, edge) for v, s in zip(values, spread, strict=True)]
            ax.fill_between(xs, low, high, color=colour, alpha=0.2, linewidth=0)
    from matplotlib.ticker import MaxNLocator

    if p.selection.x == "step" and not p.logx:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    if p.logy:
        ax.set_yscale("log")
        _log_ticks(ax, curves)
    if p.logx:
        ax.set_xscale("log")
    metric = p.selection.metric
    smoothed = f" (EMA {smooth:.3g})" if smooth > 0 else ""
    ax.set_ylabel(f"{metric} (×1e{exponent}){smoothed}" if exponent else f"{metric}{smoothed}")
    ax.grid(True, alpha=0.3, which="major")


def _log_ticks(ax: Axes, curves: list[Curve]) -> None:
    """Plain numbers on a log y axis (0.2, not 2×10⁻¹); within two decades the 2s and 5s
    between the powers of ten are labelled too, else an axis may show a single number."""
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _number(v)))
    values = [v for c in curves for v in c.values]
    if math.log10(max(values) / min(values)) <= 2:

        def minor(value: float, _: object) -> str:
            leading = round(value / 10 ** math.floor(math.log10(value)), 6)
            return _number(value) if leading in (2, 5) else ""

        ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def _legend(fig: Figure, style: Styling, group_by: Sequence[str]) -> None:
    """Each curve in legend order when they fit; else only the palette's values and the styles."""
    from matplotlib.lines import Line2D

    if len(style.labels) > LEGEND_ENTRIES:
        handles: list[Any] = []
        if style.colour_key is not None and not style.numeric:
            for n, value in enumerate(style.colour_values):
                colour = f"C{n % 10}" if len(style.colour_values) <= 10 else _tab20(n)
                label = f"{style.colour_key}={format_value(value)}"
                handles.append(Line2D([], [], color=colour, label=label))
        if style.style_key is not None:
            for n, value in enumerate(style.style_values):
                dash = LINE_STYLES[n % len(LINE_STYLES)]
                label = f"{style.style_key}={format_value(value)}"
                handles.append(Line2D([], [], color="dimgrey", linestyle=dash, label=label))
        if not handles:
            return
        title = None
    elif len(style.labels) > 1 or group_by:
        by_label = {}
        for ax in fig.axes:
            by_label.update({label: h for h, label in zip(*ax.get_legend_handles_labels(), strict=True)})
        handles = [by_label[label] for label in style.labels]
        title = ", ".join(group_by) + " (mean ± std)" if group_by else None
    else:
        return
    fig.legend(handles=handles, title=title, loc="outside right upper", fontsize="small", frameon=False)


def _colour_bar(fig: Figure, axes: list[Axes], style: Styling, cmap: Any, matplotlib: Any) -> None:
    """The colour map of a numeric colour parameter, named by it, with a tick at each value when
    there are few."""
    numbers = [float(v) for v in style.colour_values if isinstance(v, int | float)]
    low, high = min(numbers), max(numbers)
    colors = matplotlib.colors
    norm = colors.LogNorm(low, high) if style.log else colors.Normalize(low, high)
    bar = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, pad=0.02, aspect=30)
    bar.set_label(style.colour_key or "")
    if len(numbers) <= TICKED_VALUES:
        bar.set_ticks(numbers, labels=[_number(n) for n in numbers])
        bar.minorticks_off()
    else:
        bar.formatter = matplotlib.ticker.FuncFormatter(lambda v, _: _number(v))
        bar.minorticks_off()


def _exponent(curves: list[Curve]) -> int:
    """The power of ten the curves are divided by when drawn: 0 unless a value or a spread is
    beyond ``LARGEST`` (a spread beyond float range is inf: its band stops at the range's edge)."""
    numbers = (abs(v) for c in curves for v in [*c.values, *(c.spread or ())])
    largest = max((v for v in numbers if math.isfinite(v)), default=0.0)
    return math.floor(math.log10(largest)) if largest > LARGEST else 0


def save(panels: Sequence[Panel], title: str, path: Path, options: PlotOptions = DEFAULTS) -> None:
    """Write the plot to ``path``; its suffix chooses the format."""
    if path.suffix.lower() not in SUFFIXES:
        raise UsageError(
            f"cannot write a plot as {path.suffix or 'a file without a suffix'}",
            hint=f"name the file with one of {', '.join(SUFFIXES)}",
        )
    fig = figure(panels, title, options)
    try:
        fig.savefig(path, dpi=DPI)
    except OSError as error:
        raise UsageError(
            f"cannot write {path}: {error.strerror}", hint="choose a folder you can write"
        ) from None
