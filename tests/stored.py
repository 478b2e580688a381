"""What the tests read back from the store: one experiment, or its metric points in logging order.

Both read through the store's one way in (``yanex.store.reading``) without settling anything, as a
test that looks at a row must not change it.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from yanex import config
from yanex.db.engine import Database
from yanex.specs import ExperimentView
from yanex.store.dialect import aware_time
from yanex.store.ids import POINTS_OF
from yanex.store.reading import reading
from yanex.store.references import resolve_reference
from yanex.store.views import experiment_view


def get_experiment(db: Database, experiment_id: str) -> ExperimentView:
    """The experiment as ``yanex.find`` returns it, named by its id or the prefix output shows."""
    with reading(db, settle=False) as conn:
        return experiment_view(conn, resolve_reference(conn, experiment_id))


class StoredPoint(NamedTuple):
    """One ``metrics`` row: ``value`` is the number column, ``raw`` the value as logged."""

    key: str
    step: int
    value: float | None
    raw: Any
    logged_at: datetime


def get_metrics(db: Database, experiment_id: str, key: str | None = None) -> list[StoredPoint]:
    """Every point of one experiment (of ``key``) in logging order; named as ``get_experiment``."""
    query = f"SELECT key, step, value, value_json, logged_at FROM metrics WHERE {POINTS_OF}"
    with reading(db, settle=False) as conn:
        args: list[str] = [resolve_reference(conn, experiment_id)]
        if key is not None:
            query, args = f"{query} AND key = ?", [*args, key]
        rows = conn.execute(f"{query} ORDER BY id", args).fetchall()
    points = []
    for name, step, value, value_json, logged_at in rows:
        raw = value if value_json is None else json.loads(value_json)
        moment = aware_time(logged_at)
        assert moment is not None
        points.append(StoredPoint(name, step, value, raw, moment))
    return points


def run_id(stderr: str, home: Path | None = None) -> str:
    """The full id of the experiment whose end ``yanex run`` reported on ``stderr`` (it shows the
    id's first 8 digits), from the store in ``home`` (default: ``YANEX_HOME``'s)."""
    return full_id(stderr.rsplit("yanex: experiment ", 1)[1].split()[0], home)


def full_id(shown: str, home: Path | None = None) -> str:
    """The full id of the one experiment whose id starts with ``shown``, as output prints it."""
    path = (home or config.yanex_home()) / "yanex.db"
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        [(full,)] = conn.execute("SELECT id FROM experiments WHERE id LIKE ? || '%'", (shown,)).fetchall()
    finally:
        conn.close()
    return str(full)


def logged_by_the_script(entry: dict[str, Any]) -> bool:
    """A journal line the script wrote, not its supervisor's (the installed packages, samples of
    ``system/`` metrics)."""
    values = entry.get("values", {})
    return "environment" not in entry and not any(key.startswith("system/") for key in values)


def script_lines(journal: Path) -> list[str]:
    """The lines of a metrics journal that the script wrote (``logged_by_the_script``)."""
    return [line for line in journal.read_text().splitlines() if logged_by_the_script(json.loads(line))]
