"""Query commands against 10,000 and 100,000 experiments, each compared with a one-experiment
database and with `python -c pass` (issues 4 and 9).

The commands run from a regular install of this checkout in a scratch venv (``regular_install``),
against that venv's `python -c pass`: each within 10x of it (issue 9), and flat in the size.

Every experiment has 5 params, 2 tags (`sweep-NNN` shared by 1,000 experiments, and `model-a|b`)
and 3 metrics of 50 steps. Experiments, tags and params go in through the store
(`create_experiments`, which batches them in one transaction); final statuses and metric points are
written with executemany in large transactions, because one `finish`/`ingest_metrics` transaction
per experiment would make populating 100,000 experiments take minutes. The SQL mirrors those
store functions, including the `metric_summary` rows ingest keeps (issue 11).

Run: `make bench` or `python benchmarks/bench_query.py [--sizes 10000 100000]`.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import command_seconds, regular_install, report, report_value

from yanex.db.engine import Database
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
from yanex.store.experiments import Owner, create_experiments
from yanex.store.metric_names import default_goal
from yanex.store.summary import COLUMNS

CHUNK = 5_000
STEPS = 50
METRICS = ("accuracy", "loss", "f1")
SWEEP = 1_000  # experiments per sweep tag
TAG = "sweep-007"
RATIO_EMPTY = 1.5
RATIO_PYTHON = 10.0


def _specs(start: int, count: int, rng: random.Random) -> list[ExperimentSpec]:
    script = Path("train.py")
    return [
        ExperimentSpec(
            script_path=script,
            name=f"run-{i}",
            tags=[f"sweep-{i // SWEEP:03d}", "model-a" if i % 2 else "model-b"],
            config={
                "learning_rate": rng.choice([0.0001, 0.001, 0.01, 0.1]),
                "batch_size": rng.choice([16, 32, 64, 128]),
                "dropout": round(rng.random() * 0.5, 3),
                "optimizer": rng.choice(["adam", "sgd", "adamw"]),
                "model": {"depth": rng.randint(2, 12)},
            },
        )
        for i in range(start, start + count)
    ]


def populate(home: Path, total: int, seed: int = 0) -> float:
    """Fill a fresh YANEX_HOME with ``total`` finished experiments; returns seconds taken."""
    os.environ["YANEX_HOME"] = str(home)
    rng = random.Random(seed)
    db = Database()
    owner = Owner("bench", os.getpid())
    start = time.perf_counter()
    base = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=30)
    for offset in range(0, total, CHUNK):
        count = min(CHUNK, total - offset)
        ids = create_experiments(
            db,
            _specs(offset, count, rng),
            status=Status.QUEUED,
            owner=owner,
            git=GitInfo(commit="0" * 40, branch="main", dirty=False),
            environment=EnvironmentInfo(python_version="3.11", platform="linux", hostname="bench"),
        )
        finals, points, latest = [], [], []
        for n, experiment_id in enumerate(ids):
            i = offset + n
            created = base + timedelta(seconds=20 * i)
            ended = created + timedelta(seconds=10)
            status = "completed" if i % 10 < 8 else "failed" if i % 10 == 8 else "cancelled"
            finals.append((status, created, created, ended, 10.0, experiment_id))
            final_acc = rng.random()
            for key in METRICS:
                last = final_acc if key == "accuracy" else rng.random()
                values = [last * (step + 1) / STEPS for step in range(STEPS)]
                for step, value in enumerate(values):
                    points.append((experiment_id, key, step, value, None, ended.isoformat(sep=" ")))
                goal = default_goal(key)
                best = min(values) if goal == "min" else max(values)
                stamp = ended.isoformat(sep=" ")
                low, high, added = min(values), max(values), sum(values)
                first = (values[0], None, 0)
                numbers = (STEPS, low, high, added, 0.0, added / STEPS, goal, best, values.index(best))
                latest.append((experiment_id, key, STEPS, last, None, STEPS - 1, stamp, *first, *numbers))
        with db.write() as conn:
            conn.executemany(
                "UPDATE experiments SET status = ?, created_at = ?, started_at = ?, ended_at = ?, "
                "duration = ?, owner_host = NULL, owner_pid = NULL WHERE id = ?",
                [
                    (s, c.isoformat(sep=" "), b.isoformat(sep=" "), e.isoformat(sep=" "), d, i)
                    for s, c, b, e, d, i in finals
                ],
            )
            conn.executemany(
                "INSERT INTO metrics (experiment_local_id, key, step, value, value_json, logged_at) "
                "VALUES ((SELECT local_id FROM experiments WHERE id = ?), ?, ?, ?, ?, ?)",
                points,
            )
            marks = ", ".join("?" * len(latest[0]))
            conn.executemany(f"INSERT INTO metric_summary ({COLUMNS}) VALUES ({marks})", latest)
    db.dispose()
    with closing(sqlite3.connect(home / "yanex.db")) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    seconds = time.perf_counter() - start
    # Flush the freshly written file now, so that its writeback does not stall the first timings.
    os.sync()
    return seconds


def _some_id(home: Path) -> str:
    with closing(sqlite3.connect(home / "yanex.db")) as conn:
        row = conn.execute(
            "SELECT experiment_id FROM tags WHERE tag = ? ORDER BY experiment_id LIMIT 1", (TAG,)
        ).fetchone()
    return str(row[0])


def commands(home: Path) -> dict[str, list[str]]:
    return {
        "list --status completed --limit 50": ["list", "--status", "completed", "--limit", "50"],
        f"list --tag {TAG} --limit 50": ["list", "--tag", TAG, "--limit", "50"],
        'list --where "metrics.accuracy > 0.9" --limit 50': [
            "list",
            "--where",
            "metrics.accuracy > 0.9",
            "--limit",
            "50",
        ],
        f"compare --tag {TAG} (1,000 rows)": ["compare", "--tag", TAG],
        "list --sort metrics.accuracy.max --desc --limit 10": [
            "list",
            "--sort",
            "metrics.accuracy.max",
            "--desc",
            "--limit",
            "10",
        ],
        'list --where "metrics.loss.min < 0.1" --limit 50': [
            "list",
            "--where",
            "metrics.loss.min < 0.1",
            "--limit",
            "50",
        ],
        f"compare --tag {TAG} --group-by learning_rate": [
            "compare",
            "--tag",
            TAG,
            "--group-by",
            "learning_rate",
        ],
        "get metrics.accuracy ID": ["get", "metrics.accuracy", _some_id(home)],
        "show ID": ["show", _some_id(home)],
    }


def query_plans(home: Path) -> None:
    """EXPLAIN QUERY PLAN of each filter's SELECT, compiled by the query layer itself."""
    from yanex.store.filters import ExperimentFilter, compile_filter

    filters = {
        "status": ExperimentFilter(statuses=["completed"], limit=50),
        "tag": ExperimentFilter(tags=[TAG], limit=50),
        "where metric": ExperimentFilter(where="metrics.accuracy > 0.9", limit=50),
        "where param": ExperimentFilter(where="learning_rate = 0.01 and optimizer = 'adam'", limit=50),
        "sort metric": ExperimentFilter(tags=[TAG], sort="metrics.accuracy", desc=True, limit=1),
        "sort aggregate": ExperimentFilter(sort="metrics.accuracy.max", desc=True, limit=10),
        "where aggregate": ExperimentFilter(where="metrics.loss.min < 0.1", limit=50),
    }
    with closing(sqlite3.connect(home / "yanex.db")) as conn:
        for label, flt in filters.items():
            sql = compile_filter(flt)
            plan = conn.execute(f"EXPLAIN QUERY PLAN {sql.text}", sql.sqlite_params()).fetchall()
            print(f"  plan [{label}]: " + " | ".join(row[3] for row in plan), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    ok = True
    with tempfile.TemporaryDirectory(prefix="yanex-bench-") as tmp:
        installed = regular_install(Path(tmp) / "install")
        yanex = [str(installed.with_name("yanex"))]
        python = command_seconds([str(installed), "-c", "pass"], repeat=args.repeat)
        report_value("python -c pass (regular install)", python, "s")
        small = Path(tmp) / "one"
        populate(small, 1)
        # The one experiment carries the sweep tag, so compare/show do the same work on one row.
        with closing(sqlite3.connect(small / "yanex.db")) as conn:
            conn.execute("UPDATE tags SET tag = ? WHERE tag LIKE 'sweep-%'", (TAG,))
            conn.commit()
        base_commands = commands(small)
        baselines = {
            label: command_seconds([*yanex, *argv], repeat=args.repeat, env={"YANEX_HOME": str(small)})
            for label, argv in base_commands.items()
        }
        figures: dict[int, dict[str, float]] = {}
        for size in args.sizes:
            home = Path(tmp) / f"n{size}"
            seconds = populate(home, size)
            report_value(f"populate {size:,} experiments", seconds, "s")
            report_value(f"  = experiments per second at {size:,}", size / seconds, "1/s")
            query_plans(home)
            figures[size] = {}
            for label, argv in commands(home).items():
                measured = command_seconds([*yanex, *argv], repeat=args.repeat, env={"YANEX_HOME": str(home)})
                figures[size][label] = measured
                # Bare Python again, just before: on a shared machine the load drifts within a run.
                bare = command_seconds([str(installed), "-c", "pass"], repeat=args.repeat)
                ok &= report(f"{label} @{size:,} vs 1-experiment DB", measured, baselines[label], RATIO_EMPTY)
                ok &= report(f"{label} @{size:,} vs python -c pass", measured, bare, RATIO_PYTHON)
        if len(args.sizes) > 1:
            first, last = args.sizes[0], args.sizes[-1]
            for label in figures[first]:
                report_value(
                    f"growth {first:,} -> {last:,}: {label}",
                    figures[last][label] / figures[first][label],
                    "x",
                    "flat, about 1.0x",
                )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
