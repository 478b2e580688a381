"""What the tests read back from the store: one experiment, or its metric points in logging order.

Both read through the store's one way in (``yanex.store.reading``) without settling anything, as a
test that looks at a row must not change it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple

from yanex.db.engine import Database
from yanex.specs import ExperimentView
from yanex.store.dialect import aware_time
from yanex.store.ids import POINTS_OF
from yanex.store.reading import reading
from yanex.store.views import experiment_view


def get_experiment(db: Database, experiment_id: str) -> ExperimentView:
    """The experiment as ``yanex.find`` returns it."""
    with reading(db, settle=False) as conn:
        return experiment_view(conn, experiment_id)


class StoredPoint(NamedTuple):
    """One ``metrics`` row: ``value`` is the number column, ``raw`` the value as logged."""

    key: str
    step: int
    value: float | None
    raw: Any
    logged_at: datetime


def get_metrics(db: Database, experiment_id: str, key: str | None = None) -> list[StoredPoint]:
    """Every point of one experiment (of ``key``) in logging order."""
    query = f"SELECT key, step, value, value_json, logged_at FROM metrics WHERE {POINTS_OF}"
    args: list[str] = [experiment_id]
    if key is not None:
        query, args = f"{query} AND key = ?", [*args, key]
    with reading(db, settle=False) as conn:
        rows = conn.execute(f"{query} ORDER BY id", args).fetchall()
    points = []
    for name, step, value, value_json, logged_at in rows:
        raw = value if value_json is None else json.loads(value_json)
        moment = aware_time(logged_at)
        assert moment is not None
        points.append(StoredPoint(name, step, value, raw, moment))
    return points
