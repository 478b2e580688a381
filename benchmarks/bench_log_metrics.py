"""`log_metrics` throughput in a tracked child, and how long the supervisor takes to ingest it all.

A script launched through ExperimentProcess (as `yanex run` and batch workers launch it) makes
500,000 calls of a 2-key dict (a million points) and times them itself; then every point must be in
the database. Targets: >= 100,000 calls/s inside the child (issue 2); all points in the database
within 5 s of the script's exit (issue 7).

Run: `make bench` or `python benchmarks/bench_log_metrics.py [--calls N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report_value

CHILD = """
import json, sys, time, yanex
calls = int(sys.argv[1])
log = yanex.log_metrics
start = time.perf_counter()
for i in range(calls):
    log({"loss": 1.0 / (i + 1), "accuracy": i / calls})
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "ended_at": time.time()}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500_000)
    calls = parser.parse_args().calls

    with tempfile.TemporaryDirectory(prefix="yanex-bench-") as tmp:
        os.environ["YANEX_HOME"] = str(Path(tmp) / "home")
        for name in ("YANEX_DATABASE_URL", "YANEX_EXPERIMENT_ID", "YANEX_EXPERIMENT_DIR"):
            os.environ.pop(name, None)
        from yanex import config
        from yanex.db.engine import Database
        from yanex.runner.environment import capture_environment, this_process
        from yanex.runner.launch import ExperimentProcess, LaunchRequest
        from yanex.specs import ExperimentSpec, GitInfo, Status
        from yanex.store.experiments import create_experiments

        script = Path(tmp) / "log_many.py"
        script.write_text(CHILD)
        db = Database()
        spec = ExperimentSpec(script_path=script, script_args=[str(calls)])
        [experiment_id] = create_experiments(
            db,
            [spec],
            status=Status.CREATED,
            owner=this_process(),
            git=GitInfo(),
            environment=capture_environment(),
        )
        process = ExperimentProcess(db, LaunchRequest(experiment_id, script, (str(calls),)), this_process())
        process.start()
        outcome = process.wait()
        recorded = datetime.now(UTC).replace(tzinfo=None)
        if outcome.status is not Status.COMPLETED:
            raise SystemExit(f"the logging script failed: {outcome.error_message}")
        child = json.loads((config.experiment_dir(experiment_id) / config.STDOUT_FILE).read_text())

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
        db.dispose()
        if counts != {"loss": calls, "accuracy": calls} or total != 2 * calls:
            raise SystemExit(f"points missing from the database: {counts}, {total} rows for {calls} calls")

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


if __name__ == "__main__":
    main()
