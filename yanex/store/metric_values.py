"""Metric values as logged, read from ``metric_summary``: each metric's last value and aggregates."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from yanex.store.dialect import aware_time, chunks, marks

JsonValue = Any  # JSON data as json.loads returns it
# The aggregates that are one of the logged values: an int metric's read back as ints.
PICKED = frozenset(("min", "max", "best"))


def metric_value(value: float | None, value_json: str | None) -> JsonValue:
    """A stored metric as logged: JSON text when there is one (an int, text, a structure), else
    the number."""
    return json.loads(value_json) if value_json is not None else value


def as_logged(number: Any, last_json: str | None) -> Any:
    """``number`` (stored as REAL) as an int when the metric is logged as ints (its last value's
    JSON is an int literal) and it is whole: ``metrics.count.max`` is 22, as ``.last`` is."""
    whole = isinstance(number, float) and number.is_integer()
    if whole and last_json is not None and last_json.lstrip("-").isdigit():
        return int(number)
    return number


@dataclass(frozen=True)
class MetricSummary:
    """One metric of one experiment as ``metric_summary`` holds it: the last value (``value``, as
    logged), how many values were logged, and the aggregates over its finite numbers (None when it
    has none; see ``yanex.store.summary``)."""

    key: str
    value: JsonValue
    step: int
    count: int
    logged_at: datetime
    first: JsonValue = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    best: float | None = None
    step_of_best: int | None = None
    goal: str = "max"

    def aggregate(self, name: str) -> JsonValue:
        """The value ``metrics.KEY.<name>`` names (``last`` is ``value``)."""
        return self.value if name == "last" else getattr(self, name)


_SUMMARY_COLUMNS = (
    "experiment_id, key, last, last_json, last_step, count, last_logged_at, first, first_json, "
    "min, max, mean, best, step_of_best, goal"
)


def _summary(row: tuple[Any, ...]) -> MetricSummary:
    _, key, last, last_json, step, count, logged_at, first, first_json, low, high, mean, best, *rest = row
    moment = aware_time(logged_at)
    assert moment is not None
    low, high, best = (as_logged(number, last_json) for number in (low, high, best))
    return MetricSummary(
        key,
        metric_value(last, last_json),
        step,
        count,
        moment,
        metric_value(first, first_json),
        low,
        high,
        mean,
        best,
        *rest,
    )


def latest_of(
    conn: sqlite3.Connection, ids: Sequence[str], keys: Sequence[str] = ()
) -> dict[str, dict[str, MetricSummary]]:
    """The summary of every metric (or of ``keys``) of each experiment, by id then name."""
    found: dict[str, dict[str, MetricSummary]] = {i: {} for i in ids}
    wanted = set(keys)
    for chunk in chunks(conn, ids):
        query = f"SELECT {_SUMMARY_COLUMNS} FROM metric_summary WHERE experiment_id IN ({marks(len(chunk))})"
        for row in conn.execute(query, list(chunk)):
            if not wanted or row[1] in wanted:
                found[row[0]][row[1]] = _summary(row)
    return {i: dict(sorted(found[i].items())) for i in ids}
