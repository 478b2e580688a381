"""Moving a million metric points between stores: `yanex export`, then `yanex import` (issue 20).

Targets, on an idle machine: exporting 1,000,000 points (100 experiments of 10,000) <= 2 s;
importing the file into an empty store <= 2 s; importing it a second time (nothing to add) <= 1 s.
On a busy machine every figure stretches alike, so the verdicts are ratios to a bare baseline
measured in the same run: sqlite3 copying the same metric rows into a new file that has the
`metrics` table and its index (``INSERT ... SELECT``, nothing else). The ratio targets are the
absolute targets over that baseline on an idle machine (``IDLE_BASELINE``).

- export: ``export_experiments`` of every experiment, to a file (the tar written and synced);
- import: ``import_source`` of that file into a new store whose schema exists already (a new
  store's alembic set-up is once per store, not per import), summaries summed up from the points
  (in a thread, while SQLite copies them: two cores are used);
- import again: the same file into the same store (everything is compared and skipped).

Points go in through the store (``insert_points``, as an ingest writes them).

Run: `make bench` or `python benchmarks/bench_transfer.py [--experiments N] [--points N]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median_seconds, report, report_value, use_scratch_home

# Seconds of the baseline for 1M points on this machine when it is quiet (0.9-1.0 s measured with
# the load average under 1; it barely moves with load, being one process's work).
IDLE_BASELINE = 0.9
TARGET_EXPORT = 2.0
TARGET_IMPORT = 2.0
TARGET_AGAIN = 1.0


def ratio(target: float) -> float:
    """An absolute target as a ratio to the baseline."""
    return round(target / IDLE_BASELINE, 1)


def populate(experiments: int, points: int) -> list[str]:
    """``experiments`` finished experiments of ``points`` points each (two metrics); their ids."""
    from yanex.db.engine import Database
    from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
    from yanex.store.experiments import Owner, create_experiments, finish, insert_points
    from yanex.store.summary import PointRow

    db = Database()
    owner = Owner("bench", os.getpid())
    specs = [ExperimentSpec(Path("train.py"), {"seed": i}, name=f"run-{i}") for i in range(experiments)]
    ids = create_experiments(
        db, specs, status=Status.QUEUED, owner=owner, git=GitInfo(), environment=EnvironmentInfo()
    )
    start = datetime(2026, 1, 1)
    for experiment_id in ids:
        rows: list[PointRow] = []
        for step in range(points // 2):
            stamp = (start + timedelta(milliseconds=step)).isoformat(sep=" ", timespec="microseconds")
            rows += [
                (experiment_id, "loss", step, 1.0 / (step + 1), None, stamp),
                (experiment_id, "accuracy", step, step / points, None, stamp),
            ]
        with db.write() as conn:
            insert_points(conn, rows)
        finish(db, experiment_id, Status.COMPLETED, exit_code=0)
    db.dispose()
    with closing(sqlite3.connect(db.path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return ids


def bare_copy(source: Path, scratch: Path) -> None:
    """The baseline: the metric rows copied into a new file with the table and its index."""
    target = scratch / "bare.db"
    target.unlink(missing_ok=True)
    with closing(sqlite3.connect(target, isolation_level=None)) as conn:
        conn.execute("ATTACH DATABASE ? AS source", (f"file:{source}?mode=ro",))
        for (statement,) in conn.execute(
            "SELECT sql FROM source.sqlite_master WHERE tbl_name = 'metrics' AND sql IS NOT NULL"
        ).fetchall():
            conn.execute(statement)
        conn.execute("BEGIN")
        conn.execute("INSERT INTO main.metrics SELECT * FROM source.metrics ORDER BY id")
        conn.execute("COMMIT")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=100)
    parser.add_argument("--points", type=int, default=10_000, help="points per experiment (two metrics)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    total = args.experiments * args.points
    ok = True
    with tempfile.TemporaryDirectory(prefix="yanex-bench-") as tmp:
        scratch = Path(tmp)
        use_scratch_home(scratch / "source")
        started = time.perf_counter()
        ids = populate(args.experiments, args.points)
        report_value(f"populate {total:,} points", time.perf_counter() - started, "s")

        from yanex.db.engine import Database
        from yanex.importers import opened
        from yanex.store.exporting import export_experiments
        from yanex.store.importing import import_source

        source = Database().path
        file = scratch / "export.tar"
        baseline = median_seconds(lambda: bare_copy(source, scratch), repeat=args.repeat)
        report_value(f"baseline: sqlite3 copy of {total:,} metric rows", baseline, "s")

        exported = median_seconds(lambda: export_experiments(source, ids, file, force=True), args.repeat)
        ok &= report(f"export {total:,} points", exported, baseline, ratio(TARGET_EXPORT))
        report_value("  = export seconds", exported, "s", f"<= {TARGET_EXPORT} on an idle machine")
        report_value("  export file", file.stat().st_size / 2**20, "MB")

        targets = iter(range(1_000))

        def empty_store() -> Database:
            home = scratch / f"target-{next(targets)}"
            shutil.rmtree(home, ignore_errors=True)
            os.environ["YANEX_HOME"] = str(home)
            db = Database()
            db.identity  # noqa: B018 (creates the schema: not part of an import)
            return db

        def import_into(db: Database) -> float:
            start = time.perf_counter()
            with opened(file) as opened_source:
                import_source(db, opened_source)
            return time.perf_counter() - start

        first = sorted(import_into(empty_store()) for _ in range(args.repeat))[args.repeat // 2]
        ok &= report(f"import {total:,} points into an empty store", first, baseline, ratio(TARGET_IMPORT))
        report_value("  = import seconds", first, "s", f"<= {TARGET_IMPORT} on an idle machine")
        again_store = empty_store()
        import_into(again_store)
        again = sorted(import_into(again_store) for _ in range(args.repeat))[args.repeat // 2]
        ok &= report("import the same file again (adds nothing)", again, baseline, ratio(TARGET_AGAIN))
        report_value("  = second import seconds", again, "s", f"<= {TARGET_AGAIN} on an idle machine")
        with closing(sqlite3.connect(again_store.path)) as conn:
            (stored,) = conn.execute("SELECT count(*) FROM metrics").fetchone()
        assert stored == total, (stored, total)
    if not ok:
        print("transfer OVER TARGET", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
