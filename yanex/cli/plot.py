"""``yanex plot``: one metric's curves of the selected experiments, in a file or the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from yanex.cli.spec import REFERENCES, REQUIRED, Command, FilterOptions, Param

if TYPE_CHECKING:
    from yanex.plotting.curves import LeftOut

TERMINAL_ROWS = 16  # canvas rows of a terminal plot when the terminal's height is unknown


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
    metric: str,
    references: Sequence[str] | None,
    group_by: Sequence[str] | None,
    output: str | None,
    *,
    filters: FilterOptions,
) -> None:
    """Plot METRIC against step for the matching experiments, one curve each.

    Curves are labelled by the parameters that differ between the experiments. With --group-by
    (repeatable), experiments with the same values of those parameters become one curve: their
    mean at each step, with a band of ± one standard deviation. With -o the plot is written to a
    PNG, SVG or PDF file (needs matplotlib: pip install -e '.[plot]' in the yanex checkout);
    without it, it is drawn in the terminal with braille characters (plain, without colour, when
    piped). Values that are not finite numbers (NaN, infinities, text) are left out, with a note
    saying how many. Exits 1 if nothing matches or no experiment logged METRIC as a finite number.

    Examples:

      yanex plot loss --tag grid-search

      yanex plot loss --tag grid-search -o curves.png

      yanex plot accuracy --tag seeds --group-by learning_rate -o accuracy.svg
    """
    import os
    import shutil
    import sys
    from pathlib import Path

    from yanex.cli.render import echo
    from yanex.cli.store import store
    from yanex.errors import NotFoundError
    from yanex.plotting.curves import load_curves
    from yanex.store.reading import reading
    from yanex.store.references import resolve_references
    from yanex.terminal import printable

    flt = filters.build()
    with reading(store()) as conn:
        if references:
            flt = flt.naming(resolve_references(conn, references))
        selection = load_curves(conn, flt, metric, group_by or ())
    if selection.left_out.experiments:
        echo(_left_out_note(metric, selection.left_out), err=True)
    if not selection.curves:
        raise NotFoundError(
            f"no matching experiment logged {metric!r} as a finite number",
            hint="check the metric's name with `yanex show ID --metrics` and the filters with `yanex list`",
        )
    runs = _plural(selection.experiments, "experiment")
    grouped = f" by {', '.join(selection.group_by)}" if selection.group_by else ""
    title = f"{metric}{grouped} ({runs})"
    if output is not None:
        from yanex.plotting.figure import save

        save(selection, title, Path(output))
        echo(f"wrote {printable(output)} ({runs}, {_plural(len(selection.curves), 'curve')})", err=True)
        return
    from yanex.plotting.terminal import render

    terminal = sys.stdout.isatty()
    size = shutil.get_terminal_size((100, TERMINAL_ROWS + 6))
    rows = max(8, min(size.lines - 6 - len(selection.curves), 30)) if terminal else TERMINAL_ROWS
    colour = terminal and "NO_COLOR" not in os.environ
    printable_curves = [
        type(c)(printable(c.label), c.steps, c.values, c.spread, c.runs) for c in selection.curves
    ]
    for line in render(
        printable_curves, width=size.columns, height=rows, title=printable(title), colour=colour
    ):
        echo(line)


COMMAND = Command(
    plot_command,
    (
        Param("metric", (), str, REQUIRED, "The metric to plot, e.g. loss.", metavar="METRIC"),
        REFERENCES,
        Param(
            "group_by",
            ("--group-by", "-g"),
            str,
            None,
            "Average over experiments with equal values of this parameter (repeatable; '!NAME': "
            "every differing parameter but NAME): mean ± std.",
            True,
        ),
        Param("output", ("--output", "-o"), str, None, "Write the plot to this .png, .svg or .pdf file."),
    ),
    filters=("select", "archive", "order"),
)
