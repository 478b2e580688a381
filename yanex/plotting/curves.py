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
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from yanex.display import format_value
from yanex.store.ids import shown
from yanex.store.metric_values import JsonValue
from yanex.store.moments import mean, stdev

if TYPE_CHECKING:
    from yanex.store.filters import ExperimentFilter


@dataclass(frozen=True)
class Curve:
    """One line: ``values`` at ``steps``; with ``spread`` (a group's standard deviation at each
    step) it is a group's mean over ``runs`` experiments. ``params`` holds the values of the
    parameters its label names (``yanex.plotting.styles`` picks colours from them); ``xs`` the x
    of each point when the x axis is not the step (seconds since the start, another metric)."""

    label: str
    steps: list[int]
    values: list[float]
    spread: list[float] | None = None
    runs: int = 1
    params: dict[str, JsonValue] = field(default_factory=dict)
    xs: list[float] | None = None

    @property
    def x(self) -> Sequence[float]:
        """The x of each point: ``xs``, else the steps."""
        return self.xs if self.xs is not None else self.steps


STEP = "step"
TIME = "time"

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
    keys: tuple[str, ...] = ()  # the parameters that label the curves (group_by, when grouped)
    x: str = STEP  # STEP, TIME or the metric the curves are drawn against
    without_x: int = 0  # experiments left out for never logging the x metric

    @property
    def x_label(self) -> str:
        return "seconds since start" if self.x == TIME else self.x


def _label(params: dict[str, JsonValue], keys: Sequence[str], fallback: str) -> str:
    """``key=value, ...`` with numbers to 6 significant digits, as run names show them."""
    shown = [f"{key}={format_value(params[key])}" for key in keys if key in params]
    return ", ".join(shown) or fallback


def load_curves(
    conn: sqlite3.Connection,
    flt: ExperimentFilter,
    metric: str,
    group_by: Sequence[str] = (),
    x: str = STEP,
    *,
    all_attempts: bool = False,
) -> Selection:
    """The curves of ``metric`` for the experiments ``flt`` selects (in its order), against
    ``x``: the step, ``TIME`` (seconds since the experiment started, at the last point of each
    step) or another metric (its value at the same step; steps without it are left out, and so
    are experiments that never logged it: ``Selection.without_x``).

    Each experiment is labelled by the parameters that differ within the selection (else its
    name or id). With ``group_by`` (parameter names, or ``!NAME`` for every differing parameter
    but NAME, as ``yanex compare --group-by``), experiments with equal values of those
    parameters form one curve: at each step, the mean of their values and the sample standard
    deviation (0 where only one experiment has the step), at the mean of their x. Groups count
    what ``yanex compare --group-by`` counts (``yanex.store.groups.counted``): completed, latest
    attempts unless ``all_attempts`` (``yanex.store.groups.scope_of`` says what that leaves out).

    Raises ``UsageError`` when ``x`` is a metric that no selected experiment logged.
    """
    if group_by:
        return _group_curves(conn, flt, metric, group_by, x, all_attempts)
    from yanex.store.compare import compare

    comparison = compare(conn, flt, metrics=[metric])
    ids = [row.id for row in comparison.rows if metric in row.metrics]
    axis = _XAxis(conn, ids, x)
    curves = []
    kinds: Counter[str] = Counter()
    with_left_out = 0
    for row in comparison.rows:
        if metric not in row.metrics:
            continue
        points, left_out = _finite_points(conn, row.id, metric, timed=x == TIME)
        kinds += left_out
        with_left_out += bool(left_out)
        member = axis.member(row.id, points)
        if member:
            label = _label(row.params, comparison.params, row.name or shown(row.id))
            params = {key: row.params[key] for key in comparison.params if key in row.params}
            curves.append(_single(label, params, member, x))
    return Selection(
        metric,
        curves,
        len(curves),
        left_out=LeftOut.counted(kinds, with_left_out),
        keys=tuple(comparison.params),
        x=x,
        without_x=axis.checked(),
    )


# One experiment's points: step -> (y, x); x is the step itself on the step axis.
Points = dict[int, tuple[float, float]]


class _XAxis:
    """The x of each experiment's points: the step, seconds since its start, or another metric."""

    def __init__(self, conn: sqlite3.Connection, ids: Sequence[str], x: str) -> None:
        self.conn, self.x = conn, x
        self.asked: set[str] = set()  # experiments with points of the plotted metric
        self.missing: set[str] = set()  # of those, the ones without the x metric
        self.started: dict[str, float] = {}
        if x == TIME:
            from yanex.store.records import field_values

            for experiment_id, started in field_values(conn, ids, "started_at").items():
                if isinstance(started, datetime):
                    self.started[experiment_id] = started.timestamp()

    def member(self, experiment_id: str, points: dict[int, tuple[float, float]]) -> Points:
        """``points`` (step -> (value, time logged)) with the x of this axis."""
        if not points:
            return {}
        self.asked.add(experiment_id)
        if self.x == STEP:
            return {step: (value, float(step)) for step, (value, _) in points.items()}
        if self.x == TIME:
            start = self.started.get(experiment_id, min((t for _, t in points.values()), default=0.0))
            return {step: (value, at - start) for step, (value, at) in points.items()}
        xs, _ = _finite_points(self.conn, experiment_id, self.x)
        if not xs:
            self.missing.add(experiment_id)
        return {step: (value, xs[step][0]) for step, (value, _) in points.items() if step in xs}

    def checked(self) -> int:
        """How many experiments lack the x metric; a ``UsageError`` when every one does."""
        if self.asked and self.missing == self.asked:
            from yanex.errors import UsageError
            from yanex.store.metric_values import latest_of

            found = latest_of(self.conn, sorted(self.asked)).values()
            logged = sorted({key for metrics in found for key in metrics})
            raise UsageError(
                f"no matching experiment logged {self.x!r}, the --x metric, as a finite number",
                hint=f"--x takes step, time or a metric they logged: {', '.join(logged)}",
            )
        return len(self.missing)


def _single(label: str, params: dict[str, JsonValue], member: Points, x: str) -> Curve:
    steps = sorted(member)
    xs = None if x == STEP else [member[s][1] for s in steps]
    return Curve(label, steps, [member[s][0] for s in steps], params=params, xs=xs)


def _group_curves(
    conn: sqlite3.Connection,
    flt: ExperimentFilter,
    metric: str,
    group_by: Sequence[str],
    x: str,
    all_attempts: bool,
) -> Selection:
    """One mean curve per group of ``yanex.store.groups`` (groups in the order of their values,
    numbers as numbers, so the legend reads like an axis)."""
    from yanex.store.groups import group_experiments

    grouping = group_experiments(conn, flt, group_by, all_attempts=all_attempts)
    ids = [experiment_id for group in grouping.groups for experiment_id in group.ids]
    axis = _XAxis(conn, ids, x)
    curves = []
    runs = 0
    kinds: Counter[str] = Counter()
    with_left_out = 0
    for group in grouping.groups:
        members = []
        for experiment_id in group.ids:
            points, left_out = _finite_points(conn, experiment_id, metric, timed=x == TIME)
            kinds += left_out
            with_left_out += bool(left_out)
            member = axis.member(experiment_id, points)
            if member:
                members.append(member)
        if members:
            runs += len(members)
            named = zip(grouping.keys, group.values, strict=True)
            values = {key: value for key, value in named if value is not None}
            curves.append(_mean(_label(values, grouping.keys, "(no value)"), values, members, x))
    return Selection(
        metric,
        curves,
        runs,
        grouping.keys,
        LeftOut.counted(kinds, with_left_out),
        keys=grouping.keys,
        x=x,
        without_x=axis.checked(),
    )


def _finite_points(
    conn: sqlite3.Connection, experiment_id: str, metric: str, *, timed: bool = False
) -> tuple[dict[int, tuple[float, float]], Counter[str]]:
    """Step -> (value, when it was logged as a POSIX time, 0 unless ``timed``) of the finite
    numbers logged for ``metric`` (a step logged twice counts once, at its last value), and the
    other points counted by kind (``LeftOut``'s fields)."""
    from yanex.store.history import curve, points

    if timed:
        logged = ((p.step, p.value, p.logged_at.timestamp()) for p in points(conn, [experiment_id], [metric]))
    else:
        logged = ((step, value, 0.0) for step, value in curve(conn, experiment_id, metric))
    found: dict[int, tuple[float, float]] = {}
    left_out: Counter[str] = Counter()
    for step, value, at in logged:
        if type(value) is int:
            try:
                value = float(value)
            except OverflowError:
                left_out["too_large"] += 1
                continue
        if type(value) is float:
            if math.isfinite(value):
                found[step] = (value, at)
            else:
                left_out["nan" if value != value else "inf" if value > 0 else "minus_inf"] += 1
        elif isinstance(value, str) and value in _NOT_FINITE:
            left_out[_NOT_FINITE[value]] += 1
        else:
            left_out["other"] += 1
    return found, left_out


def _mean(label: str, params: dict[str, JsonValue], members: list[Points], x: str) -> Curve:
    """The group's curve: at each step, the mean and sample standard deviation of the members'
    values, finite however large they are (``yanex.store.moments``), at their mean x."""
    by_step: dict[int, list[tuple[float, float]]] = {}
    for member in members:
        for step, point in member.items():
            by_step.setdefault(step, []).append(point)
    steps = sorted(by_step)
    means = [mean([y for y, _ in by_step[s]]) for s in steps]
    spread = [stdev([y for y, _ in by_step[s]]) if len(by_step[s]) > 1 else 0.0 for s in steps]
    xs = None if x == STEP else [mean([x for _, x in by_step[s]]) for s in steps]
    return Curve(f"{label} (n={len(members)})", steps, means, spread, len(members), params, xs)
