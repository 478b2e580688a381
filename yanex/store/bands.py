"""Mean ± std bands of one metric for groups of experiments, per bucket of steps: what the compare
page draws for ``--group-by`` without sending every member's history to the browser.

The groups are ``yanex.store.groups.group_experiments``'s (the CLI's ``--group-by``, counting
completed experiments and the latest attempt of each unless the filter names statuses). The
selection's step range is split into ``buckets`` buckets of equal width, as ``yanex.store.series``
splits one curve; one grouped query gives each member's mean value in each bucket (SQLite's
``AVG``: a chart's precision), and per group and bucket the mean and sample standard deviation of
those member means are taken exactly (``yanex.store.moments``), 0 where one member has the bucket.
When the range spans at most ``buckets`` steps, each step is its own bucket: the bands are then
``yanex plot --group-by``'s mean and std at each step (a step logged twice is averaged here, where
the plot keeps its last value).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from yanex.store.dialect import chunks, marks
from yanex.store.groups import Group, Grouping
from yanex.store.ids import local_ids
from yanex.store.metric_values import JsonValue
from yanex.store.moments import mean, stdev
from yanex.store.series import step_bounds


@dataclass(frozen=True)
class Band:
    """One group's curve: at each of ``Bands.steps``, the mean and std over its members (None
    where no member has a point in that bucket); ``runs``: members with a point at all."""

    values: tuple[JsonValue, ...]
    ids: tuple[str, ...]
    runs: int
    means: list[float | None]
    stds: list[float | None]


@dataclass(frozen=True)
class Bands:
    """The groups' bands over common buckets: ``steps`` holds each bucket's first step; ``width``
    the steps per bucket (1: one point per step, not reduced)."""

    key: str
    keys: tuple[str, ...]
    steps: list[int]
    width: float
    bands: list[Band]


def bands(
    conn: sqlite3.Connection,
    grouping: Grouping,
    key: str,
    *,
    buckets: int,
    until: int,
    first: int | None = None,
    last: int | None = None,
    only: Sequence[Group] | None = None,
) -> Bands:
    """The bands of ``key`` for ``grouping``'s groups (those of ``only``, when given), over
    points with ``id <= until`` (the page's cursor) and ``first <= step <= last`` (either open);
    see the module docstring. The buckets are the whole grouping's either way, so that the bands
    of its parts line up."""
    local = local_ids(conn, [i for group in grouping.groups for i in group.ids])
    bounds, bound_args = step_bounds(first, last)
    where = "key = ? AND id <= ? AND value IS NOT NULL" + bounds
    args: list[object] = [key, until, *bound_args]
    # Each member's first and last step: two probes of the (experiment, key, step) index each.
    probe = f"SELECT step FROM metrics WHERE experiment_local_id = ? AND {where} ORDER BY step {{}} LIMIT 1"
    ends = [
        conn.execute(probe.format(order), [local_id, *args]).fetchone()
        for local_id in local
        for order in ("ASC", "DESC")
    ]
    found_ends = [step for (step,) in filter(None, ends)]
    groups = grouping.groups if only is None else only
    if not found_ends:
        return Bands(key, grouping.keys, [], 1.0, [Band(g.values, g.ids, 0, [], []) for g in groups])
    low, high = min(found_ends), max(found_ends)
    span = high - low + 1
    count = min(buckets, span)
    # Each member's mean value per bucket.
    wanted = {i for group in groups for i in group.ids}
    computed = [local_id for local_id, experiment_id in local.items() if experiment_id in wanted]
    member: dict[str, dict[int, float]] = {}
    for chunk in chunks(conn, computed, len(args) + 3):
        query = (
            "SELECT experiment_local_id, (step - ?) * ? / ? AS bucket, AVG(value) FROM metrics "
            f"WHERE experiment_local_id IN ({marks(len(chunk))}) AND {where} "
            "GROUP BY experiment_local_id, bucket"
        )
        for local_id, bucket, value in conn.execute(query, [low, count, span, *chunk, *args]):
            member.setdefault(local[local_id], {})[bucket] = value
    used = sorted({b for points in member.values() for b in points})
    found = []
    for group in groups:
        members = [member[i] for i in group.ids if i in member]
        means: list[float | None] = []
        stds: list[float | None] = []
        for bucket in used:
            values = [points[bucket] for points in members if bucket in points]
            if len(values) == 1:
                means.append(values[0])
                stds.append(0.0)
            else:
                means.append(mean(values) if values else None)
                stds.append(stdev(values) if values else None)
        found.append(Band(group.values, group.ids, len(members), means, stds))
    steps = [low + -(-b * span // count) for b in used]  # the first step of each bucket
    return Bands(key, grouping.keys, steps, span / count, found)
