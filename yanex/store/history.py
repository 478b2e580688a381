"""Metric history: every logged point, streamed from the sqlite3 read path, and per-metric summaries.

Points are read in index order, ``(experiment_local_id, key, step)`` with the insertion id breaking ties,
one experiment at a time, and yielded as the cursor returns them: a million points of one run
stream in constant memory (``benchmarks/bench_history.py``). Which experiments is always an
``ExperimentFilter`` (``yanex.store.filters``); this module adds no condition of its own.
Standard library only, like the rest of the read path.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from yanex.store.dialect import chunks, marks
from yanex.store.ids import POINTS_OF
from yanex.store.metric_values import JsonValue, latest_of
from yanex.store.selection import select_ids

if TYPE_CHECKING:
    from yanex.store.filters import ExperimentFilter

# Rows fetched from SQLite per round trip: large enough to amortise the call, small enough to
# keep memory flat.
FETCH = 2_048


class MetricPoint(NamedTuple):
    """One logged value: the long-form row ``yanex metrics`` and ``yanex.metrics`` return.

    A NamedTuple rather than a dataclass: a million of them are made per second or two.
    ``value`` is the value as logged (a float, an int, text, a structure, or ``"NaN"``/
    ``"Infinity"``/``"-Infinity"`` for non-finite floats, as stored); ``logged_at`` is aware UTC.
    """

    experiment_id: str
    key: str
    step: int
    value: JsonValue
    logged_at: datetime


def _decoded(value: float | None, value_json: str | None) -> JsonValue:
    return value if value_json is None else json.loads(value_json)


def _moment(text: str) -> datetime:
    """A stored time as aware UTC. Times are stored naive UTC (26 characters); parsing with the
    offset attached costs a seventh of parsing and then replacing tzinfo."""
    if len(text) <= 26:
        return datetime.fromisoformat(text + "+00:00")
    return datetime.fromisoformat(text).astimezone(UTC)  # written with an offset


def _rows(
    conn: sqlite3.Connection,
    experiment_id: str,
    keys: Sequence[str],
    columns: str,
    *,
    descending: bool = False,
    limit: int | None = None,
) -> Iterator[Any]:
    query = f"SELECT {columns} FROM metrics WHERE {POINTS_OF}"
    order = " ORDER BY key DESC, step DESC, id DESC" if descending else " ORDER BY key, step, id"
    # The keys in order, a slice per statement: the slices' rows, one after the other, are in order.
    left = limit  # rows still wanted, over every slice
    for part in chunks(conn, sorted(set(keys), reverse=descending), 2) if keys else [()]:
        if left is not None and left <= 0:
            return
        filtered = f"{query} AND key IN ({marks(len(part))})" if part else query
        limited = "" if left is None else " LIMIT ?"
        args = [experiment_id, *part, *([] if left is None else [left])]
        cursor = conn.execute(filtered + order + limited, args)
        while batch := cursor.fetchmany(FETCH):
            if left is not None:
                left -= len(batch)
            yield from batch


def curve(
    conn: sqlite3.Connection,
    experiment_id: str,
    key: str,
    *,
    descending: bool = False,
    limit: int | None = None,
) -> Iterator[tuple[int, JsonValue]]:
    """``(step, value)`` of the points of one metric, by step (then logging order), streamed;
    ``descending``: the last step (the last point logged at it) first; ``limit``: only the first
    that many in that order."""
    rows = _rows(conn, experiment_id, [key], "step, value, value_json", descending=descending, limit=limit)
    for step, value, value_json in rows:
        yield step, (value if value_json is None else json.loads(value_json))


def curve_after(
    conn: sqlite3.Connection, experiment_id: str, key: str, after: int | None
) -> list[tuple[int, JsonValue]]:
    """``(step, value)`` of one metric's points past step ``after`` (all of them for None), by step
    then logging order: what a sweep's pruning reads of a running experiment every few seconds,
    one index range from where it stopped reading."""
    query = f"SELECT step, value, value_json FROM metrics WHERE {POINTS_OF} AND key = ?"
    args: list[object] = [experiment_id, key]
    if after is not None:
        query += " AND step > ?"
        args.append(after)
    rows = conn.execute(query + " ORDER BY step, id", args).fetchall()
    return [(step, _decoded(value, value_json)) for step, value, value_json in rows]


def points(conn: sqlite3.Connection, ids: Sequence[str], keys: Sequence[str] = ()) -> Iterator[MetricPoint]:
    """Every point of the experiments ``ids`` (in that order), of ``keys`` or of every metric,
    by key then step, streamed on the open snapshot ``conn``."""
    columns = "key, step, value, value_json, logged_at"
    for experiment_id in ids:
        for key, step, value, value_json, logged_at in _rows(conn, experiment_id, keys, columns):
            decoded = value if value_json is None else json.loads(value_json)
            yield MetricPoint(experiment_id, key, step, decoded, _moment(logged_at))


def select_points(
    conn: sqlite3.Connection, flt: ExperimentFilter, keys: Sequence[str] = ()
) -> Iterator[MetricPoint]:
    """``points`` of the experiments ``flt`` selects, in its order."""
    yield from points(conn, select_ids(conn, flt), keys)


@dataclass(frozen=True)
class MetricStats:
    """One metric of one experiment summed up: ``yanex show --metrics``.

    ``minimum``/``maximum`` are over the finite numeric values only (NaN, infinities, text and
    structures are left out; None when there is none). ``count`` counts every point;
    ``first_step`` and ``last_step`` are the steps of the first and the last point logged, which
    need not span every step between them.
    """

    key: str
    count: int
    last: JsonValue
    minimum: float | None
    maximum: float | None
    first_step: int
    last_step: int


def metric_stats(conn: sqlite3.Connection, experiment_id: str) -> list[MetricStats]:
    """Every metric of one experiment summed up, by name, from ``metric_summary`` (kept at
    ingest, so this reads one row per metric however many points there are)."""
    rows = conn.execute(
        "SELECT key, count, min, max, first_step, last_step, last, last_json FROM metric_summary "
        "WHERE experiment_id = ? ORDER BY key",
        (experiment_id,),
    )
    return [
        MetricStats(key, count, _decoded(last, last_json), low, high, first, final)
        for key, count, low, high, first, final, last, last_json in rows
    ]


def trends(conn: sqlite3.Connection, experiment_id: str, width: int) -> dict[str, list[float]]:
    """Each metric's finite values averaged into at most ``width`` buckets of equal step range
    (the points of a sparkline), in one query however many points there are."""
    rows = conn.execute(
        "WITH this AS (SELECT local_id FROM experiments WHERE id = :id), "
        "span AS (SELECT key, min(step) AS lo, max(step) AS hi FROM metrics "
        "WHERE experiment_local_id = (SELECT local_id FROM this) GROUP BY key) "
        "SELECT m.key, CAST((m.step - span.lo) * 1.0 * :width / (span.hi - span.lo + 1) AS INTEGER) "
        "AS bucket, avg(m.value) FROM metrics AS m JOIN span ON span.key = m.key "
        "WHERE m.experiment_local_id = (SELECT local_id FROM this) AND m.value IS NOT NULL "
        "GROUP BY m.key, bucket ORDER BY m.key, bucket",
        {"id": experiment_id, "width": width},
    )
    found: dict[str, list[float]] = {}
    for key, _bucket, mean in rows:
        found.setdefault(key, []).append(mean)
    return found


@dataclass(frozen=True)
class Progress:
    """Where one experiment is: ``yanex watch``'s row.

    ``metric`` is the metric followed (the one asked for, else the experiment's first by name),
    ``recent`` its last finite values, oldest first, and ``rate`` its steps per second over
    them; ``last_point`` is when any metric was last logged.
    """

    id: str
    name: str | None
    status: str
    last: dict[str, JsonValue]
    metric: str | None
    step: int | None
    recent: list[float]
    rate: float | None
    last_point: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    total: int | None  # the steps the script said it will log (``yanex.set_total``)
    latest_step: int | None  # of any metric


def completion(
    step: int | None, total: int | None, started: datetime | None, ended: datetime | None, now: datetime
) -> tuple[float, float | None] | None:
    """How much of ``total`` steps is done once ``step`` (counted from 0) is logged, between 0
    and 1, and the seconds left at the pace since ``started`` (None once ended, or with no pace
    yet); None without a total or a step."""
    if total is None or step is None:
        return None
    done = min(1.0, max(0.0, (step + 1) / total))
    if ended is not None or started is None or done <= 0:
        return done, None
    elapsed = (now - started).total_seconds()
    return done, max(0.0, elapsed * (1 - done) / done)


def progress(conn: sqlite3.Connection, ids: Sequence[str], metric: str | None, recent: int) -> list[Progress]:
    """The progress of each experiment ``ids`` names, in that order: the last value of every
    metric (``metric_summary``) and the last ``recent`` points of the one followed (by the
    index, however long the run)."""
    heads: dict[str, tuple[str | None, str, str | None, str | None, int | None]] = {}
    for chunk in chunks(conn, ids):
        query = (
            "SELECT id, name, status, started_at, ended_at, total_steps FROM experiments "
            f"WHERE id IN ({marks(len(chunk))})"
        )
        heads.update((i, rest) for i, *rest in conn.execute(query, chunk))
    latest = latest_of(conn, ids)
    found: list[Progress] = []
    for experiment_id in ids:
        if experiment_id not in heads:
            continue
        summaries = latest[experiment_id]
        followed = metric if metric in summaries else next(iter(summaries), None)
        tail = (
            conn.execute(
                f"SELECT step, value, logged_at FROM metrics WHERE {POINTS_OF} AND key = ? "
                "ORDER BY step DESC, id DESC LIMIT ?",
                (experiment_id, followed, recent),
            ).fetchall()[::-1]
            if followed is not None
            else []
        )
        rate = None
        if len(tail) > 1:
            seconds = (_moment(tail[-1][2]) - _moment(tail[0][2])).total_seconds()
            rate = (tail[-1][0] - tail[0][0]) / seconds if seconds > 0 else None
        name, status, started, ended, total = heads[experiment_id]
        found.append(
            Progress(
                id=experiment_id,
                name=name,
                status=status,
                last={key: s.value for key, s in summaries.items()},
                metric=followed,
                step=summaries[followed].step if followed is not None else None,
                recent=[value for _, value, _ in tail if value is not None],
                rate=rate,
                last_point=max((s.logged_at for s in summaries.values()), default=None),
                started_at=None if started is None else _moment(started),
                ended_at=None if ended is None else _moment(ended),
                total=total,
                latest_step=max((s.step for s in summaries.values()), default=None),
            )
        )
    return found
