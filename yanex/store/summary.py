"""Keeping ``metric_summary`` current: folded in the transaction that inserts the points.

Each chunk of points is summed up per metric in Python (sorted by key, then ``min``/``max`` and
``math.fsum`` at C speed), merged with the stored row and written back with one upsert: the
summary then always equals a recomputation from ``metrics``, including after a crash, because the
points, the summary and the journal offset commit or roll back together.

The sum is exact, not a running float sum (which made 5, 1e308, -1e308 sum to 0 and a mean of two
1e308 inf): each chunk's sum is exact (``yanex.store.moments``), and the stored sum is two floats,
``sum`` (the exact sum rounded) and ``sum_error`` (the rest, rounded), which the chunk is added to
exactly; ``mean`` is rounded once from that. A sum beyond float range (``sum`` is then ±inf) and
the rows of revisions before 0011 have no ``sum_error``: the next chunk sums the metric's stored
points again.

What counts: ``count`` every point; the aggregates (min, max, sum, mean, best) only finite ints
and floats. Booleans, NaN, the infinities, text and structures are kept as points and as
first/last values, but are ignored by the aggregates (a NaN loss must not become the best or the
min of a run). ``best`` follows the metric's goal (``metric_goals``, else ``default_goal``); its
step is the first at which the best value was logged. Declaring a goal for a metric already
summed up recomputes its best from the stored points (``set_goals``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, NamedTuple

from yanex.store.dialect import chunks, marks
from yanex.store.ids import POINTS_OF
from yanex.store.metric_names import Goal, default_goal
from yanex.store.moments import as_float, exact_sum, units
from yanex.store.tables import METRIC_SUMMARY

if TYPE_CHECKING:
    from sqlite3 import Connection

# One point: (experiment id, key, step, value, value_json, logged_at as text); its metrics row
# carries the experiment's key instead of its id.
PointRow = tuple[str, str, int, float | None, str | None, str]

_NOT_NUMBERS = frozenset(("true", "false"))  # value_json of a boolean, whose value is 0/1
_EXPERIMENT, _KEY, _VALUE, _JSON = itemgetter(0), itemgetter(1), itemgetter(3), itemgetter(4)
_IDENT = itemgetter(0, 1)
_FIRST, _SECOND = itemgetter(0), itemgetter(1)
# A point is a number for the aggregates: the SQL twin of ``_numbers`` (booleans carry 0/1 in value).
NUMERIC_POINT = "value IS NOT NULL AND (value_json IS NULL OR value_json NOT IN ('true', 'false'))"
# Points of one metric ``sum_stored`` holds in memory at most (about 100 MB).
STORED_AT_ONCE = 1_000_000
# Every column, in the declared order ``_merged`` writes them in.
COLUMNS = METRIC_SUMMARY.names()
_UPSERT = (
    f"INSERT INTO metric_summary ({COLUMNS}) VALUES ({marks(len(METRIC_SUMMARY.columns))}) "
    "ON CONFLICT (experiment_id, key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS.split(", ")[2:])
)


class _Stored(NamedTuple):
    """The part of a stored summary row a new chunk is merged with (first and last come from
    the chunk or stay as stored)."""

    points: int  # the count column (a NamedTuple field cannot be named count)
    first: float | None
    first_json: str | None
    first_step: int
    numeric_count: int
    min: float | None
    max: float | None
    sum: float | None
    sum_error: float | None
    goal: str
    best: float | None
    step_of_best: int | None


def _numbers(rows: Sequence[PointRow]) -> tuple[list[float], list[int] | None]:
    """The finite numbers among ``rows`` and their steps; None for the steps when every row is a
    number (a float logs no JSON text), so the common case makes no per-point Python call."""
    if not any(map(_JSON, rows)):  # JSON text is never empty: none at all means only floats
        return list(map(_VALUE, rows)), None
    values: list[float] = []
    steps: list[int] = []
    for _, _, step, value, value_json, _ in rows:
        if value is not None and value_json not in _NOT_NUMBERS:
            values.append(value)
            steps.append(step)
    return values, steps


def _by_metric(points: Sequence[PointRow]) -> dict[tuple[str, str], Sequence[PointRow]]:
    """Each metric's points in logging order. A journal usually repeats the same keys in the same
    order on every line: then each metric is a slice with a stride (C speed), else a stable sort."""
    experiments = set(map(_EXPERIMENT, points))
    if len(experiments) == 1:
        (experiment_id,) = experiments
        keys = list(map(_KEY, points))
        period = keys.index(keys[0], 1) if keys.count(keys[0]) > 1 else len(keys)
        pattern = keys[:period]
        if (
            len(keys) % period == 0
            and len(set(pattern)) == period
            and keys == pattern * (len(keys) // period)
        ):
            return {(experiment_id, key): points[offset::period] for offset, key in enumerate(pattern)}
    ordered = sorted(points, key=_IDENT)  # stable: each metric's points stay in logging order
    return {ident: list(rows) for ident, rows in groupby(ordered, key=_IDENT)}


def declared_goals(conn: Connection, experiment_id: str) -> dict[str, str]:
    """The goals declared for one experiment (``metric_goals``; a re-run declares them again)."""
    found = conn.execute("SELECT key, goal FROM metric_goals WHERE experiment_id = ?", (experiment_id,))
    return {key: goal for key, goal in found}


def _stored(conn: Connection, experiment_id: str, keys: Sequence[str]) -> dict[str, _Stored]:
    found: dict[str, _Stored] = {}
    for part in chunks(conn, keys, 1):
        rows = conn.execute(
            "SELECT key, count, first, first_json, first_step, numeric_count, min, max, sum, sum_error, "
            f"goal, best, step_of_best FROM metric_summary WHERE experiment_id = ? AND key IN "
            f"({marks(len(part))})",
            (experiment_id, *part),
        )
        found.update((row[0], _Stored(*row[1:])) for row in rows)
    return found


def fold_points(conn: Connection, points: Sequence[PointRow]) -> None:
    """Merge ``points`` (in logging order, already inserted into ``metrics``) into their
    experiments' ``metric_summary`` rows, in the caller's transaction."""
    if not points:
        return
    metrics = _by_metric(points)
    writes: list[tuple[object, ...]] = []
    for experiment_id in dict.fromkeys(experiment_id for experiment_id, _ in metrics):
        goals = declared_goals(conn, experiment_id)
        keys = [key for (eid, key) in metrics if eid == experiment_id]
        stored = _stored(conn, experiment_id, keys)
        for key in keys:
            rows = metrics[(experiment_id, key)]
            goal = goals.get(key) or default_goal(key)
            old = stored.get(key)
            values, steps = _numbers(rows)
            total = exact_sum(values)
            if old is not None:
                known = _stored_sum(old)
                # Else summed again: the chunk's points are in ``metrics`` already.
                total = known + total if known is not None else _points_sum(conn, experiment_id, key)
            writes.append(_merged(rows, values, steps, total, old, goal))
    conn.executemany(_UPSERT, writes)


def _stored_sum(old: _Stored) -> int | None:
    """The exact stored sum (units of ``yanex.store.moments``), None when it is not kept."""
    if old.sum is None:
        return 0  # no number yet
    if old.sum_error is None or not math.isfinite(old.sum):
        return None
    return units(old.sum) + units(old.sum_error)


def _points_sum(conn: Connection, experiment_id: str, key: str) -> int:
    """The exact sum of one metric's stored numbers."""
    found = conn.execute(
        f"SELECT value FROM metrics WHERE {POINTS_OF} AND key = ? AND {NUMERIC_POINT}",
        (experiment_id, key),
    )
    return exact_sum(value for (value,) in found)


def _merged(
    rows: Sequence[PointRow],
    values: list[float],
    steps: list[int] | None,
    total: int,
    old: _Stored | None,
    goal: str,
    count: int | None = None,
) -> tuple[object, ...]:
    """The summary row of one metric: ``rows`` (its new points, whose numbers are ``values`` at
    ``steps``) merged into ``old``; ``total`` is the exact sum of every number, old and new.
    ``count`` is how many points ``rows`` stands for when it holds only the first and the last
    (``sum_stored``)."""
    last, first = rows[-1], rows[0]
    count, numeric = len(rows) if count is None else count, len(values)
    low = min(values) if values else None
    high = max(values) if values else None
    best = low if goal == "min" else high
    best_step = None
    if best is not None:
        at = values.index(best)
        best_step = rows[at][2] if steps is None else steps[at]
    first_value = (first[3], first[4], first[2])
    if old is not None:
        first_value = (old.first, old.first_json, old.first_step)
        count += old.points
        numeric += old.numeric_count
        low = _pick(min, old.min, low)
        high = _pick(max, old.max, high)
        # A tie keeps the earlier step: best is where the value was first reached.
        if old.best is not None and (best is None or _better(old.best, best, goal)):
            best, best_step = old.best, old.step_of_best
    rounded = error = mean = None
    if numeric:
        rounded, mean = as_float(total), as_float(total, numeric)
        if math.isfinite(rounded):
            error = as_float(total - units(rounded))
    last_value = (last[3], last[4], last[2], last[5])
    return (
        last[0],
        last[1],
        count,
        *last_value,
        *first_value,
        numeric,
        low,
        high,
        rounded,
        error,
        mean,
        goal,
        best,
        best_step,
    )


class Summed(NamedTuple):
    """An experiment's summaries summed up from its stored points (``sum_stored``)."""

    rows: list[tuple[object, ...]]  # as ``metric_summary`` holds them
    folded: list[str]  # metrics of more than ``STORED_AT_ONCE`` points: folded in chunks instead


def sum_stored(conn: Connection, experiment_id: str) -> Summed:
    """The rows ``fold_points`` makes of one experiment's stored points (``yanex import`` copies
    points, never summaries), read on ``conn`` without writing: any connection to a database that
    holds those points and their goals will do (an import sums up its source's while it copies
    the points, in a thread).

    Only each metric's numbers pass through Python, with their steps (the exact sum, the best and
    its step need them); its count and its first and last points are read by SQLite: a million
    points in about half the time of folding every point (``tests/test_metric_summary.py`` holds
    the two equal). A metric of more than ``STORED_AT_ONCE`` points is left to ``write_summed``,
    which folds it in chunks, so memory stays bounded."""
    goals = declared_goals(conn, experiment_id)
    summed = Summed([], [])
    plain = conn.cursor()
    plain.row_factory = None  # tuples, whatever rows the connection makes: a million of them
    metrics = plain.execute(
        f"SELECT key, count(*), min(id), max(id) FROM metrics WHERE {POINTS_OF} GROUP BY key",
        (experiment_id,),
    ).fetchall()
    for key, count, first_id, last_id in metrics:
        if count > STORED_AT_ONCE:
            summed.folded.append(key)
            continue
        ends = {
            row[0]: (experiment_id, key, *row[1:])
            for row in plain.execute(
                "SELECT id, step, value, value_json, logged_at FROM metrics WHERE id IN (?, ?)",
                (first_id, last_id),
            ).fetchall()
        }
        numbers = plain.execute(
            f"SELECT step, value FROM metrics WHERE {POINTS_OF} AND key = ? AND {NUMERIC_POINT} ORDER BY id",
            (experiment_id, key),
        ).fetchall()
        steps, values = list(map(_FIRST, numbers)), list(map(_SECOND, numbers))
        rows = [ends[first_id], ends[last_id]]
        goal = goals.get(key) or default_goal(key)
        summed.rows.append(_merged(rows, values, steps, exact_sum(values), None, goal, count))
    return summed


def write_summed(conn: Connection, experiment_id: str, summed: Summed) -> None:
    """Make ``summed`` the experiment's summaries, in the caller's transaction; its metrics left
    to fold are folded from the points of ``conn``, a chunk at a time."""
    conn.execute("DELETE FROM metric_summary WHERE experiment_id = ?", (experiment_id,))
    conn.executemany(_UPSERT, summed.rows)
    for key in summed.folded:
        found = conn.cursor()
        found.row_factory = None
        found.execute(
            f"SELECT ?, key, step, value, value_json, logged_at FROM metrics WHERE {POINTS_OF} AND key = ? "
            "ORDER BY id",
            (experiment_id, experiment_id, key),
        )
        while chunk := found.fetchmany(STORED_AT_ONCE):
            fold_points(conn, chunk)


def summarise_stored(conn: Connection, experiment_id: str) -> None:
    """Sum up one experiment's stored points again into its summaries, in the caller's transaction."""
    write_summed(conn, experiment_id, sum_stored(conn, experiment_id))


def _pick(choose: Callable[[float, float], float], old: float | None, new: float | None) -> float | None:
    if old is None:
        return new
    if new is None:
        return old
    return choose(old, new)


def _better(old: float, new: float, goal: str) -> bool:
    """Whether the stored best stays: as good as the chunk's or better."""
    return old <= new if goal == "min" else old >= new


def set_goals(conn: Connection, experiment_id: str, goals: Mapping[str, Goal]) -> None:
    """Declare metric directions for one experiment, in the caller's transaction; a metric
    already summed up under another goal gets its best recomputed from its points."""
    if not goals:
        return
    conn.executemany(
        "INSERT INTO metric_goals (experiment_id, key, goal) VALUES (?, ?, ?) "
        "ON CONFLICT (experiment_id, key) DO UPDATE SET goal = excluded.goal",
        [(experiment_id, key, goal) for key, goal in goals.items()],
    )
    for key, goal in goals.items():
        order = "ASC" if goal == "min" else "DESC"
        best = (
            f"SELECT {{}} FROM metrics WHERE {POINTS_OF} AND key = ? AND {NUMERIC_POINT} "
            f"ORDER BY value {order}, id LIMIT 1"
        )
        conn.execute(
            f"UPDATE metric_summary SET goal = ?, best = ({best.format('value')}), "
            f"step_of_best = ({best.format('step')}) WHERE experiment_id = ? AND key = ? AND goal <> ?",
            (goal, experiment_id, key, experiment_id, key, experiment_id, key, goal),
        )


__all__ = [
    "COLUMNS",
    "NUMERIC_POINT",
    "STORED_AT_ONCE",
    "PointRow",
    "Summed",
    "declared_goals",
    "fold_points",
    "set_goals",
    "sum_stored",
    "summarise_stored",
    "write_summed",
]
