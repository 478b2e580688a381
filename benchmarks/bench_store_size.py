"""Store size per metric row with global ids: within 5% of 8-digit ids (issue 20).

The same million points go into two SQLite files: the store as yanex makes it (``metrics`` rows
carry ``experiments.local_id``) and a bare baseline with the layout before schema revision 0013
(each row carries an 8-character ``experiment_id`` and the index starts with it). Both are
measured after ``VACUUM``, so the figure is bytes of rows and index, not free pages.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from pathlib import Path

from _common import report

from yanex.db.engine import Database
from yanex.runner.environment import this_process
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
from yanex.store.experiments import create_experiments, insert_points

EXPERIMENTS = 100
POINTS = 10_000  # per experiment: 1M metric rows in all
LOGGED_AT = "2026-12-07 09:00:00.000000"


def _points(experiment_id: str) -> list[tuple[str, str, int, float, None, str]]:
    return [(experiment_id, "loss", step, 1.0 / (step + 1), None, LOGGED_AT) for step in range(POINTS)]


def _vacuumed_size(path: Path) -> int:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
    finally:
        conn.close()
    return path.stat().st_size


def _yanex_store(home: Path) -> int:
    os.environ["YANEX_HOME"] = str(home)
    db = Database()
    ids = create_experiments(
        db,
        [ExperimentSpec(script_path=Path("train.py"), name=f"e{i}") for i in range(EXPERIMENTS)],
        status=Status.COMPLETED,
        owner=this_process(),
        git=GitInfo(),
        environment=EnvironmentInfo(),
    )
    for experiment_id in ids:
        with db.write() as conn:
            insert_points(conn, _points(experiment_id))
    with db.write() as conn:  # the summaries are per experiment, not per row: leave them out
        conn.execute("DELETE FROM metric_summary")
    db.dispose()
    return _vacuumed_size(home / "yanex.db")


def _eight_digit_baseline(path: Path) -> int:
    """The metrics table of revision 0012 alone, as its rows and index take space."""
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE metrics (id INTEGER PRIMARY KEY, experiment_id VARCHAR(8) NOT NULL, "
        "key VARCHAR NOT NULL, step INTEGER NOT NULL, value FLOAT, value_json TEXT, "
        "logged_at DATETIME NOT NULL)"
    )
    conn.execute("CREATE INDEX ix_metrics_experiment_id_key_step ON metrics (experiment_id, key, step)")
    for i in range(EXPERIMENTS):
        conn.executemany(
            "INSERT INTO metrics (experiment_id, key, step, value, value_json, logged_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            _points(f"{i:08x}"),
        )
    conn.commit()
    conn.close()
    return _vacuumed_size(path)


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        store = _yanex_store(root / "home")
        # The store's other tables hold 100 experiments: a few pages, counted against it.
        baseline = _eight_digit_baseline(root / "baseline.db")
    rows = EXPERIMENTS * POINTS
    per_row = f"the store {store / rows:.1f} B/row, with 8-digit ids {baseline / rows:.1f} B/row"
    print(f"{rows:,} metric rows: {per_row}")
    ok = report("store size per metric row (global ids)", store / rows, baseline / rows, 1.05, unit="B")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
