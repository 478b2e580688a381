"""``yanex plot``: one metric's curves of the selected experiments, in a file or the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from yanex.cli.spec import ALL_ATTEMPTS, REFERENCES, Command, FilterOptions, Param

if TYPE_CHECKING:
    from yanex.plotting.curves import Curve, LeftOut
    from yanex.plotting.options import Panel


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _left_out_note(metric: str, left_out: LeftOut) -> str:
    """One line: how many points of ``metric`` no curve shows, of which kinds, in how many
    experiments."""
    counts = left_out.counts()
    points = sum(count for count, _ in counts)
    what = "that are not finite numbers" if points != 1 else "that is not a finite number"
    kinds = ", ".join(f"{count} {name}" for count, name in counts)
    return (
        f"Note: left out {_plural(points, 'point')} of {metric!r} {what} ({kinds}) "
        f"in {_plural(left_out.experiments, 'experiment')}"
    )


def plot_command(
    metric: str | None,
    references: Sequence[str] | None,
    metrics: Sequence[str] | None,
    group_by: Sequence[str] | None,
    all_attempts: bool,
    output: str | None,
    x: str,
    logy: bool,
    no_logy: bool,
    logx: bool,
    smooth: str | None,
    title: str | None,
    size: str | None,
    *,
    filters: FilterOptions,
) -> None:
    """Plot METRIC against step for the matching experiments, one curve each.

    Curves are labelled by the parameters that differ between the experiments (numbers to 6
    significant digits). Colour follows the parameter with the most distinct values (a colour bar
    names a numeric one), line style the next; seed-like parameters (seed, rep, trial) take
    colour only when nothing else differs. With --group-by (repeatable), experiments with the
    same values of those parameters become one curve: their mean at each step, with a band of ±
    one standard deviation. Groups count completed experiments and the latest attempt of each, as
    compare --group-by does and a note says (--status and --all-attempts change that). -m METRIC
    (repeatable) draws several metrics, one panel each.

    A metric whose values are all positive and span more than two powers of ten is drawn on a log
    y axis, with a note (--no-logy keeps it linear); on a log axis, values <= 0 are left out, with
    a note. --smooth draws an exponential moving average over the faint raw curve, as the web
    view does. --x time draws against seconds since each experiment started; --x METRIC against
    another metric's value at the same step.

    With -o the plot is written to a PNG, SVG or PDF file (needs matplotlib: pip install -e
    '.[plot]' in the yanex checkout); without it, it is drawn in the terminal with braille
    characters (plain, without colour, when piped). Values that are not finite numbers (NaN,
    infinities, text) are left out, with a note saying how many. Exits 1 if nothing matches or no
    experiment logged METRIC as a finite number.

    Examples:

      yanex plot loss --tag grid-search

      yanex plot -m loss -m accuracy --tag grid-search --smooth 0.8 -o curves.png

      yanex plot accuracy --tag seeds --group-by learning_rate -o accuracy.svg

      yanex plot loss --tag sweep --x time --logy --size 1600x900 -o loss.png
    """
    import os
    import shutil
    import sys
    from pathlib import Path

    from yanex.cli.render import echo
    from yanex.cli.store import store
    from yanex.errors import NotFoundError, UsageError
    from yanex.plotting.curves import STEP, load_curves
    from yanex.plotting.options import PlotOptions, panel, smoothing
    from yanex.plotting.options import size as size_in_inches
    from yanex.store.groups import scope_of
    from yanex.store.reading import reading
    from yanex.store.references import resolve_references
    from yanex.terminal import printable

    if metrics and metric is not None:  # with -m, every word after the options is a reference
        references = [metric, *(references or ())]
    names = list(dict.fromkeys(metrics or ([metric] if metric is not None else [])))
    if not names:
        raise UsageError("name the metric to plot", hint="yanex plot loss ..., or -m loss -m accuracy")
    if logy and no_logy:
        raise UsageError("--logy and --no-logy contradict each other", hint="give one of them")
    if all_attempts and not group_by:
        raise UsageError("--all-attempts counts attempts in groups", hint="pass --group-by too")
    options = PlotOptions(
        logy=True if logy else False if no_logy else None,
        logx=logx,
        smooth=smoothing(smooth) if smooth is not None else 0.0,
        title=title,
        size=size_in_inches(size) if size is not None else None,
    )
    flt = filters.build()
    with reading(store()) as conn:
        if references:
            flt = flt.naming(resolve_references(conn, references))
        selections = [
            load_curves(conn, flt, name, group_by or (), x, all_attempts=all_attempts) for name in names
        ]
        scope = scope_of(conn, flt, all_attempts=all_attempts) if group_by else None
    panels = []
    said: list[str] = []  # notes on stderr: the terminal plot leaves room for them

    def note(text: str) -> None:
        said.append(text)
        echo(text, err=True)

    if scope is not None and scope.left_out:  # what the groups of every metric leave out, if it matters
        note(scope.note() or "")
    for selection in selections:
        if selection.left_out.experiments:
            note(_left_out_note(selection.metric, selection.left_out))
        if selection.without_x:
            note(f"Note: left out {_plural(selection.without_x, 'experiment')} that did not log {x!r}")
        if not selection.curves:
            raise NotFoundError(
                f"no matching experiment logged {selection.metric!r} as a finite number",
                hint="check the metric's name with `yanex show ID --metrics` and the filters with "
                "`yanex list`",
            )
        drawn = panel(selection, options)
        for text in drawn.notes:
            note(text)
        if not drawn.selection.curves:
            raise UsageError(
                f"no point of {selection.metric!r} can be drawn on a log axis: none is > 0",
                hint="leave out --logy / --logx",
            )
        panels.append(drawn)
    runs = _plural(max(s.experiments for s in selections), "experiment")
    grouped = f" by {', '.join(selections[0].group_by)}" if selections[0].group_by else ""
    against = f" against {selections[0].x_label}" if x != STEP else ""
    title = options.title or f"{', '.join(names)}{grouped}{against} ({runs})"
    if output is not None:
        from yanex.plotting.figure import save

        save(panels, title, Path(output), options)
        curves = sum(len(p.selection.curves) for p in panels)
        echo(f"wrote {printable(output)} ({runs}, {_plural(curves, 'curve')})", err=True)
        return
    from yanex.plotting.terminal import render

    terminal = sys.stdout.isatty()
    window = shutil.get_terminal_size()
    # The panels share the window less a line for the shell's prompt and the rows of the notes.
    noted = sum(max(1, -(-len(text) // window.columns)) for text in said)
    lines = (window.lines - 1 - noted) // len(panels) if terminal else None
    colour = terminal and "NO_COLOR" not in os.environ
    for drawn in panels:
        selection = drawn.selection
        shown = [_in_terminal(c, drawn, options.smooth) for c in selection.curves]
        heading = title if len(panels) == 1 else f"{selection.metric}: {title}"
        heading += " (log y)" if drawn.logy else ""
        for line in render(
            shown,
            width=window.columns,
            lines=lines,
            title=printable(heading),
            xlabel=f"{'log10 ' if drawn.logx else ''}{selection.x_label}",
            colour=colour,
            logy=drawn.logy,
        ):
            echo(line)


def _in_terminal(c: Curve, drawn: Panel, smooth: float) -> Curve:
    """``c`` as the braille plot draws it: smoothed, log10 of its x on a log x axis, its x as
    chosen (the renderer draws a log y axis itself, bands too)."""
    import math
    from dataclasses import replace

    from yanex.plotting.options import ema

    values = ema(c.values, smooth) if smooth > 0 else c.values
    xs = [math.log10(v) for v in c.x] if drawn.logx else list(c.x)
    return replace(c, values=values, xs=xs)


# The options of the plot (not of the selection), together: the terminal plot honours them too.
PLOT_OPTIONS = (
    Param(
        "metrics",
        ("--metric", "-m"),
        str,
        None,
        "Plot this metric too, in its own panel (repeatable); with -m, METRIC may be left out.",
        True,
    ),
    Param(
        "group_by",
        ("--group-by", "-g"),
        str,
        None,
        "Average over experiments with equal values of this parameter (repeatable; '!NAME': "
        "every differing parameter but NAME): mean ± std.",
        True,
    ),
    ALL_ATTEMPTS,
    Param("output", ("--output", "-o"), str, None, "Write the plot to this .png, .svg or .pdf file."),
    Param(
        "x",
        ("--x",),
        str,
        "step",
        "The x axis: step, time (seconds since each experiment started) or a metric (its value "
        "at the same step).",
        metavar="step|time|METRIC",
    ),
    Param("logy", ("--logy",), bool, False, "Log y axis (automatic when a metric spans > 2 decades)."),
    Param("no_logy", ("--no-logy",), bool, False, "Linear y axis, even for a metric spanning decades."),
    Param("logx", ("--logx",), bool, False, "Log x axis."),
    Param(
        "smooth",
        ("--smooth",),
        str,
        None,
        "Draw an exponential moving average over the faint raw curve: a weight on the past "
        "below 1 (0.9, as the web view's slider) or a number of points (20).",
        metavar="WEIGHT|POINTS",
    ),
    Param("title", ("--title",), str, None, "The plot's title (default: metrics and experiments)."),
    Param(
        "size",
        ("--size",),
        str,
        None,
        "Image size WIDTHxHEIGHT: inches (12x6) or, above 50, pixels at 150 dpi (1600x900).",
        metavar="WxH",
    ),
)

COMMAND = Command(
    plot_command,
    (
        Param("metric", (), str, None, "The metric to plot, e.g. loss.", metavar="METRIC"),
        REFERENCES,
        *PLOT_OPTIONS,
    ),
    filters=("select", "archive", "order"),
)
