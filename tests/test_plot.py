"""`yanex plot`: image files, the terminal plot, groups' mean and std, and the legend of many runs."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import yanex_cli
from tests.query_fixtures import GRID, grid_name, populate
from yanex.db.engine import Database
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
from yanex.store.experiments import (
    MetricRecord,
    Owner,
    create_experiments,
    finish,
    ingest_metrics,
    mark_running,
)
from yanex.store.filters import ExperimentFilter
from yanex.store.reading import reading


@pytest.fixture
def ids(db: Database, tmp_path: Path) -> dict[str, str]:
    found = populate(db, tmp_path)
    db.dispose()
    return found


def test_png_and_svg_files_are_written_and_open(ids: dict[str, str], tmp_path: Path) -> None:
    import matplotlib.image

    png = tmp_path / "curves.png"
    result = yanex_cli("plot", "accuracy", "--tag", "grid-search", "-o", str(png))
    assert result.returncode == 0, result.stderr
    assert f"wrote {png} (6 experiments, 6 curves)" in result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(png)
    assert pixels.shape[:2] == (750, 1350)  # 9 x 5 inches at 150 dpi
    assert pixels.std() > 0.05  # not a blank canvas
    svg = tmp_path / "grouped.svg"
    grouped = yanex_cli("plot", "loss", "--tag", "grid-search", "--group-by", "batch_size", "-o", str(svg))
    assert grouped.returncode == 0, grouped.stderr
    text = svg.read_text()
    # Groups count completed experiments, as compare --group-by does: grid-lr0_01-bs16 failed.
    assert "<svg" in text and "batch_size=16 (n=2)" in text and "batch_size=32 (n=3)" in text


def test_group_mean_and_std_match_numpy(ids: dict[str, str], db: Database) -> None:
    from yanex.plotting.curves import load_curves

    with reading(db) as conn:
        selection = load_curves(conn, ExperimentFilter(tags=["grid-search"]), "accuracy", ["batch_size"])
    assert selection.experiments == 5 and selection.group_by == ("batch_size",)  # completed only
    assert [c.label for c in selection.curves] == ["batch_size=16 (n=2)", "batch_size=32 (n=3)"]  # by value
    for curve in selection.curves:
        bs = int(curve.label.split("=")[1].split()[0])
        # The fixture's accuracy at each step, per experiment: as query_fixtures.populate logs it.
        runs = np.array(
            [
                [round(0.5 + 4 * lr + n * 0.01, 4) - (2 - step) * 0.1 for step in range(3)]
                for n, (lr, b) in enumerate(GRID)
                if b == bs and grid_name(lr, b) != "grid-lr0_01-bs16"  # failed
            ]
        )
        assert curve.steps == [0, 1, 2] and curve.runs == len(runs)
        assert curve.values == pytest.approx(runs.mean(axis=0))
        assert curve.spread == pytest.approx(runs.std(axis=0, ddof=1))


def test_group_by_every_parameter_but_one_as_compare_does(ids: dict[str, str], db: Database) -> None:
    """``!NAME`` means every differing parameter but NAME, as in ``yanex compare --group-by``."""
    from yanex.plotting.curves import load_curves

    flt = ExperimentFilter(tags=["grid-search"])
    with reading(db) as conn:
        every_but = load_curves(conn, flt, "accuracy", ["!learning_rate"])
        spelled_out = load_curves(conn, flt, "accuracy", list(every_but.group_by))
    assert "learning_rate" not in every_but.group_by and "batch_size" in every_but.group_by
    assert every_but == spelled_out
    result = yanex_cli("plot", "accuracy", "--tag", "grid-search", "--group-by", "!learning_rate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"accuracy by {', '.join(every_but.group_by)} (5 experiments)"


def test_terminal_plot_when_piped_is_plain_braille(ids: dict[str, str]) -> None:
    result = yanex_cli("plot", "loss", ids[grid_name(0.1, 32)], ids[grid_name(0.001, 16)])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "loss (2 experiments)"
    assert "\x1b" not in result.stdout
    canvas = "".join(lines[1:17])
    assert sum("\u2800" < c <= "\u28ff" for c in canvas) > 50  # two flat lines, dot by dot
    assert lines[-2:] == [  # in the order of the colouring parameter's values
        " " * 12 + "━━ batch_size=16, learning_rate=0.001, optimizer=adam",
        " " * 12 + "━━ batch_size=32, learning_rate=0.1, optimizer=sgd",
    ]


def test_twenty_runs_get_a_colour_bar_beside_the_plot(db: Database, tmp_path: Path) -> None:
    owner = Owner("host", os.getpid())
    specs = [
        ExperimentSpec(script_path=tmp_path / "t.py", config={"lr": 0.001 * (n + 1)}, tags=["many"])
        for n in range(20)
    ]
    made = create_experiments(
        db, specs, status=Status.QUEUED, owner=owner, git=GitInfo(), environment=EnvironmentInfo()
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n, experiment_id in enumerate(made):
        mark_running(db, experiment_id, os.getpid(), owner)
        points = [MetricRecord(s, start + timedelta(seconds=s), {"loss": 1 / (s + 1 + n)}) for s in range(30)]
        ingest_metrics(db, experiment_id, points)
        finish(db, experiment_id, Status.COMPLETED, exit_code=0)
    from yanex.plotting.curves import load_curves
    from yanex.plotting.figure import figure
    from yanex.plotting.options import PlotOptions, panel

    with reading(db) as conn:
        selection = load_curves(conn, ExperimentFilter(tags=["many"]), "loss")
    assert len(selection.curves) == 20
    fig = figure([panel(selection, PlotOptions())], "loss (20 experiments)")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    ax, bar = fig.axes  # 20 learning rates: a colour bar names them, no legend of 20 lines
    assert fig.legends == [] and bar.get_ylabel() == "lr"
    renderer = canvas.get_renderer()
    assert bar.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1  # beside, not over
    assert bar.get_window_extent(renderer).x1 <= fig.bbox.x1  # and inside the image
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("step", "loss", "loss (20 experiments)")
    png = tmp_path / "many.png"
    assert yanex_cli("plot", "loss", "--tag", "many", "-o", str(png)).returncode == 0
    assert png.stat().st_size > 10_000


def test_without_matplotlib_a_file_plot_is_one_error_naming_the_extra(
    ids: dict[str, str], tmp_path: Path
) -> None:
    code = "import sys; sys.modules['matplotlib'] = None; from yanex.cli.app import main; main()"
    out = tmp_path / "x.png"
    done = subprocess.run(
        [sys.executable, "-c", code, "plot", "loss", "--tag", "grid-search", "-o", str(out)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "Error: writing a plot file needs matplotlib, which is not installed",
        "Hint: install the extra from your yanex checkout, in its folder: pip install -e '.[plot]' "
        "(or leave out -o for a plot in the terminal)",
    ]
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["plot", "loss", "-t", "grid-search", "-o", "curves.txt"], 2, "Error: cannot write a plot as .txt"),
        (["plot", "nope", "-t", "grid-search"], 1, "Error: no matching experiment logged 'nope' as a finite"),
        (["plot", "phase", "baseline"], 1, "Error: no matching experiment logged 'phase' as a finite number"),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else str(a),
)
def test_plot_misuse_is_one_error_and_hint(
    ids: dict[str, str], args: list[str], code: int, message: str
) -> None:
    result = yanex_cli(*args)
    assert result.returncode == code, result.stderr
    *notes, error, hint = result.stderr.splitlines()
    assert error.startswith(message) and hint.startswith("Hint: ")
    assert all(note.startswith("Note: ") for note in notes)


def test_sparkline_scales_between_min_and_max() -> None:
    from yanex.plotting.sparkline import sparkline

    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5.0, 5.0, float("nan"), 5.0]) == "▁▁▁"
    assert sparkline([1, 0, 1], width=2) == "▁█"
    assert sparkline([]) == ""


def _logged(
    db: Database, tmp_path: Path, curves: Sequence[Mapping[str, Sequence[Any]]], tag: str
) -> list[str]:
    """One experiment per entry of ``curves`` (metric -> values at steps 0, 1, ...), tagged ``tag``."""
    owner = Owner("host", os.getpid())
    specs = [
        ExperimentSpec(script_path=tmp_path / "t.py", config={"n": n}, tags=[tag]) for n in range(len(curves))
    ]
    made = create_experiments(
        db, specs, status=Status.QUEUED, owner=owner, git=GitInfo(), environment=EnvironmentInfo()
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for experiment_id, metrics in zip(made, curves, strict=True):
        mark_running(db, experiment_id, os.getpid(), owner)
        steps = max(len(values) for values in metrics.values())
        points = [
            MetricRecord(s, start + timedelta(seconds=s), {k: v[s] for k, v in metrics.items() if s < len(v)})
            for s in range(steps)
        ]
        ingest_metrics(db, experiment_id, points)
        finish(db, experiment_id, Status.COMPLETED, exit_code=0)
    db.dispose()
    return made


BIGGEST = 1.7976931348623157e308
# Values that once made `yanex plot` fail: spans beyond float range, and flat series (ints that
# are equal as floats, huge or not).
EXTREME: dict[str, list[float]] = {
    "huge": [5.0, 1e308, -1e308],
    "edges": [BIGGEST, -BIGGEST, 0.0],
    "flat_huge": [1e308, 1e308, 1e308],
    "flat_top": [-BIGGEST, -BIGGEST],
    "equal_as_floats": [10**17, 10**17 + 1, 10**17 + 2],
    "flat": [3, 3.0, 3],
    "tiny": [5e-324, 0.0, -5e-324],
}


def _axis_labels(lines: list[str]) -> list[Decimal]:
    """The numbers of a terminal plot's y axis (left of its ┤), as written (1.798e+308 is no float)."""
    return [Decimal(line.split("┤")[0]) for line in lines if "┤" in line and line.split("┤")[0].strip()]


@pytest.mark.parametrize("metric", list(EXTREME))
def test_extreme_and_flat_values_plot_in_the_terminal(db: Database, tmp_path: Path, metric: str) -> None:
    (experiment_id,) = _logged(db, tmp_path, [EXTREME], "extreme")
    result = yanex_cli("plot", metric, experiment_id)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    canvas = "".join(lines[1:17])
    assert sum("\u2800" < c <= "\u28ff" for c in canvas) >= 2
    labels = _axis_labels(lines)
    assert len(labels) == 3 and all(label.is_finite() for label in labels)
    assert labels[0] > labels[-1]  # an axis, top above bottom
    values = [Decimal(v) for v in EXTREME[metric]]
    slack = max(abs(v) for v in values) / 1000  # labels have four digits
    assert labels[0] >= max(values) - slack and labels[-1] <= min(values) + slack


def test_extreme_and_flat_values_plot_to_readable_images(db: Database, tmp_path: Path) -> None:
    import matplotlib.image
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from yanex.plotting.curves import load_curves
    from yanex.plotting.figure import figure
    from yanex.plotting.options import PlotOptions, panel

    halves = {key: [-0.5 * v for v in values[:2]] for key, values in EXTREME.items()}
    _logged(db, tmp_path, [EXTREME, halves], "extreme")
    for metric in EXTREME:
        with reading(db) as conn:
            selection = load_curves(conn, ExperimentFilter(tags=["extreme"]), metric)
        fig = figure([panel(selection, PlotOptions())], metric)
        FigureCanvasAgg(fig).draw()
        ax = fig.axes[0]
        low, high = ax.get_ylim()
        assert math.isfinite(low) and math.isfinite(high) and low < high, metric
        drawn = [float(y) for line in ax.get_lines() for y in np.asarray(line.get_ydata())]
        assert low <= min(drawn) and max(drawn) <= high, metric  # every point inside the axes
    png = tmp_path / "huge.png"
    result = yanex_cli("plot", "huge", "--tag", "extreme", "-o", str(png))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"wrote {png} (2 experiments, 2 curves)"]
    pixels = matplotlib.image.imread(png)
    assert pixels.shape[:2] == (750, 1350) and pixels.std() > 0.05


def test_group_means_of_huge_values_plot(db: Database, tmp_path: Path) -> None:
    """A group's mean and spread stay finite where the sum of its values is beyond float range."""
    from yanex.plotting.curves import load_curves

    _logged(db, tmp_path, [{"x": [BIGGEST, 1e308]}, {"x": [BIGGEST, -1e308]}], "group")
    with reading(db) as conn:
        selection = load_curves(conn, ExperimentFilter(tags=["group"]), "x", ["!n"])
    (curve,) = selection.curves
    assert curve.values == [BIGGEST, 0.0] and curve.spread is not None
    assert curve.spread[0] == 0.0 and curve.spread[1] == pytest.approx(math.sqrt(2) * 1e308)
    png = tmp_path / "group.png"
    result = yanex_cli("plot", "x", "--tag", "group", "--group-by", "!n", "-o", str(png))
    assert result.returncode == 0, result.stderr
    terminal = yanex_cli("plot", "x", "--tag", "group", "--group-by", "!n")
    assert terminal.returncode == 0, terminal.stderr


def test_points_that_are_no_finite_number_are_left_out_with_a_note(db: Database, tmp_path: Path) -> None:
    nan, inf = float("nan"), float("inf")
    first: dict[str, list[Any]] = {
        "loss": [1.0, nan, 0.5, inf, -inf, 10**400, "diverged", 0.25],
        "acc": [0.5, 0.6],
    }
    second = {"loss": [nan, 2.0], "acc": [0.7, 0.8]}
    _logged(db, tmp_path, [first, second], "gaps")
    note = (
        "Note: left out 6 points of 'loss' that are not finite numbers (2 NaN, 1 +inf, 1 -inf, "
        "1 too large for a float, 1 non-numeric) in 2 experiments"
    )
    terminal = yanex_cli("plot", "loss", "--tag", "gaps")
    assert terminal.returncode == 0, terminal.stderr
    assert terminal.stderr.splitlines() == [note]
    assert terminal.stdout.splitlines()[-1] == " " * 12 + "━━ n=0  ━━ n=1"  # by value, side by side
    png = tmp_path / "gaps.png"
    to_file = yanex_cli("plot", "loss", "--tag", "gaps", "-o", str(png))
    assert to_file.returncode == 0, to_file.stderr
    assert to_file.stderr.splitlines() == [note, f"wrote {png} (2 experiments, 2 curves)"]
    clean = yanex_cli("plot", "acc", "--tag", "gaps")  # nothing left out: no note
    assert clean.returncode == 0 and clean.stderr == ""
    from yanex.plotting.curves import load_curves

    with reading(db) as conn:
        selection = load_curves(conn, ExperimentFilter(tags=["gaps"]), "loss")
    assert [(c.steps, c.values) for c in selection.curves] == [([1], [2.0]), ([0, 2, 7], [1.0, 0.5, 0.25])]


def test_a_metric_of_only_nan_is_a_note_and_an_error(db: Database, tmp_path: Path) -> None:
    _logged(db, tmp_path, [{"loss": [float("nan"), float("nan")]}], "nan")
    result = yanex_cli("plot", "loss", "--tag", "nan")
    assert result.returncode == 1
    assert result.stderr.splitlines()[:2] == [
        "Note: left out 2 points of 'loss' that are not finite numbers (2 NaN) in 1 experiment",
        "Error: no matching experiment logged 'loss' as a finite number",
    ]


def test_sparklines_of_extreme_values() -> None:
    from yanex.plotting.sparkline import sparkline

    assert sparkline([-1e308, 5.0, 1e308]) == "▁▅█"
    assert sparkline([BIGGEST, -BIGGEST]) == "█▁"
    assert sparkline([1e308, 1e308]) == "▁▁"
