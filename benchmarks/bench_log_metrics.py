"""`log_metrics` throughput in a tracked child, and how long the supervisor takes to ingest it all.

A script launched through ExperimentProcess (as `yanex run` and batch workers launch it) makes
500,000 calls of a 2-key dict (a million points) and times them itself; then every point must be in
the database. Targets: >= 100,000 calls/s inside the child (issue 2); all points in the database
within 5 s of the script's exit (issue 7).

Then the cost of keeping `metric_summary` current (issue 11): one journal is ingested into fresh
experiments, alternately (ABBA, as a later ingest writes into a larger database) as yanex does it
and with the summary upkeep replaced by what the `latest_metrics` upkeep did before (the last value
and a count per key), in the same process and run, in CPU seconds; the ingest rate with the full
summary must stay within 10% of that.

Run: `make bench` or `python benchmarks/bench_log_metrics.py [--calls N]`.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report_value, supervise, use_scratch_home

# The timed loop, shared with bench_session.py (the same calls in a yanex.start() session).
LOOP = """
import json, sys, time, yanex
calls = int(sys.argv[1])
log = yanex.log_metrics
start = time.perf_counter()
for i in range(calls):
    log({"loss": 1.0 / (i + 1), "accuracy": i / calls})
elapsed = time.perf_counter() - start
"""
CHILD = LOOP + 'print(json.dumps({"seconds": elapsed, "ended_at": time.time()}))\n'


def _last_only(conn: Any, points: Sequence[Any]) -> None:
    """The upkeep before issue 11 (``latest_metrics``: last value and count per key), written to
    ``metric_summary``'s columns: the baseline the full summary is measured against."""
    ident = itemgetter(0, 1)
    last_point = {ident(point): point for point in points}
    counts = Counter(map(ident, points))
    conn.executemany(
        "INSERT INTO metric_summary (experiment_id, key, last_step, last, last_json, last_logged_at, count, "
        "first_step, numeric_count, goal) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, 'max') "
        "ON CONFLICT (experiment_id, key) DO UPDATE SET last_step = excluded.last_step, "
        "last = excluded.last, last_json = excluded.last_json, last_logged_at = excluded.last_logged_at, "
        "count = metric_summary.count + excluded.count",
        [(*point, counts[group]) for group, point in last_point.items()],
    )


def summary_upkeep(calls: int, repeat: int) -> tuple[float, float]:
    """Points per second ingested from one journal of ``calls`` 2-key lines, with the summary
    upkeep and with the old last-value upkeep, alternating (medians of ``repeat`` each)."""
    import statistics
    import time

    from yanex import config
    from yanex.db.engine import Database
    from yanex.runner.environment import capture_environment, this_process
    from yanex.specs import ExperimentSpec, GitInfo, Status
    from yanex.store import experiments, summary
    from yanex.store.experiments import create_experiments
    from yanex.store.ingest import JournalIngest

    db = Database()
    journal = "".join(
        json.dumps(
            {"step": i, "t": 1.7e9 + i / 1000, "values": {"loss": 1.0 / (i + 1), "accuracy": i / calls}}
        )
        + "\n"
        for i in range(calls)
    )
    full = summary.fold_points
    module = vars(experiments)  # insert_points calls the fold_points it finds here
    rates: dict[str, list[float]] = {"summary": [], "last only": []}
    variants = [("summary", full), ("last only", _last_only)]
    for n in range(repeat):
        # Each pair in the other order: a later ingest writes into a larger database.
        for label, fold in variants if n % 2 == 0 else variants[::-1]:
            [experiment_id] = create_experiments(
                db,
                [ExperimentSpec(script_path="bench.py")],
                status=Status.RUNNING,
                owner=this_process(),
                git=GitInfo(),
                environment=capture_environment(),
            )
            directory = config.experiment_dir(experiment_id)
            directory.mkdir(parents=True, exist_ok=True)
            (directory / config.METRICS_FILE).write_text(journal)
            module["fold_points"] = fold
            try:
                # CPU time of this process (SQLite runs in it): on a shared machine, wall time
                # mostly measures whose turn it was on the CPU.
                start = time.process_time()
                JournalIngest(db, experiment_id).drain()
                rates[label].append(2 * calls / (time.process_time() - start))
            finally:
                module["fold_points"] = full
    db.dispose()
    return statistics.median(rates["summary"]), statistics.median(rates["last only"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500_000)
    parser.add_argument("--upkeep-calls", type=int, default=200_000)
    parser.add_argument("--upkeep-repeat", type=int, default=6)
    args = parser.parse_args()
    calls = args.calls

    with tempfile.TemporaryDirectory(prefix="yanex-bench-") as tmp:
        use_scratch_home(Path(tmp))
        script = Path(tmp) / "log_many.py"
        script.write_text(CHILD)
        _, child = supervise(script, [str(calls)])
        recorded = datetime.now(UTC).replace(tzinfo=None)

        conn = sqlite3.connect(Path(tmp) / "home" / "yanex.db")
        try:
            counts = dict(
                conn.execute("SELECT key, count(DISTINCT step) FROM metrics GROUP BY key").fetchall()
            )
            total = conn.execute("SELECT count(*) FROM metrics").fetchone()[0]
            # When the supervisor saw the script exit (naive UTC, as every timestamp is stored).
            exited = datetime.fromisoformat(conn.execute("SELECT ended_at FROM experiments").fetchone()[0])
        finally:
            conn.close()
        if counts != {"loss": calls, "accuracy": calls} or total != 2 * calls:
            raise SystemExit(f"points missing from the database: {counts}, {total} rows for {calls} calls")
        with_summary, last_only = summary_upkeep(args.upkeep_calls, args.upkeep_repeat)

    report_value(
        f"log_metrics calls/s in the child ({calls:,} calls)",
        calls / child["seconds"],
        "calls/s",
        ">= 100,000",
    )
    report_value("microseconds per call", child["seconds"] / calls * 1e6, "us")
    after_exit = (recorded - exited).total_seconds()
    report_value(f"all {total:,} points in the database after the script's exit", after_exit, "s", "<= 5")
    print(f"all {total:,} points ({calls:,} calls x 2 keys) are in the database", flush=True)
    if calls / child["seconds"] < 100_000:
        print("log_metrics throughput OVER TARGET (below 100,000 calls/s)", flush=True)
    if after_exit > 5:
        print("ingest after exit OVER TARGET (more than 5 s)", flush=True)
    report_value("ingest with metric_summary upkeep", with_summary, "points/CPU-s")
    report_value("ingest with last-value upkeep only (before)", last_only, "points/CPU-s")
    report_value("  = rate kept with the summary", with_summary / last_only, "x", ">= 0.9")
    if with_summary / last_only < 0.9:
        print("summary upkeep OVER TARGET (ingest more than 10% slower)", flush=True)


if __name__ == "__main__":
    main()
