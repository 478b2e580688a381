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

from yanex.store.reads import JsonValue

if TYPE_CHECKING:
    from yanex.db.engine import Database
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


def load_curves(db: Database, flt: ExperimentFilter, metric: str, group_by: Sequence[str] = ()) -> Selection:
    """The curves of ``metric`` for the experiments ``flt`` selects (in its order).

    Each experiment is labelled by the parameters that differ within the selection (else its
    name or id). With ``group_by`` (plain parameter names), experiments with equal values of
    those parameters form one curve: at each step, the mean of their values and the sample
    standard deviation (0 where only one experiment has the step).
    """
    from yanex.store.history import curve
    from yanex.store.reads import compare

    comparison = compare(db, flt, metrics=[metric])
    raw: list[tuple[dict[str, JsonValue], str, dict[int, float]]] = []
    with db.connect() as conn:
        for row in comparison.rows:
            if metric not in row.metrics:
                continue
            points: dict[int, float] = {}  # a step logged twice counts once, at its last value
            for step, value in curve(conn, row.id, metric):
                if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                    points[step] = float(value)
            if points:
                params = row.params if not group_by else _params_of(conn, row.id, group_by)
                raw.append((params, row.name or row.id, points))
    if not group_by:
        curves = [
            Curve(_label(params, comparison.params, name), list(points), list(points.values()))
            for params, name, points in raw
        ]
        return Selection(metric, curves, len(raw))
    groups: dict[str, list[dict[int, float]]] = {}
    order: dict[str, tuple[tuple[int, float, str], ...]] = {}
    for params, _name, points in raw:
        label = _label(params, group_by, "(no value)")
        groups.setdefault(label, []).append(points)
        order[label] = tuple(_rank(params.get(key)) for key in group_by)
    # Groups in the order of their values (numbers as numbers), so the legend reads like an axis.
    curves = [_mean(label, groups[label]) for label in sorted(groups, key=order.__getitem__)]
    return Selection(metric, curves, len(raw), tuple(group_by))


def _rank(value: JsonValue) -> tuple[int, float, str]:
    """A sort key: numbers by value, then everything else by its text, then missing values."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (2, 0.0, "") if value is None else (1, 0.0, _text(value))


def _params_of(conn: sqlite3.Connection, experiment_id: str, keys: Sequence[str]) -> dict[str, JsonValue]:
    """The values of ``keys`` (flat, dotted names) of one experiment."""
    import json

    marks = ", ".join("?" * len(keys))
    rows = conn.execute(
        f"SELECT key, value FROM params WHERE experiment_id = ? AND key IN ({marks})", [experiment_id, *keys]
    )
    return {key: json.loads(value) for key, value in rows}


def _mean(label: str, members: list[dict[int, float]]) -> Curve:
    by_step: dict[int, list[float]] = {}
    for points in members:
        for step, value in points.items():
            by_step.setdefault(step, []).append(value)
    steps = sorted(by_step)
    means = [statistics.fmean(by_step[s]) for s in steps]
    spread = [statistics.stdev(by_step[s]) if len(by_step[s]) > 1 else 0.0 for s in steps]
    return Curve(f"{label} (n={len(members)})", steps, means, spread, len(members))
