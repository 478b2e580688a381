"""`yanex plot`: image files, the terminal plot, groups' mean and std, and the legend of many runs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    assert "<svg" in text and "batch_size=16 (n=3)" in text and "batch_size=32 (n=3)" in text


def test_group_mean_and_std_match_numpy(ids: dict[str, str], db: Database) -> None:
    from yanex.plotting.curves import load_curves

    with reading(db) as conn:
        selection = load_curves(conn, ExperimentFilter(tags=["grid-search"]), "accuracy", ["batch_size"])
    assert selection.experiments == 6 and selection.group_by == ("batch_size",)
    assert [c.label for c in selection.curves] == ["batch_size=16 (n=3)", "batch_size=32 (n=3)"]  # by value
    for curve in selection.curves:
        bs = int(curve.label.split("=")[1].split()[0])
        # The fixture's accuracy at each step, per experiment: as query_fixtures.populate logs it.
        runs = np.array(
            [
                [round(0.5 + 4 * lr + n * 0.01, 4) - (2 - step) * 0.1 for step in range(3)]
                for n, (lr, b) in enumerate(GRID)
                if b == bs
            ]
        )
        assert curve.steps == [0, 1, 2] and curve.runs == 3
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
    assert result.stdout.splitlines()[0] == f"accuracy by {', '.join(every_but.group_by)} (6 experiments)"


def test_terminal_plot_when_piped_is_plain_braille(ids: dict[str, str]) -> None:
    result = yanex_cli("plot", "loss", ids[grid_name(0.1, 32)], ids[grid_name(0.001, 16)])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "loss (2 experiments)"
    assert "\x1b" not in result.stdout
    canvas = "".join(lines[1:17])
    assert sum("\u2800" < c <= "\u28ff" for c in canvas) > 50  # two flat lines, dot by dot
    assert lines[-2:] == [
        " " * 12 + "━━ batch_size=32, learning_rate=0.1, optimizer=sgd",
        " " * 12 + "━━ batch_size=16, learning_rate=0.001, optimizer=adam",
    ]


def test_twenty_runs_keep_the_legend_outside_and_short(db: Database, tmp_path: Path) -> None:
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
    from yanex.plotting.figure import LEGEND_ENTRIES, figure

    with reading(db) as conn:
        selection = load_curves(conn, ExperimentFilter(tags=["many"]), "loss")
    assert len(selection.curves) == 20
    fig = figure(selection, "loss (20 experiments)")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    (ax,) = fig.axes
    legend = ax.get_legend()
    assert legend is not None
    texts = [t.get_text() for t in legend.get_texts()]
    assert len(texts) == LEGEND_ENTRIES and texts[-1] == "+6 more"
    renderer = canvas.get_renderer()
    assert legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1  # beside, not over
    assert legend.get_window_extent(renderer).x1 <= fig.bbox.x1  # and inside the image
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
        "Hint: pip install 'yanex[plot]' (or leave out -o for a plot in the terminal)",
    ]
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["plot", "loss", "-t", "grid-search", "-o", "curves.txt"], 2, "Error: cannot write a plot as .txt"),
        (["plot", "nope", "-t", "grid-search"], 1, "Error: no matching experiment logged 'nope' as a number"),
        (["plot", "phase", "baseline"], 1, "Error: no matching experiment logged 'phase' as a number"),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else str(a),
)
def test_plot_misuse_is_one_error_and_hint(
    ids: dict[str, str], args: list[str], code: int, message: str
) -> None:
    result = yanex_cli(*args)
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith(message) and "Hint: " in result.stderr


def test_sparkline_scales_between_min_and_max() -> None:
    from yanex.plotting.sparkline import sparkline

    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5.0, 5.0, float("nan"), 5.0]) == "▁▁▁"
    assert sparkline([1, 0, 1], width=2) == "▁█"
    assert sparkline([]) == ""
