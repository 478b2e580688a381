"""The terminal plot in a real 80x24 pseudo-terminal: the whole figure fits, the legend is capped
and says what it leaves out, seeds of one configuration share a colour, groups have bands."""

from __future__ import annotations

import itertools
import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.screen import run_in_window
from yanex.db.engine import Database
from yanex.plotting.curves import Curve, load_curves
from yanex.plotting.terminal import BAND, LEGEND_LINES, colouring, render
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

LRS = [round(10 ** (-4 + n / 3), 15) for n in range(10)]  # logspace(-4, -1, 10)


def _sweep(
    db: Database, tmp_path: Path, tag: str, lrs: list[float], seeds: int, decades: float = 1.2
) -> None:
    """lr x seed experiments whose loss falls from 13 by ``decades`` powers of ten, faster for a
    larger lr; seeds differ a little."""
    owner = Owner("host", os.getpid())
    configs = [{"lr": lr, "seed": seed} for lr in lrs for seed in range(seeds)]
    specs = [ExperimentSpec(script_path=tmp_path / "t.py", config=c, tags=[tag]) for c in configs]
    made = create_experiments(
        db, specs, status=Status.QUEUED, owner=owner, git=GitInfo(), environment=EnvironmentInfo()
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for config, experiment_id in zip(configs, made, strict=True):
        mark_running(db, experiment_id, os.getpid(), owner)
        rate = math.log(10) * decades * (1 + math.log10(config["lr"]) / 8) / 40
        points = [
            MetricRecord(
                s,
                start + timedelta(seconds=s),
                {"loss": 13 * math.exp(-rate * s) * (1 + 0.2 * config["seed"])},
            )
            for s in range(60)
        ]
        ingest_metrics(db, experiment_id, points)
        finish(db, experiment_id, Status.COMPLETED, exit_code=0)


def _fits(lines: list[str], columns: int = 80, rows: int = 24) -> None:
    """Every line within the width, and room left for the shell's prompt below."""
    while lines and lines[-1] == "":
        lines = lines[:-1]
    assert all(len(line) <= columns for line in lines), [line for line in lines if len(line) > columns]
    assert len(lines) <= rows - 1, len(lines)


def test_thirty_runs_fit_80x24_with_a_summarised_legend_and_a_colour_per_lr(
    db: Database, tmp_path: Path
) -> None:
    _sweep(db, tmp_path, "s30", LRS, 3)
    db.dispose()
    screen = run_in_window(["plot", "loss", "--tag", "s30"])
    _fits(screen.lines())
    rows = screen.rows
    assert rows[0] == "loss (30 experiments)"  # the title did not scroll off
    legend = [r for r in rows if r.lstrip().startswith("━━")]
    assert 0 < len(legend) <= LEGEND_LINES
    assert "30 curves: colour = lr 0.0001 … 0.1; seed not told apart" in [r.strip() for r in rows]
    entries = [e.strip() for r in legend for e in r.split("━━") if e.strip()]
    assert entries == [f"lr={lr:.6g}" for lr in LRS]  # by value, 6 significant digits
    canvas = [r for r in rows if "┤" in r]
    assert len(canvas) >= 10  # the canvas keeps most of the window
    # Each legend entry's mark is drawn in its own colour.
    marks = {
        screen.colours[y][x] for y, row in enumerate(screen.display) for x in range(len(row)) if row[x] == "━"
    }
    assert len(marks) == len(LRS)
    with reading(db) as conn:
        curves = load_curves(conn, ExperimentFilter(tags=["s30"]), "loss").curves
    found = colouring(curves)
    by_lr: dict[object, set[int]] = {}
    for c, colour in zip(curves, found.colours, strict=True):
        by_lr.setdefault(c.params["lr"], set()).add(colour)
    assert all(len(colours) == 1 for colours in by_lr.values())  # seeds of one lr share a colour
    assert len({next(iter(c)) for c in by_lr.values()}) == len(LRS)  # and lrs do not


def test_group_means_have_bands_and_fit(db: Database, tmp_path: Path) -> None:
    _sweep(db, tmp_path, "s9", [0.001, 0.03, 0.3], 3)
    db.dispose()
    screen = run_in_window(["plot", "loss", "--tag", "s9", "--group-by", "lr"])
    _fits(screen.lines())
    rows = screen.rows
    assert rows[0] == "loss by lr (9 experiments)"
    canvas = "".join(r for r in rows if "┤" in r)
    assert canvas.count(BAND) > 20  # a band around each mean
    assert any(f"{BAND} mean ± one standard deviation" in r for r in rows)
    assert [r.strip() for r in rows if "━━" in r] == ["━━ lr=0.001 (n=3)  ━━ lr=0.03 (n=3)   ━━ lr=0.3 (n=3)"]


def test_three_decades_get_a_log_axis_labelled_in_the_metrics_units(db: Database, tmp_path: Path) -> None:
    _sweep(db, tmp_path, "wide", [0.01, 0.1], 1, decades=3.2)
    db.dispose()
    screen = run_in_window(["plot", "loss", "--tag", "wide"])
    _fits(screen.lines())
    assert screen.rows[0].startswith("Note: 'loss' spans")
    assert "loss (2 experiments) (log y)" in screen.rows
    canvas = [r for r in screen.rows if "┤" in r]
    labelled = {n: float(r.split("┤")[0]) for n, r in enumerate(canvas) if r.split("┤")[0].strip()}
    # The powers of ten the data spans (from 13 down), each on its row, top to bottom.
    assert len(labelled) >= 4 and list(labelled.values()) == [10.0**-k for k in range(-1, len(labelled) - 1)]
    rows = list(labelled)
    gaps = [b - a for a, b in itertools.pairwise(rows)]
    assert max(gaps) - min(gaps) <= 1  # a decade takes the same height wherever it is


@pytest.mark.parametrize(("count", "params"), [(40, False), (40, True)], ids=["named", "20-values"])
def test_a_legend_too_long_is_capped_and_says_how_many_it_left_out(count: int, params: bool) -> None:
    curves = [
        Curve(
            f"run-{n:02d}",
            [0, 1, 2],
            [1.0, 0.5 + n / 100, 0.2],
            params={"lr": n // 2 / 10, "seed": n % 2} if params else {},
        )
        for n in range(count)
    ]
    lines = render(curves, width=80, lines=23, title="loss (40 experiments)")
    _fits(lines)
    legend = [line for line in lines if "━━" in line]
    assert len(legend) <= LEGEND_LINES
    if params:  # 20 values of lr on 12 colours: neighbouring values share one, named as a range
        assert "40 curves: colour = lr 0.0 … 1.9; seed not told apart" in [line.strip() for line in lines]
        assert "━━ lr=0.0…0.1" in legend[0]
    else:
        shown = sum(line.count("━━") for line in legend)
        assert f"40 curves; {count - shown} more not listed" in [line.strip() for line in lines]


def test_a_log_axis_asked_for_leaves_out_what_it_cannot_draw_and_says_so() -> None:
    group = Curve("lr=0.1 (n=3)", [0, 1, 2, 3], [5.0, 0.0, -1.0, 0.01], [6.0, 1.0, 1.0, 0.02], 3, {"lr": 0.1})
    lines = render([group], width=80, lines=23, title="loss", logy=True)
    _fits(lines)
    assert "left out 2 points <= 0 from the log axis" in [line.strip() for line in lines]
    labels = [float(line.split("┤")[0]) for line in lines if "┤" in line and line.split("┤")[0].strip()]
    assert labels[0] > 5 and 0 < labels[-1] <= 0.001  # the band below 0.01 reaches a power of ten lower
    assert sum(line.count(BAND) for line in lines) > 5
    flat = render([Curve("x", [0, 1], [0.0, -2.0])], width=80, lines=23, title="x", logy=True)
    assert not any("log" in line for line in flat)  # nothing positive: drawn on a linear axis
