"""`yanex plot`'s options and the figure they make, asserted from the matplotlib figure object:
log axes (chosen and automatic), smoothing, the x axis, several metrics, size and title; colours
that follow the swept parameter, line styles the seeds, a legend ordered by value, a colour bar."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import yanex_cli
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

START = datetime(2026, 1, 1, tzinfo=UTC)
LOGSPACE = [float(f"{10 ** (-4 + 3 * n / 9):.15g}") for n in range(10)]  # logspace(-4,-1,10)


def _loss(config: dict[str, Any], step: int) -> float:
    """From ~10 down to a floor that depends on lr (1e-2 at best): three decades."""
    lr, seed = float(config["lr"]), float(config.get("seed", 0))
    floor = 0.01 * (1 + 30 * abs(math.log10(lr) + 2))
    return 10 * math.exp(-0.3 * step) + floor * (1 + 0.01 * seed)


def _sweep(
    db: Database,
    tmp_path: Path,
    configs: Sequence[dict[str, Any]],
    tag: str,
    metrics: Callable[[dict[str, Any], int], dict[str, Any]] = lambda c, s: {"loss": _loss(c, s)},
    steps: int = 30,
) -> list[str]:
    """One completed experiment per config, logging ``metrics(config, step)`` at steps 0.., one
    point every 2 seconds from its start."""
    owner = Owner("host", os.getpid())
    specs = [ExperimentSpec(script_path=tmp_path / "t.py", config=c, tags=[tag]) for c in configs]
    made = create_experiments(
        db, specs, status=Status.QUEUED, owner=owner, git=GitInfo(), environment=EnvironmentInfo()
    )
    for experiment_id, config in zip(made, configs, strict=True):
        mark_running(db, experiment_id, os.getpid(), owner)
        with reading(db) as conn:
            (started,) = conn.execute(
                "SELECT started_at FROM experiments WHERE id = ?", (experiment_id,)
            ).fetchone()
        begun = datetime.fromisoformat(started).replace(tzinfo=UTC)
        points = [
            MetricRecord(s, begun + timedelta(seconds=2 * s + 1), metrics(config, s)) for s in range(steps)
        ]
        ingest_metrics(db, experiment_id, points)
        finish(db, experiment_id, Status.COMPLETED, exit_code=0)
    db.dispose()
    return made


def _figure(
    db: Database, tag: str, metrics: Sequence[str] = ("loss",), x: str = "step", **options: Any
) -> Any:
    """The figure `yanex plot` draws for ``tag`` (the same calls as the command), drawn once."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from yanex.plotting.curves import load_curves
    from yanex.plotting.figure import figure
    from yanex.plotting.options import PlotOptions, panel

    opts = PlotOptions(**options)
    with reading(db) as conn:
        panels = [panel(load_curves(conn, ExperimentFilter(tags=[tag]), m, (), x), opts) for m in metrics]
    fig = figure(panels, "title", opts)
    FigureCanvasAgg(fig).draw()
    return fig


def _labelled(ax: Any) -> dict[str, Any]:
    """The curves of ``ax`` that have a label (the raw lines under smoothed ones have none)."""
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def _legend_texts(fig: Any) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def _colour_bars(fig: Any) -> list[Any]:
    """The axes of the figure's colour bars (matplotlib marks them with ``_colorbar``)."""
    return [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]


@pytest.fixture
def nine(db: Database, tmp_path: Path) -> list[str]:
    configs = [{"lr": lr, "seed": seed} for seed in range(3) for lr in (0.1, 0.001, 0.01)]
    return _sweep(db, tmp_path, configs, "nine")


def test_a_loss_spanning_decades_gets_a_log_axis_with_a_note(db: Database, nine: list[str]) -> None:
    (ax,) = _figure(db, "nine").axes[:1]
    assert ax.get_yscale() == "log"
    shown = {t.get_text() for t in ax.get_yticklabels() if t.get_text()}
    assert {"0.1", "1", "10"} <= shown  # plain numbers, not 10^-1
    (linear,) = _figure(db, "nine", logy=False).axes[:1]
    assert linear.get_yscale() == "linear"
    result = yanex_cli("plot", "loss", "--tag", "nine", "-o", str(Path(os.environ["YANEX_HOME"]) / "n.png"))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == ("Note: 'loss' spans 2.9 decades: log y axis (--no-logy: linear)")
    quiet = yanex_cli("plot", "loss", "--tag", "nine", "--no-logy")
    assert quiet.returncode == 0 and "Note" not in quiet.stderr


def test_a_metric_spanning_less_stays_linear_and_logy_forces_log(db: Database, tmp_path: Path) -> None:
    _sweep(db, tmp_path, [{"lr": 0.1}, {"lr": 0.2}], "narrow", lambda c, s: {"acc": 0.5 + s / 100})
    assert _figure(db, "narrow", ["acc"]).axes[0].get_yscale() == "linear"
    assert _figure(db, "narrow", ["acc"], logy=True, logx=True).axes[0].get_yscale() == "log"
    assert _figure(db, "narrow", ["acc"], logx=True).axes[0].get_xscale() == "log"


def test_values_a_log_axis_cannot_show_are_left_out_with_a_note(db: Database, tmp_path: Path) -> None:
    def metrics(config: dict[str, Any], step: int) -> dict[str, Any]:
        return {"delta": [-1.0, 0.0, 0.5, 1000.0, 2.0][step], "neg": -1.0 - step}

    _sweep(db, tmp_path, [{"lr": 0.1}, {"lr": 0.2}], "signs", metrics, steps=5)
    # Automatic: a metric with values <= 0 stays linear, nothing dropped.
    assert _figure(db, "signs", ["delta"]).axes[0].get_yscale() == "linear"
    fig = _figure(db, "signs", ["delta"], logy=True)
    assert fig.axes[0].get_yscale() == "log"
    assert all(min(line.get_ydata()) > 0 for line in fig.axes[0].get_lines())
    result = yanex_cli("plot", "delta", "--tag", "signs", "--logy")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "Note: left out 4 points of 'delta' whose values are <= 0, which a log y axis cannot show, "
        "in 2 curves"
    ]
    steps = yanex_cli("plot", "delta", "--tag", "signs", "--logx", "--no-logy")
    assert steps.returncode == 0, steps.stderr
    assert "left out 2 points of 'delta' whose step values are <= 0" in steps.stderr
    nothing = yanex_cli("plot", "neg", "--tag", "signs", "--logy")
    assert nothing.returncode == 2 and "Traceback" not in nothing.stderr
    assert nothing.stderr.splitlines()[-2:] == [
        "Error: no point of 'neg' can be drawn on a log axis: none is > 0",
        "Hint: leave out --logy / --logx",
    ]


def test_seeds_of_one_lr_share_a_colour_and_differ_by_style(db: Database, nine: list[str]) -> None:
    fig = _figure(db, "nine")
    lines = _labelled(fig.axes[0])
    for lr in ("0.001", "0.01", "0.1"):
        colours = {tuple(lines[f"lr={lr}, seed={seed}"].get_color()) for seed in range(3)}
        assert len(colours) == 1, lr
        styles = [lines[f"lr={lr}, seed={seed}"].get_linestyle() for seed in range(3)]
        assert styles == ["-", "--", ":"], lr
    assert len({tuple(lines[f"lr={lr}, seed=0"].get_color()) for lr in ("0.001", "0.01", "0.1")}) == 3
    # The legend reads like the axes: by lr, then by seed (the sweep ran them in another order).
    assert _legend_texts(fig) == [
        f"lr={lr}, seed={seed}" for lr in ("0.001", "0.01", "0.1") for seed in range(3)
    ]
    (bar,) = _colour_bars(fig)
    assert bar.get_ylabel() == "lr"
    assert [t.get_text() for t in bar.get_yticklabels()] == ["0.001", "0.01", "0.1"]


def test_a_seed_never_takes_colour_while_another_parameter_differs(db: Database, tmp_path: Path) -> None:
    """Five seeds and two optimizers: colour follows the optimizer (a palette, no colour bar)."""
    configs = [{"optimizer": o, "random_seed": s, "lr": 0.01} for o in ("sgd", "adam") for s in range(5)]
    _sweep(db, tmp_path, configs, "seeds")
    fig = _figure(db, "seeds")
    lines = _labelled(fig.axes[0])
    for optimizer in ("adam", "sgd"):
        assert len({lines[f"optimizer={optimizer}, random_seed={s}"].get_color() for s in range(5)}) == 1
    assert (
        lines["optimizer=adam, random_seed=0"].get_color()
        != lines["optimizer=sgd, random_seed=0"].get_color()
    )
    assert _colour_bars(fig) == []
    texts = _legend_texts(fig)
    assert texts[:2] == ["optimizer=adam, random_seed=0", "optimizer=adam, random_seed=1"]
    assert texts[5] == "optimizer=sgd, random_seed=0"


def test_thirty_runs_get_a_colour_bar_not_a_truncated_legend(db: Database, tmp_path: Path) -> None:
    configs = [{"lr": lr, "seed": seed} for lr in LOGSPACE for seed in range(3)]
    _sweep(db, tmp_path, configs, "thirty")
    fig = _figure(db, "thirty")
    assert len(_labelled(fig.axes[0])) == 30
    (bar,) = _colour_bars(fig)
    assert bar.get_ylabel() == "lr" and bar.get_yscale() == "log"
    # The legend lists the seeds' line styles only: the colour bar carries the learning rates.
    assert _legend_texts(fig) == ["seed=0", "seed=1", "seed=2"]
    assert not any("more" in text for text in _legend_texts(fig))
    # Colours run along the colour map in lr order: neighbouring lrs, neighbouring colours.
    lines = _labelled(fig.axes[0])
    greens = [lines[f"lr={lr:.6g}, seed=0"].get_color()[1] for lr in LOGSPACE]
    assert greens == sorted(greens)


def test_numbers_in_labels_have_six_significant_digits(db: Database, tmp_path: Path) -> None:
    _sweep(db, tmp_path, [{"lr": 0.316227766016838}, {"lr": 0.0464158883361278}], "digits")
    fig = _figure(db, "digits")
    assert _legend_texts(fig) == ["lr=0.0464159", "lr=0.316228"]
    result = yanex_cli("plot", "loss", "--tag", "digits")
    assert result.returncode == 0, result.stderr
    assert "lr=0.316228" in result.stdout and "0.316227766" not in result.stdout


def test_several_metrics_one_panel_each_with_one_legend(db: Database, tmp_path: Path) -> None:
    def metrics(config: dict[str, Any], step: int) -> dict[str, Any]:
        return {"loss": _loss(config, step), "accuracy": 1 - 1 / (step + 2)}

    _sweep(db, tmp_path, [{"lr": 0.1}, {"lr": 0.01}, {"lr": 0.001}], "two", metrics)
    fig = _figure(db, "two", ["loss", "accuracy"])
    panels = [ax for ax in fig.axes if ax not in _colour_bars(fig)]
    assert [ax.get_ylabel() for ax in panels] == ["loss", "accuracy"]
    assert [len(_labelled(ax)) for ax in panels] == [3, 3]
    assert len(fig.legends) == 1 and _legend_texts(fig) == ["lr=0.001", "lr=0.01", "lr=0.1"]
    svg = tmp_path / "two.svg"
    result = yanex_cli(
        "plot", "-m", "loss", "-m", "accuracy", "--tag", "two", "--title", "Loss & co", "-o", str(svg)
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == f"wrote {svg} (3 experiments, 6 curves)"
    assert "Loss &amp; co" in svg.read_text()


def _ema(values: list[float], weight: float) -> list[float]:
    """yanex/ui/static/common.js's ``ema``, transcribed."""
    out, last = [], 0.0
    for n, value in enumerate(values, start=1):
        last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight**n))
    return out


def test_smoothing_draws_the_ema_over_a_faint_raw_line(db: Database, tmp_path: Path) -> None:
    noisy = [1.0, 3.0, 2.0, 5.0, 4.0, 6.0]
    _sweep(db, tmp_path, [{"lr": 0.1}], "smooth", lambda c, s: {"loss": noisy[s]}, steps=6)
    plain = _figure(db, "smooth")
    assert len(plain.axes[0].get_lines()) == 1
    fig = _figure(db, "smooth", smooth=0.6)
    raw, smoothed = fig.axes[0].get_lines()
    assert list(raw.get_ydata()) == noisy and raw.get_alpha() is not None and raw.get_alpha() < 0.5
    assert smoothed.get_alpha() is None and list(smoothed.get_ydata()) == pytest.approx(_ema(noisy, 0.6))
    from yanex.plotting.options import smoothing

    assert smoothing("0.6") == 0.6 and smoothing("19") == pytest.approx(0.9) and smoothing("0") == 0.0
    bad = yanex_cli("plot", "loss", "--tag", "smooth", "--smooth", "much")
    assert bad.returncode == 2 and bad.stderr.splitlines()[0].startswith("Error: --smooth takes a weight")


def test_x_axis_time_and_another_metric(db: Database, tmp_path: Path) -> None:
    def metrics(config: dict[str, Any], step: int) -> dict[str, Any]:
        found: dict[str, Any] = {"loss": 10.0 - step}
        if step % 2 == 0:
            found["tokens"] = 1000.0 * step
        return found

    _sweep(db, tmp_path, [{"lr": 0.1}, {"lr": 0.2}], "xs", metrics, steps=6)
    timed = _figure(db, "xs", x="time").axes[0]
    assert timed.get_xlabel() == "seconds since start"
    assert list(_labelled(timed)["lr=0.1"].get_xdata()) == pytest.approx([1, 3, 5, 7, 9, 11])
    against = _figure(db, "xs", x="tokens").axes[0]
    assert against.get_xlabel() == "tokens"
    line = _labelled(against)["lr=0.1"]
    assert list(line.get_xdata()) == [0.0, 2000.0, 4000.0] and list(line.get_ydata()) == [10.0, 8.0, 6.0]
    result = yanex_cli("plot", "loss", "--tag", "xs", "--x", "tokenz")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "Error: no matching experiment logged 'tokenz', the --x metric, as a finite number",
        "Hint: --x takes step, time or a metric they logged: loss, tokens",
    ]


def test_size_in_inches_or_pixels(db: Database, nine: list[str], tmp_path: Path) -> None:
    import matplotlib.image

    for size, shape in (("1200x600", (600, 1200)), ("4x3", (450, 600)), ("8x4in", (600, 1200))):
        png = tmp_path / f"{size}.png"
        result = yanex_cli("plot", "loss", "--tag", "nine", "--size", size, "-o", str(png))
        assert result.returncode == 0, result.stderr
        assert matplotlib.image.imread(png).shape[:2] == shape, size
    bad = yanex_cli("plot", "loss", "--tag", "nine", "--size", "big", "-o", str(tmp_path / "x.png"))
    assert bad.returncode == 2 and bad.stderr.splitlines()[0] == "Error: --size takes WIDTHxHEIGHT, not 'big'"
