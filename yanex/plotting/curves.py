"""The curves a plot draws: one metric of the selected experiments, labelled by the parameters that
differ between them, or averaged per group of parameter values (mean and standard deviation).

Standard library only: the terminal plot needs no extra. Points whose value is not a finite
number (NaN, infinities, text, structures) are left out of a curve.
"""

from __future__ import annotations

import math
import sqlite3
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from yanex.store.metric_values import JsonValue

if TYPE_CHECKING:
    from yanex.store.filters import ExperimentFilter


@dataclass(frozen=True)
class Curve:
    """One line: ``values`` at ``steps``; with ``spread`` (a group's standard deviation at each
    step) it is a group's mean over ``runs`` experiments."""

    label: str
    steps: list[int]
    values: list[float]
    spread: list[float] | None = None
    runs: int = 1


@dataclass(frozen=True)
class Selection:
    """What a plot shows: its curves, and the experiments and parameters behind them."""

    metric: str
    curves: list[Curve]
    experiments: int  # experiments that logged the metric as a number
    group_by: tuple[str, ...] = ()


def _text(value: JsonValue) -> str:
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value)


def _label(params: dict[str, JsonValue], keys: Sequence[str], fallback: str) -> str:
    shown = [f"{key}={_text(params[key])}" for key in keys if key in params]
    return ", ".join(shown) or fallback


def load_curves(
    conn: sqlite3.Connection, flt: ExperimentFilter, metric: str, group_by: Sequence[str] = ()
) -> Selection:
    """The curves of ``metric`` for the experiments ``flt`` selects (in its order).

    Each experiment is labelled by the parameters that differ within the selection (else its
    name or id). With ``group_by`` (parameter names, or ``!NAME`` for every differing parameter
    but NAME, as ``yanex compare --group-by``), experiments with equal values of those
    parameters form one curve: at each step, the mean of their values and the sample standard
    deviation (0 where only one experiment has the step).
    """
    if group_by:
        return _group_curves(conn, flt, metric, group_by)
    from yanex.store.compare import compare

    comparison = compare(conn, flt, metrics=[metric])
    curves = []
    for row in comparison.rows:
        points = _finite_points(conn, row.id, metric) if metric in row.metrics else {}
        if points:
            label = _label(row.params, comparison.params, row.name or row.id)
            curves.append(Curve(label, list(points), list(points.values())))
    return Selection(metric, curves, len(curves))


def _group_curves(
    conn: sqlite3.Connection, flt: ExperimentFilter, metric: str, group_by: Sequence[str]
) -> Selection:
    """One mean curve per group of ``yanex.store.groups`` (groups in the order of their values,
    numbers as numbers, so the legend reads like an axis)."""
    from yanex.store.groups import group_experiments

    grouping = group_experiments(conn, flt, group_by)
    curves = []
    runs = 0
    for group in grouping.groups:
        members = [points for points in (_finite_points(conn, i, metric) for i in group.ids) if points]
        if members:
            runs += len(members)
            named = zip(grouping.keys, group.values, strict=True)
            values = {key: value for key, value in named if value is not None}
            curves.append(_mean(_label(values, grouping.keys, "(no value)"), members))
    return Selection(metric, curves, runs, grouping.keys)


def _finite_points(conn: sqlite3.Connection, experiment_id: str, metric: str) -> dict[int, float]:
    """Step -> value of the finite numbers logged for ``metric``; a step logged twice counts once,
    at its last value."""
    from yanex.store.history import curve

    points: dict[int, float] = {}
    for step, value in curve(conn, experiment_id, metric):
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            points[step] = float(value)
    return points


def _mean(label: str, members: list[dict[int, float]]) -> Curve:
    by_step: dict[int, list[float]] = {}
    for points in members:
        for step, value in points.items():
            by_step.setdefault(step, []).append(value)
    steps = sorted(by_step)
    means = [statistics.fmean(by_step[s]) for s in steps]
    spread = [statistics.stdev(by_step[s]) if len(by_step[s]) > 1 else 0.0 for s in steps]
    return Curve(f"{label} (n={len(members)})", steps, means, spread, len(members))
