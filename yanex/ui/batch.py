"""The batch page's API: a batch's points, their status, the best so far for a metric aggregate,
and each point's value of it for the heatmap over two params.

A sweep's batch stores its plan (``batches.spec``): the plan is expanded again (the same plan
always gives the same points, as ``yanex sweep resume`` relies on) and each point is matched to
its experiments by identity (``spec_sha256``) in the batch and in any batch of the same sweep, so
a point never run shows as missing. A batch of listed specs has no plan: its points are its
experiments, and its axes the params that differ between them. A searched sweep's points are
proposed as it runs (its plan cannot be expanded again): they are its experiments, in the order
they started, and the page adds the search's objective over its trials, the answer of ``yanex
sweep show`` (``store.sweeps.scored_trials``).
"""

from __future__ import annotations

import itertools
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import JsonValue

from yanex.errors import UsageError
from yanex.ui.answers import Request, Response, json_response

if TYPE_CHECKING:
    import sqlite3

    from yanex.store.sweeps import BatchRow, SweepRun

MAX_POINTS = 10_000  # points a page shows; a larger sweep says how many it left out
# A point's status when several experiments ran it: the first of these that one of them has.
PRECEDENCE = ("completed", "running", "queued", "created", "pruned", "failed", "cancelled")


@dataclass(frozen=True)
class Point:
    """One point of the batch: its swept params and the experiment that stands for it (None when
    it never ran)."""

    index: int
    name: str | None
    params: dict[str, JsonValue]
    run: SweepRun | None
    runs: int


def _sweep_points(batch: BatchRow, runs: list[SweepRun]) -> tuple[list[Point], list[str], int]:
    """The plan's points (at most ``MAX_POINTS``), its varying axes and its size."""
    from yanex.store.convert import spec_fingerprint
    from yanex.sweep.expand import dotted
    from yanex.sweep.plan import SweepPlan

    assert batch.spec is not None
    plan = SweepPlan.from_json(batch.spec)
    by_spec: dict[str, list[SweepRun]] = {}
    for run in runs:
        by_spec.setdefault(run.spec_sha256, []).append(run)
    script, args = str(plan.script_path.resolve()), list(plan.script_args)
    axes = [dotted(path) for path in plan.definition.varying()]
    points = []
    for index, point in enumerate(itertools.islice(plan.definition.points(), MAX_POINTS)):
        found = by_spec.get(spec_fingerprint(script, point.config, args), [])
        values = {dotted(path): value for path, value in point.values}
        standing = _standing(found)
        name = standing.name if standing else None
        points.append(Point(index, name, {axis: values.get(axis) for axis in axes}, standing, len(found)))
    return points, axes, plan.size()


def _searched_points(
    conn: sqlite3.Connection, batch: BatchRow, runs: list[SweepRun]
) -> tuple[list[Point], list[str], int]:
    """A search's experiments, one point each; its axes are the plan's, its size its budget."""
    from yanex.store.records import load_records
    from yanex.store.sweeps import config_values
    from yanex.sweep.expand import dotted
    from yanex.sweep.plan import SweepPlan

    assert batch.spec is not None
    plan = SweepPlan.from_json(batch.spec)
    paths = [path for path, _ in plan.definition.axes]
    axes = [dotted(path) for path in paths]
    records = load_records(conn, [run.id for run in runs[:MAX_POINTS]])
    points = [
        Point(index, record.name, dict(zip(axes, config_values(record.config, paths), strict=True)), run, 1)  # type: ignore[arg-type]
        for index, (record, run) in enumerate(zip(records, runs, strict=False))
    ]
    return points, axes, plan.size()


def _search(conn: sqlite3.Connection, batch: BatchRow, short: str) -> dict[str, Any] | None:
    """A searched sweep's sampler, objective and its trials with the best so far (None for a sweep
    that is no search): the records of ``yanex sweep show --format json``."""
    from yanex.store.ids import short_ids
    from yanex.store.metric_names import metric_ref
    from yanex.store.sweeps import best_trial, scored_trials
    from yanex.sweep.expand import dotted
    from yanex.sweep.plan import SweepPlan

    if batch.spec is None:
        return None
    plan = SweepPlan.from_json(batch.spec)
    if plan.search is None:
        return None
    ref = metric_ref(plan.search.objective)
    scored = scored_trials(conn, batch.spec, ref.key, ref.aggregate.number, plan.search.direction)
    paths = [path for path, _ in plan.definition.axes]
    shown = short_ids(conn, [s.trial.id for s in scored])
    trials = [
        {"trial": s.number, "id": s.trial.id, "short": shown[s.trial.id], "name": s.trial.name,
         "status": s.trial.status, "objective": s.objective, "best_so_far": s.best_so_far,
         "params": {dotted(path): v for path, v in zip(paths, s.trial.values(paths), strict=True)}}
        for s in scored
    ]  # fmt: skip
    top = best_trial(scored)
    return {
        "sampler": plan.search.sampler,
        "objective": plan.search.objective,
        "direction": plan.search.direction,
        "seed": plan.definition.seed,
        "budget": plan.size(),
        "trials": trials,
        "best": None if top is None else trials[top.number - 1],
        "command": shlex.join(["yanex", "sweep", "show", short]),
    }


def _standing(runs: list[SweepRun]) -> SweepRun | None:
    """The experiment a point's status is taken from: the newest of the best status it reached."""
    for status in PRECEDENCE:
        chosen = [run for run in runs if run.status == status]
        if chosen:
            return chosen[-1]
    return runs[-1] if runs else None


def _listed_points(conn: sqlite3.Connection, runs: list[SweepRun]) -> tuple[list[Point], list[str], int]:
    """A batch without a plan: one point per experiment; its axes are the params that differ."""
    from yanex.store.records import load_records

    records = load_records(conn, [run.id for run in runs[:MAX_POINTS]])
    keys = sorted({key for record in records for key in record.config})
    axes = [key for key in keys if len({repr(record.config.get(key)) for record in records}) > 1]
    points = [
        Point(index, record.name, {axis: record.config.get(axis) for axis in axes}, run, 1)
        for index, (record, run) in enumerate(zip(records, runs, strict=False))
    ]
    return points, axes, len(runs)


def _number(value: JsonValue) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def batch(request: Request) -> Response:
    """``GET /api/batch/<id or prefix>?metric=KEY.AGG``: the batch's points, progress and best."""
    from yanex.store.ids import short_ids
    from yanex.store.metric_names import default_goal, metric_ref
    from yanex.store.metric_values import latest_of
    from yanex.store.reading import reading
    from yanex.store.sweeps import find_batch, sweep_runs

    with reading(request.db, settle=False) as conn:
        found = find_batch(conn, request.parts[0])
        runs = sweep_runs(conn, found.id)
        short = short_ids(conn, [found.id], "batches")[found.id]
        search = _search(conn, found, short)
        if search is not None:
            points, axes, size = _searched_points(conn, found, runs)
        elif found.spec is not None:
            points, axes, size = _sweep_points(found, runs)
        else:
            points, axes, size = _listed_points(conn, runs)
        ids = [p.run.id for p in points if p.run is not None]
        summaries = latest_of(conn, ids)
        shown = short_ids(conn, ids)
    keys = sorted({key for metrics in summaries.values() for key in metrics})
    chosen = request.one("metric") or (search["objective"] if search else f"{keys[0]}.best" if keys else "")
    ref = metric_ref(chosen) if chosen else None
    if ref is not None and keys and ref.key not in keys:
        raise UsageError(
            f"no experiment of batch {short} logged metric {ref.key!r}", hint=f"metrics: {', '.join(keys)}"
        )
    goals = [summaries[i][ref.key].goal for i in ids if ref is not None and ref.key in summaries[i]]
    goal = max(set(goals), key=goals.count) if goals else default_goal(ref.key) if ref else "min"
    rows: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    progress: dict[str, int] = {}
    for p in points:
        status = p.run.status if p.run is not None else "missing"
        progress[status] = progress.get(status, 0) + 1
        value: JsonValue = None
        if p.run is not None and ref is not None and ref.key in summaries[p.run.id]:
            value = summaries[p.run.id][ref.key].aggregate(ref.aggregate.name)
        row = {
            "index": p.index,
            "name": p.name,
            "params": p.params,
            "status": status,
            "id": p.run.id if p.run else None,
            "short": shown[p.run.id] if p.run else None,
            "runs": p.runs,
            "value": value,
            "reason": p.run.error_message if p.run is not None and status in ("pruned", "failed") else None,
        }
        rows.append(row)
        number = _number(value)
        if number is not None and (
            best is None or (number < best["value"] if goal == "min" else number > best["value"])
        ):
            best = row
    if search is not None:  # the points the search has yet to propose (a cancelled one is proposed again)
        evaluated = sum(1 for p in points if p.run is not None and p.run.status != "cancelled")
        if size > evaluated:
            progress["missing"] = size - evaluated
    notes = []
    if search is None and size > len(points):
        notes.append(f"showing the first {len(points):,} of the sweep's {size:,} points")
    return json_response(
        {
            "id": found.id,
            "short": short,
            "created": found.created_at,
            "ended": found.ended_at,
            "parallel": found.parallel,
            "executor": found.executor,
            "sweep": found.spec is not None,
            "size": size,
            "axes": axes,
            "metrics": keys,
            "metric": ref.label if ref else None,
            "goal": goal,
            "progress": progress,
            "best": best,
            "points": rows,
            "notes": notes,
            "search": search,
            "commands": _commands(short, axes, ref.label if ref else None, found.spec is not None),
        }
    )


def _commands(short: str, axes: list[str], metric: str | None, sweep: bool) -> dict[str, str]:
    compare = ["yanex", "compare", "--batch", short, *(f for axis in axes for f in ("--group-by", axis))]
    if metric:
        compare += ["-m", metric]
    commands = {"list": shlex.join(["yanex", "list", "--batch", short]), "compare": shlex.join(compare)}
    if sweep:
        commands["resume"] = shlex.join(["yanex", "sweep", "resume", short, "--dry-run"])
    return commands
