"""The curves a plot draws: one metric of the selected experiments, labelled by the parameters that
differ between them, or averaged per group of parameter values (mean and standard deviation).

Standard library only: the terminal plot needs no extra. Points whose value is not a finite
number (NaN, infinities, ints beyond float range, text, booleans, structures) are left out of a
curve and counted (``LeftOut``), so that the plot can say what it does not show.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from yanex.store.ids import shown
from yanex.store.metric_values import JsonValue
from yanex.store.moments import mean, stdev

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


# How the store gives back a float that is no finite number (``yanex.store.history.MetricPoint``).
_NOT_FINITE = {"NaN": "nan", "Infinity": "inf", "-Infinity": "minus_inf"}


@dataclass(frozen=True)
class LeftOut:
    """Points of the plotted metric that no curve shows, by kind, and how many experiments
    logged any of them."""

    nan: int = 0
    inf: int = 0
    minus_inf: int = 0
    too_large: int = 0  # ints beyond float range
    other: int = 0  # text, booleans, lists, dicts
    experiments: int = 0

    def counts(self) -> list[tuple[int, str]]:
        """Each kind left out, as (points, name), in a fixed order."""
        named = (
            (self.nan, "NaN"),
            (self.inf, "+inf"),
            (self.minus_inf, "-inf"),
            (self.too_large, "too large for a float"),
            (self.other, "non-numeric"),
        )
        return [(points, name) for points, name in named if points]

    @classmethod
    def counted(cls, kinds: Counter[str], experiments: int) -> LeftOut:
        """From the kinds counted by ``_finite_points``."""
        return cls(
            kinds["nan"], kinds["inf"], kinds["minus_inf"], kinds["too_large"], kinds["other"], experiments
        )


@dataclass(frozen=True)
class Selection:
    """What a plot shows: its curves, the experiments and parameters behind them, and the
    points it leaves out."""

    metric: str
    curves: list[Curve]
    experiments: int  # experiments that logged the metric as a finite number
    group_by: tuple[str, ...] = ()
    left_out: LeftOut = LeftOut()


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
    deviation (0 where only one experiment has the step). Groups count what ``yanex compare
    --group-by`` counts (``yanex.store.groups.counted``): completed, latest attempts.
    """
    if group_by:
        return _group_curves(conn, flt, metric, group_by)
    from yanex.store.compare import compare

    comparison = compare(conn, flt, metrics=[metric])
    curves = []
    kinds: Counter[str] = Counter()
    with_left_out = 0
    for row in comparison.rows:
        if metric not in row.metrics:
            continue
        points, left_out = _finite_points(conn, row.id, metric)
        kinds += left_out
        with_left_out += bool(left_out)
        if points:
            label = _label(row.params, comparison.params, row.name or shown(row.id))
            curves.append(Curve(label, list(points), list(points.values())))
    return Selection(metric, curves, len(curves), left_out=LeftOut.counted(kinds, with_left_out))


def _group_curves(
    conn: sqlite3.Connection, flt: ExperimentFilter, metric: str, group_by: Sequence[str]
) -> Selection:
    """One mean curve per group of ``yanex.store.groups`` (groups in the order of their values,
    numbers as numbers, so the legend reads like an axis)."""
    from yanex.store.groups import group_experiments

    grouping = group_experiments(conn, flt, group_by)
    curves = []
    runs = 0
    kinds: Counter[str] = Counter()
    with_left_out = 0
    for group in grouping.groups:
        members = []
        for experiment_id in group.ids:
            points, left_out = _finite_points(conn, experiment_id, metric)
            kinds += left_out
            with_left_out += bool(left_out)
            if points:
                members.append(points)
        if members:
            runs += len(members)
            named = zip(grouping.keys, group.values, strict=True)
            values = {key: value for key, value in named if value is not None}
            curves.append(_mean(_label(values, grouping.keys, "(no value)"), members))
    return Selection(metric, curves, runs, grouping.keys, LeftOut.counted(kinds, with_left_out))


def _finite_points(
    conn: sqlite3.Connection, experiment_id: str, metric: str
) -> tuple[dict[int, float], Counter[str]]:
    """Step -> value of the finite numbers logged for ``metric`` (a step logged twice counts
    once, at its last value), and the other points counted by kind (``LeftOut``'s fields)."""
    from yanex.store.history import curve

    points: dict[int, float] = {}
    left_out: Counter[str] = Counter()
    for step, value in curve(conn, experiment_id, metric):
        if type(value) is int:
            try:
                value = float(value)
            except OverflowError:
                left_out["too_large"] += 1
                continue
        if type(value) is float:
            if math.isfinite(value):
                points[step] = value
            else:
                left_out["nan" if value != value else "inf" if value > 0 else "minus_inf"] += 1
        elif isinstance(value, str) and value in _NOT_FINITE:
            left_out[_NOT_FINITE[value]] += 1
        else:
            left_out["other"] += 1
    return points, left_out


def _mean(label: str, members: list[dict[int, float]]) -> Curve:
    """The group's curve: at each step, the mean and sample standard deviation of the members'
    values, finite however large they are (``yanex.store.moments``)."""
    by_step: dict[int, list[float]] = {}
    for points in members:
        for step, value in points.items():
            by_step.setdefault(step, []).append(value)
    steps = sorted(by_step)
    means = [mean(by_step[s]) for s in steps]
    spread = [stdev(by_step[s]) if len(by_step[s]) > 1 else 0.0 for s in steps]
    return Curve(f"{label} (n={len(members)})", steps, means, spread, len(members))
