"""One metric's curve for a chart: reduced to a width, and the points logged since a cursor, for a
page that follows a running experiment.

A chart of a million points draws no better than one of two points per pixel, and sampling (one
point in N) hides spikes. ``series`` splits the step range into ``buckets`` of equal width and
keeps each bucket's lowest and highest point (its step and value), so every spike stays. Zooming in
asks for a narrower step range, at full resolution once it holds few enough points.

Steps and values are read from the ``(experiment_local_id, key, step, value)`` index alone (SQLite
takes the other columns of a ``MIN()``/``MAX()`` query from the row holding the minimum or
maximum); ``logged_at`` costs a table lookup per point, so times are read only when asked for
(a chart with x = time). How a range is reduced depends on its buckets' size, measured on 30 runs
of 10,000 points and on one of a million (``benchmarks/bench_ui.py``): small buckets by two
``GROUP BY`` statements per curve (one sort of its points each), large ones by two index range
scans per bucket, which sort nothing.

``metrics.id`` grows in logging order, so the largest id seen is a cursor: ``tails`` reads the
rows after it, walking the table's rowid from there, never the experiment's history; a page that
follows a fast logger gets each poll's new points reduced the same way, on a grid whose whole
buckets are read once for every page that follows the metric (``KeptBuckets``).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from yanex.store.dialect import chunks, marks
from yanex.store.ids import local_ids

# Points per bucket from which a bucket is read by its own two range scans rather than by one sort
# of the whole range: a statement costs about as much as sorting this many points (measured).
SCANNED_BUCKET = 64


@dataclass(frozen=True)
class Series:
    """One metric's finite values in a step range, by step: ``steps`` and ``values`` aligned, and
    ``times`` (seconds since the epoch) when asked for, else None. ``reduced``: each bucket of
    steps is its lowest and highest point (one when they are the same point), in step order, out
    of ``count`` points in the range; ``lowest``/``highest``: the range's first and last step
    (None when it has no point)."""

    key: str
    steps: list[int]
    values: list[float]
    times: list[float] | None
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
    return datetime.fromisoformat(text + "+00:00" if len(text) <= 26 else text).timestamp()


def _times(conn: sqlite3.Connection, ids: Sequence[int]) -> list[float]:
    """The times of the points ``ids``, in their order: a lookup by rowid each."""
    found: dict[int, float] = {}
    unique = sorted(set(ids))
    for part in chunks(conn, unique):
        query = f"SELECT id, logged_at FROM metrics WHERE id IN ({marks(len(part))})"
        found.update((i, _seconds(text)) for i, text in conn.execute(query, list(part)))
    return [found[i] for i in ids]


@dataclass(frozen=True)
class _Range:
    """The points of one experiment's metric a read covers: ``where`` binds ``args``;
    ``points`` binds ``point_args``, the same points without their step range, for a statement
    that bounds the steps itself (SQLite starts an index range at one lower bound of a column, not
    the largest of several: a bucket's own bound must be the only one)."""

    where: str
    args: list[object]
    points: str
    point_args: list[object]


def step_bounds(first: int | None, last: int | None) -> tuple[str, list[object]]:
    """The conditions (`` AND ...``) keeping steps ``first`` to ``last`` (either open), and
    their arguments."""
    sql = ""
    args: list[object] = []
    if first is not None:
        sql += " AND step >= ?"
        args.append(first)
    if last is not None:
        sql += " AND step <= ?"
        args.append(last)
    return sql, args


def _range(
    local_id: int, key: str, until: int, first: int | None, last: int | None, after: int = 0
) -> _Range:
    points = "experiment_local_id = ? AND key = ? AND id <= ?"
    point_args: list[object] = [local_id, key, until]
    if after:
        points += " AND id > ?"
        point_args.append(after)
    bounds, bound_args = step_bounds(first, last)
    return _Range(points + bounds, [*point_args, *bound_args], points, point_args)


def _all(conn: sqlite3.Connection, points: _Range) -> list[tuple[int, int, float]]:
    """Every finite point of ``points`` as (step, id, value), in step order: the index alone."""
    query = (
        f"SELECT step, id, value FROM metrics WHERE {points.where} AND value IS NOT NULL ORDER BY step, id"
    )
    return conn.execute(query, points.args).fetchall()


Bucket = tuple[int, list[tuple[int, int, float]]]  # its count, its ends as (step, id, value)


def _reduce(
    conn: sqlite3.Connection, points: _Range, low: int, high: int, buckets: int, *, scan: bool
) -> dict[int, Bucket]:
    """``points`` (steps ``low`` to ``high``) in ``buckets`` buckets of equal width, by number
    (those holding a point): each one's count and its lowest and highest finite point, in step
    order. ``scan``: read bucket by bucket (large buckets), else by two sorts of the range."""
    span = high - low + 1
    found: dict[int, Bucket] = {}
    if not scan:
        # A bucket's number grows with the step, but SQLite cannot know it: each GROUP BY sorts
        # the range's points once. One MIN() or MAX() per statement, so that step and id are the
        # minimum's or maximum's own.
        query = (
            "SELECT (step - ?) * ? / ? AS bucket, COUNT(*), {}(value), step, id FROM metrics "
            f"WHERE {points.where} GROUP BY bucket"
        )
        bound = [low, buckets, span, *points.args]
        lows = conn.execute(query.format("MIN"), bound).fetchall()
        highs = conn.execute(query.format("MAX"), bound).fetchall()
        for (number, count, lowest, *at_low), (_, _, highest, *at_high) in zip(lows, highs, strict=True):
            found[number] = (count, _ordered(at_low, lowest, at_high, highest))
        return found
    starts = [low + (i * span + buckets - 1) // buckets for i in range(buckets + 1)]
    bucket = f"FROM metrics WHERE {points.points} AND step >= ? AND step < ?"
    query = (
        f"SELECT COUNT(*), MIN(value), step, id {bucket} UNION ALL SELECT 0, MAX(value), step, id {bucket}"
    )
    for number, (step_from, step_to) in enumerate(itertools.pairwise(starts)):
        if step_to <= step_from:
            continue
        bounds = [step_from, step_to]
        (count, lowest, *at_low), (_, highest, *at_high) = conn.execute(
            query, [*points.point_args, *bounds, *points.point_args, *bounds]
        ).fetchall()
        if count:
            found[number] = (count, _ordered(at_low, lowest, at_high, highest))
    return found


def _flat(buckets: dict[int, Bucket]) -> tuple[int, list[tuple[int, int, float]]]:
    """The buckets' count and their ends, in bucket order."""
    ends = [point for number in sorted(buckets) for point in buckets[number][1]]
    return sum(count for count, _ in buckets.values()), ends


def _ordered(
    at_low: list[int], lowest: float | None, at_high: list[int], highest: float
) -> list[tuple[int, int, float]]:
    """A bucket's lowest and highest points (each with its step and id) in step order, then
    logging order; one when they are the same point, none when the bucket has no finite value."""
    if lowest is None:
        return []
    (step_a, id_a), (step_b, id_b) = at_low, at_high
    if id_a == id_b:
        return [(step_a, id_a, lowest)]
    a, b = (step_a, id_a, lowest), (step_b, id_b, highest)
    return [a, b] if (step_a, id_a) < (step_b, id_b) else [b, a]


def series(
    conn: sqlite3.Connection,
    experiment_id: str,
    key: str,
    *,
    buckets: int,
    until: int,
    first: int | None = None,
    last: int | None = None,
    times: bool = False,
) -> Series:
    """The finite points of ``key`` with ``first <= step <= last`` (either open) and
    ``id <= until`` (the page's cursor, so a live page's later fetches neither miss nor repeat a
    point); all of them when the range holds at most ``2 * buckets`` points, else the lowest and
    highest of each bucket (see the module docstring; ``count`` then counts the range's points,
    non-finite ones too). ``times``: read each point's time too."""
    (local_id,) = conn.execute(
        "SELECT local_id FROM experiments WHERE id = ?", (experiment_id,)
    ).fetchone() or (None,)
    if local_id is None:
        return Series(key, [], [], [] if times else None, 0, False, None, None)
    points = _range(local_id, key, until, first, last)
    # The ends of the range are two probes of the index, and its points are counted only up to
    # what tells how to read them.
    ends_query = f"SELECT step FROM metrics WHERE {points.where} ORDER BY step {{}} LIMIT 1"
    low = conn.execute(ends_query.format("ASC"), points.args).fetchone()
    if low is None:
        return Series(key, [], [], [] if times else None, 0, False, None, None)
    (high,) = conn.execute(ends_query.format("DESC"), points.args).fetchone()
    (low,) = low
    (count,) = conn.execute(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM metrics WHERE {points.where} LIMIT ?)",
        [*points.args, SCANNED_BUCKET * buckets],
    ).fetchone()
    if count <= 2 * buckets:
        rows = _all(conn, points)
        reduced = False
    else:
        count, rows = _flat(_reduce(conn, points, low, high, buckets, scan=count >= SCANNED_BUCKET * buckets))
        reduced = True
    steps = [row[0] for row in rows]
    values = [row[2] for row in rows]
    moments = _times(conn, [row[1] for row in rows]) if times else None
    return Series(key, steps, values, moments, count, reduced, low, high)


@dataclass(frozen=True)
class Tail:
    """One experiment's points of ``key`` logged after a page's cursor, as ``Series`` holds
    them: all, or (``reduced``) each bucket's lowest and highest of ``count``."""

    experiment_id: str
    key: str
    steps: list[int]
    values: list[float]
    times: list[float] | None
    count: int
    reduced: bool


def tails(
    conn: sqlite3.Connection,
    experiment_ids: Sequence[str],
    after: int,
    *,
    buckets: int,
    key: str | None = None,
    times: bool = False,
    kept: KeptBuckets | None = None,
) -> tuple[int, list[Tail]]:
    """The snapshot's cursor and the finite points the experiments logged with ``id > after`` (of
    ``key`` only, when given), by experiment and key, for a chart of ``buckets`` buckets.

    Up to ``2 * buckets`` new points in all are read in one walk of the rowid from the cursor and
    sent as they are. More are reduced per metric: the steps from its first new point to its
    last, in buckets of a width that puts at most ``buckets`` over the metric's whole range, each
    bucket's lowest and highest point read from the index (``series``' reduction), so a live page
    keeps about two points per pixel. The new steps are taken to follow the old ones, as a script
    logs them (a point logged later at an earlier step shows when the curve is read again: zoom,
    reset, or the run's end); so the buckets wholly logged can be ``kept`` for every page
    following the metric (``KeptBuckets``), and ten pages read a point about once, not ten times."""
    local = local_ids(conn, experiment_ids)
    top = cursor(conn)
    if not local:
        return top, []
    query = (
        f"SELECT id, experiment_local_id, key, step, value FROM metrics WHERE id > ? AND id <= ? AND "
        f"+experiment_local_id IN ({marks(len(local))})"
    )
    args: list[object] = [after, top, *local]
    if key is not None:
        query += " AND +key = ?"
        args.append(key)
    # The experiments' condition is kept off its index (``+``): SQLite walks the rowid from the
    # cursor, reading the points logged since, not these experiments' histories.
    rows = conn.execute(query + " ORDER BY id LIMIT ?", [*args, 2 * buckets + 1]).fetchall()
    found: dict[tuple[int, str], list[tuple[int, int, float]]] = {}
    first_new: dict[tuple[int, str], int] = {}
    for i, e, k, step, value in rows:
        first_new[(e, k)] = min(step, first_new.get((e, k), step))
        if value is not None:
            found.setdefault((e, k), []).append((step, i, value))
    if len(rows) <= 2 * buckets:
        counts: dict[tuple[int, str], int] = {}
        for _, e, k, _, _ in rows:
            counts[(e, k)] = counts.get((e, k), 0) + 1
        return top, [
            _tail(conn, local[e], k, found.get((e, k), []), n, False, times) for (e, k), n in counts.items()
        ]
    result = []
    for e, experiment_id in local.items():
        for k in [key] if key is not None else _keys(conn, e):
            new = _reduced_tail(conn, (e, experiment_id), k, after, top, buckets, first_new.get((e, k)), kept)
            if new is not None:
                number, points, reduced = new
                result.append(_tail(conn, experiment_id, k, points, number, reduced, times))
    return top, result


def _tail(
    conn: sqlite3.Connection,
    experiment_id: str,
    key: str,
    points: list[tuple[int, int, float]],
    count: int,
    reduced: bool,
    times: bool,
) -> Tail:
    moments = _times(conn, [p[1] for p in points]) if times else None
    return Tail(experiment_id, key, [p[0] for p in points], [p[2] for p in points], moments, count, reduced)


def _keys(conn: sqlite3.Connection, local_id: int) -> list[str]:
    """The metrics an experiment logged: one probe of the index per key."""
    keys: list[str] = []
    query = "SELECT MIN(key) FROM metrics WHERE experiment_local_id = ? AND key > ?"
    while (found := conn.execute(query, (local_id, keys[-1] if keys else "")).fetchone()[0]) is not None:
        keys.append(found)
    return keys


class KeptBuckets:
    """Whole buckets of live tails, kept for every page following the same metric: bucket ``j``
    of width ``w`` holds steps ``j * w`` to ``(j + 1) * w - 1``, and once the metric has logged a
    later step no point lands in it again (steps follow one another), so each of its points is
    read once for all the pages that follow it, not once per page. Keyed by experiment id (never
    reused), key, width and number; the least recently used are dropped past ``limit``. Shared by
    the server's threads."""

    def __init__(self, limit: int = 100_000) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[str, str, int, int], Bucket] = OrderedDict()
        # Pages that poll together (tabs reopened at once) would each read the buckets none has
        # kept yet: one reads them while the others of the same metric wait, then find them kept.
        self._readers = [threading.Lock() for _ in range(64)]

    def reader(self, experiment_id: str, key: str, width: int) -> threading.Lock:
        """The lock to hold while reading and keeping buckets of this metric's grid."""
        return self._readers[hash((experiment_id, key, width)) % len(self._readers)]

    def get(self, experiment_id: str, key: str, width: int, numbers: range) -> dict[int, Bucket]:
        found = {}
        with self._lock:
            for number in numbers:
                bucket = self._kept.get((experiment_id, key, width, number))
                if bucket is not None:
                    self._kept.move_to_end((experiment_id, key, width, number))
                    found[number] = bucket
        return found

    def put(self, experiment_id: str, key: str, width: int, buckets: dict[int, Bucket]) -> None:
        with self._lock:
            for number, bucket in buckets.items():
                self._kept[(experiment_id, key, width, number)] = bucket
            while len(self._kept) > self._limit:
                self._kept.popitem(last=False)


def _first_new_step(
    conn: sqlite3.Connection, local_id: int, key: str, after: int, top: int, lowest: int, highest: int
) -> int:
    """The step of a metric's first point logged after the cursor, whose last step (``highest``)
    is new: steps follow one another, so a binary search over the steps finds where the old points
    end, a probe of the index each (about 40 for any range of steps), where walking the rowid from
    the cursor would read every point every run logged since."""
    probe = (
        "SELECT step, id FROM metrics WHERE experiment_local_id = ? AND key = ? AND step >= ? AND id <= ? "
        "ORDER BY step LIMIT 1"
    )
    low, high = lowest, highest
    while low < high:
        middle = (low + high) // 2
        step, point = conn.execute(probe, (local_id, key, middle, top)).fetchone()
        if point > after:
            high = middle
        else:
            low = step + 1  # no step between middle and this old one
    (step, _) = conn.execute(probe, (local_id, key, low, top)).fetchone()
    return int(step)


def _reduced_tail(
    conn: sqlite3.Connection,
    experiment: tuple[int, str],
    key: str,
    after: int,
    top: int,
    buckets: int,
    first_new: int | None,
    kept: KeptBuckets | None,
) -> tuple[int, list[tuple[int, int, float]], bool] | None:
    """One metric's new points (``tails``): their count, the points sent and whether they are
    reduced; None without any. ``experiment``: its local id and id."""
    local_id, experiment_id = experiment
    ends = (
        "SELECT step, id FROM metrics WHERE experiment_local_id = ? AND key = ? AND id <= ? "
        "ORDER BY step {} LIMIT 1"
    )
    last = conn.execute(ends.format("DESC"), (local_id, key, top)).fetchone()
    if last is None or (first_new is None and last[1] <= after):
        return None  # its last step is old: it logged nothing since (steps follow one another)
    lowest = conn.execute(ends.format("ASC"), (local_id, key, top)).fetchone()[0]
    if first_new is None:  # not among the first new points: found by its step
        first_new = _first_new_step(conn, local_id, key, after, top, lowest, int(last[0]))
    high = max(int(last[0]), first_new)
    # Buckets on a grid of steps, a power of two wide: at most ``buckets`` over the metric's whole
    # range, and the same grid for every page of the same width as the run grows.
    width = 1 << max(0, math.ceil(math.log2((high - lowest + 1) / buckets)))
    first, final = first_new // width, high // width
    new = _range(local_id, key, top, first_new, None, after=after)
    (number,) = conn.execute(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM metrics WHERE {new.where} LIMIT ?)",
        [*new.args, 2 * (final - first + 1) + 1],
    ).fetchone()
    if number <= 2 * (final - first + 1):
        return number, _all(conn, new), False

    def part(low: int, high: int) -> dict[int, Bucket]:
        """The new points from step ``low`` to ``high`` as one bucket (absent without any)."""
        return _reduce(conn, _range(local_id, key, top, low, high, after=after), low, high, 1, scan=True)

    # The first bucket from the first new step (the page has the rest of it), the last one as far
    # as it goes: read for this page. The whole ones between: kept, or read and kept.
    found: dict[int, Bucket] = {
        first + n: b for n, b in part(first_new, min(high, (first + 1) * width - 1)).items()
    }
    if final > first:
        whole = range(first + 1, final)
        with kept.reader(experiment_id, key, width) if kept else contextlib.nullcontext():
            have = kept.get(experiment_id, key, width, whole) if kept else {}
            missing = [n for n in whole if n not in have]
            if missing:
                low, high_missing = missing[0] * width, (missing[-1] + 1) * width - 1
                points = _range(local_id, key, top, low, high_missing)  # all new: their steps follow
                read = _reduce(
                    conn,
                    points,
                    low,
                    high_missing,
                    len(range(missing[0], missing[-1] + 1)),
                    scan=width >= SCANNED_BUCKET,
                )
                fresh = {n: read.get(n - missing[0], (0, [])) for n in missing}
                if kept:
                    kept.put(experiment_id, key, width, fresh)
                have = {**have, **fresh}
        found.update(have)
        found.update({final + n: b for n, b in part(final * width, high).items()})
    count, points_sent = _flat(found)
    return count, points_sent, True
