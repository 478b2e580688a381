"""Sweeps of 10,000 points: expanding them with ``yanex run --dry-run``, and queueing them.

Targets (issue 10): the dry run of a 100 x 100 grid takes < 1 s as a whole process, and at most
2x the dry run of a single point (the same command's start-up and imports). Judged on CPU time
(the wall time is printed too): on a shared machine the wall time also counts waits for a core.
Queueing (expanding the plan, building and validating the specs, writing the batch row and every
experiment with its params and tags) is compared with bare sqlite3 inserting the same experiments
and params rows (at most 10x: a third of it is validating 10,000 specs), and must write every
experiment row in one transaction (counted: ``Database.write`` transactions while
``create_experiments`` runs). Both sides run in a scratch venv holding a regular install of this checkout.

Run: `make bench` or `python benchmarks/bench_sweep.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median_seconds, regular_install, report, report_value

GRID = ["-p", "a=range(100)", "-p", "b=linspace(0, 1, 100)"]
POINTS = 10_000
DRY_RUN_LIMIT = 1.0  # seconds
DRY_RUN_RATIO = 2.0  # the expansion and printing at most double the command's start-up
QUEUE_RATIO = 10.0  # against bare sqlite3 writing the same rows


def process_seconds(argv: list[str], env: dict[str, str], cwd: str, repeat: int = 5) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of a command, which must succeed.

    CPU time is what the command costs whatever else the machine does; on a shared, loaded machine
    the wall time also counts the waits for a core.
    """
    walls, cpus = [], []
    for _ in range(repeat + 1):  # the first is a warm-up
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            argv,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **env},
            cwd=cwd,
        )
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls[1:]), statistics.median(cpus[1:])


def queue_sweep(script: Path) -> int:
    """Expand and queue the 10,000-point sweep as ``yanex run`` does; returns the write
    transactions made while the experiment rows were written."""
    from yanex.db.engine import Database
    from yanex.runner.environment import capture_environment, this_process
    from yanex.specs import GitInfo, Status
    from yanex.store.experiments import create_batch, create_experiments
    from yanex.sweep.api import grid

    specs = grid(script, {"a": "range(100)", "b": "linspace(0, 1, 100)"}, tags=["bench"])
    db = Database()
    owner = this_process()
    batch_id = create_batch(db, len(specs), 2, owner, spec=specs.plan.to_json())
    commits = 0
    write = db.write

    @contextlib.contextmanager
    def counted() -> Iterator[sqlite3.Connection]:
        nonlocal commits
        commits += 1
        with write() as conn:
            yield conn

    db.write = counted  # type: ignore[method-assign]  # every store transaction goes through write
    try:
        create_experiments(
            db,
            specs,
            status=Status.QUEUED,
            owner=owner,
            git=GitInfo(),
            environment=capture_environment(),
            batch_id=batch_id,
        )
    finally:
        db.dispose()
    return commits


def bare_inserts(path: Path) -> None:
    """The same experiments and params rows through sqlite3 alone, in one transaction."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS e (id TEXT PRIMARY KEY, name TEXT, config TEXT, status TEXT)"
        )
        conn.execute("CREATE TABLE IF NOT EXISTS p (eid TEXT, key TEXT, value TEXT, n REAL)")
        with conn:
            conn.execute("DELETE FROM e")
            conn.execute("DELETE FROM p")
            rows, params = [], []
            for i in range(POINTS):
                a, b = i // 100, round(i % 100 / 99, 15)
                rows.append((f"{i:08x}", f"train-a{a}-b{b}", json.dumps({"a": a, "b": b}), "queued"))
                params += [(f"{i:08x}", "a", json.dumps(a), a), (f"{i:08x}", "b", json.dumps(b), b)]
            conn.executemany("INSERT INTO e VALUES (?, ?, ?, ?)", rows)
            conn.executemany("INSERT INTO p VALUES (?, ?, ?, ?)", params)


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory(prefix="yanex-bench-") as tmp:
        python = str(regular_install(Path(tmp) / "install"))
        script = Path(tmp) / "train.py"
        script.write_text("import yanex\nyanex.get_param('a')\n")
        env = {"YANEX_HOME": str(Path(tmp) / "home")}
        yanex = [str(Path(python).with_name("yanex")), "run", str(script)]
        single, single_cpu = process_seconds([*yanex, "-p", "a=1", "--dry-run"], env, tmp)
        swept, swept_cpu = process_seconds([*yanex, *GRID, "--dry-run"], env, tmp)
        as_json, json_cpu = process_seconds([*yanex, *GRID, "--dry-run", "-f", "json"], env, tmp)
        ok &= report("dry run of 10,000 points vs of 1 point (CPU)", swept_cpu, single_cpu, DRY_RUN_RATIO)
        for label, wall, cpu in (("table", swept, swept_cpu), ("--format json", as_json, json_cpu)):
            report_value(f"  dry run of 10,000 points ({label}), CPU", cpu, "s", f"< {DRY_RUN_LIMIT} s")
            report_value(
                f"  dry run of 10,000 points ({label}), wall", wall, "s", "CPU plus waits for a core"
            )
            ok &= cpu < DRY_RUN_LIMIT
        report_value("  dry run of 1 point, wall", single, "s")
        assert not (Path(tmp) / "home").exists(), "a dry run wrote something"

        os.environ.update(env)
        queue_sweep(script)  # warm-up: the schema is created, imports are loaded
        bare_db = Path(tmp) / "bare.db"
        bare = median_seconds(lambda: bare_inserts(bare_db), repeat=3)
        timings, commits = [], []
        for _ in range(3):
            start = time.perf_counter()
            commits.append(queue_sweep(script))
            timings.append(time.perf_counter() - start)
        measured = sorted(timings)[1]
        ok &= report("queue 10,000 points (expand, specs, rows)", measured, bare, QUEUE_RATIO)
        report_value("  per point", measured / POINTS * 1e6, "us")
        report_value("  transactions writing the experiment rows", max(commits), "", "1")
        ok &= max(commits) == 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
