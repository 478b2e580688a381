"""One metric's curve for a chart: reduced to a width in one pass, and the points logged since a
cursor, for a page that follows a running experiment.

A chart of a million points draws no better than one of two points per pixel, and sampling (one
point in N) hides spikes. ``series`` splits the step range into ``buckets`` of equal width and
keeps each bucket's lowest and highest value, so every spike stays; one small query per bucket
reads its points through the ``(experiment_local_id, key, step)`` index. Zooming in asks for a narrower step
range, at full resolution once it holds few enough points.

``metrics.id`` grows in logging order, so the largest id seen is a cursor: ``points_since`` reads
only the rows after it, walking the table's rowid from there, never the experiment's history.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from yanex.store.dialect import marks
from yanex.store.ids import POINTS_OF, local_ids


@dataclass(frozen=True)
class Series:
    """One metric's finite values in a step range, by step: ``steps``, ``values`` and ``times``
    (seconds since the epoch) aligned. ``reduced``: each bucket of steps is two points (its
    lowest and highest value, in the order the bucket goes) out of ``count`` in the range;
    ``lowest``/``highest``: the range's first and last step (None when it has no point)."""

    key: str
    steps: list[int]
    values: list[float]
    times: list[float]
    count: int
    reduced: bool
    lowest: int | None
    highest: int | None


def cursor(conn: sqlite3.Connection) -> int:
    """The largest ``metrics.id`` of the snapshot (0 for none): every point logged later has a
    larger one."""
    (largest,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM metrics").fetchone()
    return int(largest)


def _seconds(text: str) -> float:
    """A stored time (naive UTC, or with its offset) as seconds since the epoch."""
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def series(
    conn: sqlite3.Connection,
    experiment_id: str,
    key: str,
    *,
    buckets: int,
    until: int,
    first: int | None = None,
    last: int | None = None,
) -> Series:
    """The finite points of ``key`` with ``first <= step <= last`` (either open) and
    ``id <= until`` (the page's cursor, so a live page's later fetches neither miss nor repeat a
    point); all of them when the range holds at most ``2 * buckets`` points, else two per bucket
    (see the module docstring; ``count`` then counts the range's points, non-finite ones too)."""
    # The range's points are counted on the index alone (non-finite values too): reading their
    # values costs a table lookup each, which only the pass that draws them pays.
    where = f"{POINTS_OF} AND key = ? AND id <= ?"
    args: list[object] = [experiment_id, key, until]
    if first is not None:
        where += " AND step >= ?"
        args.append(first)
    if last is not None:
        where += " AND step <= ?"
        args.append(last)
    # The ends of the range are two probes of the index, and its points are counted only up to
    # what a chart draws in full: a reduced range's count is the sum of its buckets' counts.
    ends_query = f"SELECT step FROM metrics WHERE {where} ORDER BY step {{}} LIMIT 1"
    low = conn.execute(ends_query.format("ASC"), args).fetchone()
    high = conn.execute(ends_query.format("DESC"), args).fetchone()
    low, high = (None, None) if low is None else (low[0], high[0])
    (count,) = conn.execute(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM metrics WHERE {where} LIMIT ?)", [*args, 2 * buckets + 1]
    ).fetchone()
    if count <= 2 * buckets:
        rows = conn.execute(
            f"SELECT step, value, logged_at FROM metrics WHERE {where} AND value IS NOT NULL "
            "ORDER BY step, id",
            args,
        )
        steps, values, times = [], [], []
        for step, value, logged_at in rows:
            steps.append(step)
            values.append(value)
            times.append(_seconds(logged_at))
        return Series(key, steps, values, times, len(steps), False, low, high)
    # Each bucket of steps is read on its own, an index range: one query per bucket, each walking
    # only its own points, costs less than one GROUP BY over them all (which sorts every point
    # into a temporary tree). Its point count, step span, lowest and highest value, and the ids of
    # its first and last finite points, whose values (does the bucket go up or down: which of low
    # and high comes first) and times are read afterwards by rowid, two per bucket.
    assert low is not None and high is not None  # more points than the chart draws: some exist
    span = high - low + 1
    starts = [low + (i * span + buckets - 1) // buckets for i in range(buckets + 1)]
    bucket_query = (
        "SELECT COUNT(*), MIN(step), MAX(step), MIN(value), MAX(value), "
        "MIN(CASE WHEN value IS NOT NULL THEN id END), MAX(CASE WHEN value IS NOT NULL THEN id END) "
        f"FROM metrics WHERE {where} AND step >= ? AND step < ?"
    )
    counted = [
        row
        for step_from, step_to in itertools.pairwise(starts)
        if step_to > step_from
        for row in conn.execute(bucket_query, [*args, step_from, step_to])
    ]
    count = sum(row[0] for row in counted)
    grouped = [row[1:] for row in counted if row[3] is not None]
    ids = sorted({i for row in grouped for i in row[4:]})
    ends: dict[int, tuple[float, float]] = {}
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        query = f"SELECT id, value, logged_at FROM metrics WHERE id IN ({', '.join('?' * len(part))})"
        ends.update((i, (value, _seconds(text))) for i, value, text in conn.execute(query, part))
    steps, values, times = [], [], []
    for step_from, step_to, lowest, highest, id_from, id_to in grouped:
        (value_from, time_from), (value_to, time_to) = ends[id_from], ends[id_to]
        steps += [step_from, step_to]
        values += (highest, lowest) if value_from > value_to else (lowest, highest)
        times += [time_from, time_to]
    return Series(key, steps, values, times, count, True, low, high)


@dataclass(frozen=True)
class NewPoint:
    """A point logged after a cursor: its ``metrics.id`` (the next cursor), experiment, key,
    step, value (None when not a finite number) and time in seconds since the epoch."""

    id: int
    experiment_id: str
    key: str
    step: int
    value: float | None
    time: float


def points_since(
    conn: sqlite3.Connection, experiment_ids: Sequence[str], after: int, limit: int, key: str | None = None
) -> list[NewPoint]:
    """At most ``limit`` points of the experiments (of ``key`` only, when given) with
    ``metrics.id > after``, in logging order: one query for every run a page follows. The
    experiments' condition is kept off its index (``+``), so SQLite walks the rowid from the
    cursor: the cost is the points logged since, by any experiment, not these ones' histories."""
    local = local_ids(conn, experiment_ids)
    if not local:
        return []
    query = (
        "SELECT id, experiment_local_id, key, step, value, logged_at FROM metrics WHERE id > ? AND "
        f"+experiment_local_id IN ({marks(len(local))})"
    )
    args: list[object] = [after, *local]
    if key is not None:
        query += " AND +key = ?"
        args.append(key)
    rows = conn.execute(query + " ORDER BY id LIMIT ?", [*args, limit])
    return [NewPoint(i, local[e], k, step, value, _seconds(at)) for i, e, k, step, value, at in rows]
