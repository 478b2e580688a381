"""A write lock held by another process past yanex's busy window, and the database file deleted
under a running batch: real `yanex run` and `run_multiple` processes against a real `sqlite3`
connection in another process."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import wait_until
from yanex.db.engine import Database
from yanex.db.schema import ensure_schema
from yanex.errors import DatabaseReplacedError

POINTS = 150
# Logs POINTS points over about six seconds. Where LOCK_TAKEN names a file, it waits halfway (up to
# two minutes) for that file, which the test writes once the lock is held: it falls in the middle.
LOGGER = f"""
import os, time, yanex
for step in range({POINTS}):
    if step == {POINTS} // 2 and os.environ.get("LOCK_TAKEN"):
        deadline = time.monotonic() + 120
        while not os.path.exists(os.environ["LOCK_TAKEN"]) and time.monotonic() < deadline:
            time.sleep(0.02)
    yanex.log_metrics({{"loss": 1.0 / (step + 1)}}, step=step)
    time.sleep(0.04)
"""

ORCHESTRATOR = """
import json, sys
import yanex

if __name__ == "__main__":
    specs = [yanex.ExperimentSpec(script_path=sys.argv[1], name=f"job{i}") for i in range(2)]
    try:
        results = yanex.run_multiple(specs, parallel=json.loads(sys.argv[2]))
    except yanex.YanexError as error:
        print(f"RAISED {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        sys.exit(3)
    print(json.dumps([result.status for result in results]), flush=True)
"""

# Holds the write lock of a SQLite file for a given time, as a `sqlite3` shell inside
# BEGIN EXCLUSIVE would.
HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""

WAITING = "waiting for another process's write lock"


def journals_started(home: Path, count: int) -> Callable[[], bool]:
    def check() -> bool:
        return len(list((home / "experiments").glob("*/metrics.jsonl"))) >= count

    return check


def popen(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("parallel", [None, 2])
def test_a_lock_held_past_the_busy_window_is_waited_out_and_loses_nothing(
    tmp_path: Path, yanex_home: Path, parallel: int | None
) -> None:
    ensure_schema(Database().url)  # the database exists before anyone locks it
    logger = tmp_path / "logger.py"
    logger.write_text(LOGGER)
    orchestrator = tmp_path / "orchestrator.py"
    orchestrator.write_text(ORCHESTRATOR)
    taken = tmp_path / "lock-taken"
    # YANEX_LOCK_NOTICE_SECONDS: the busy window, shortened; LOCK_TAKEN: see LOGGER.
    env = {**os.environ, "YANEX_LOCK_NOTICE_SECONDS": "1", "LOCK_TAKEN": str(taken)}
    batch = popen(sys.executable, str(orchestrator), str(logger), json.dumps(parallel), env=env)
    wait_until(journals_started(yanex_home, 1), what="the batch logging")
    run = popen(sys.executable, "-m", "yanex", "run", str(logger), env=env)
    wait_until(journals_started(yanex_home, 2 if parallel is None else 3), what="everyone logging")

    hold = 9.0  # past the 1 s window, with margin past the orchestrator's 5 s heartbeat interval
    holder = popen(sys.executable, "-c", HOLDER, str(yanex_home / "yanex.db"), str(hold), env=env)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    finally:
        taken.touch()  # the loggers log their second half
    _, run_err = run.communicate(timeout=120)
    batch_out, batch_err = batch.communicate(timeout=120)
    assert holder.wait(timeout=60) == 0

    assert run.returncode == 0, run_err
    assert batch.returncode == 0, batch_err
    assert json.loads(batch_out) == ["completed", "completed"]
    for stderr in (run_err, batch_err):
        assert stderr.count(WAITING) == 1, stderr
        assert "got the write lock" in stderr
        assert "Traceback" not in stderr and "database is locked" not in stderr
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        statuses = [row[0] for row in conn.execute("SELECT status FROM experiments")]
        counts = [row[0] for row in conn.execute("SELECT count(*) FROM metrics GROUP BY experiment_local_id")]
    assert statuses == ["completed"] * 3
    assert counts == [POINTS] * 3


def test_a_reader_does_not_wait_behind_a_writer(tmp_path: Path, yanex_home: Path) -> None:
    """A reader's reconcile of a dead owner's row would write: with the lock held elsewhere, the
    reader skips it at once, says so, and shows the row as recorded."""
    ensure_schema(Database().url)
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        conn.execute(
            "INSERT INTO experiments (id, status, script_path, working_dir, script_args, config, "
            "spec_sha256, created_at, archived, owner_host, owner_pid, heartbeat_at) VALUES "
            "('deadbeef', 'running', '/x.py', '/', '[]', '{}', 'x', '2026-01-01 00:00:00', 0, "
            "'elsewhere', 1, '2026-01-01 00:00:00')"
        )
    holder = popen(sys.executable, "-c", HOLDER, str(yanex_home / "yanex.db"), "30", env=dict(os.environ))
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        started = time.monotonic()
        listed = subprocess.run(
            [sys.executable, "-m", "yanex", "list", "--format", "json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        elapsed = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert listed.returncode == 0, listed.stderr
    assert [row["status"] for row in json.loads(listed.stdout)] == ["running"]
    assert "Note: the database is locked by another writer" in listed.stderr
    assert "deadbeef" in listed.stderr
    assert elapsed < 15, elapsed  # not the 60 s busy timeout


@pytest.mark.slow
def test_deleting_the_database_mid_batch_stops_the_batch_and_keeps_the_journals(
    tmp_path: Path, yanex_home: Path
) -> None:
    ensure_schema(Database().url)
    logger = tmp_path / "logger.py"
    logger.write_text(LOGGER)
    orchestrator = tmp_path / "orchestrator.py"
    orchestrator.write_text(ORCHESTRATOR)
    batch = popen(sys.executable, str(orchestrator), str(logger), "2", env=dict(os.environ))
    wait_until(journals_started(yanex_home, 2), what="two experiments logging")
    for name in ("yanex.db", "yanex.db-wal", "yanex.db-shm"):
        (yanex_home / name).unlink(missing_ok=True)

    out, err = batch.communicate(timeout=120)
    assert batch.returncode == 3, (out, err)
    assert "RAISED DatabaseReplacedError" in err
    assert f"the database file {yanex_home / 'yanex.db'} was deleted or replaced" in err
    assert "completed" not in out
    journals = sorted((yanex_home / "experiments").glob("*/metrics.jsonl"))
    assert len(journals) == 2
    assert all(path.read_text().splitlines() for path in journals)
    assert not (yanex_home / "yanex.db").exists()  # nothing was written into a new file


def test_a_replaced_database_file_is_refused_at_the_next_write(yanex_home: Path) -> None:
    from yanex.store.experiments import heartbeat

    db = Database()
    heartbeat(db, ["nothing"])  # opened, and a write went through
    path = yanex_home / "yanex.db"
    path.rename(path.with_name("moved.db"))
    ensure_schema(db.url)  # a new, empty yanex database where it was
    with pytest.raises(DatabaseReplacedError, match="deleted or replaced"):
        heartbeat(db, ["nothing"])


def test_a_worker_handed_a_deleted_database_never_creates_another(yanex_home: Path) -> None:
    """A batch worker opens the database after it started: the file its orchestrator opened, or none."""
    orchestrator = Database()
    identity = orchestrator.identity
    orchestrator.dispose()
    for name in ("yanex.db", "yanex.db-wal", "yanex.db-shm"):
        (yanex_home / name).unlink(missing_ok=True)
    worker = Database(orchestrator.url, identity=identity)
    with pytest.raises(DatabaseReplacedError), worker.write():
        pass
    assert not (yanex_home / "yanex.db").exists()


ENDLESS_LOGGER = """
import os, sys, time, yanex
with open(sys.argv[1], "w") as handle:
    handle.write(str(os.getpid()))
while True:
    yanex.log_metrics({"x": 1.0})
    time.sleep(0.01)
"""


def test_yanex_run_stops_its_script_when_the_database_is_deleted(tmp_path: Path, yanex_home: Path) -> None:
    script = tmp_path / "endless.py"
    script.write_text(ENDLESS_LOGGER)
    pid_file = tmp_path / "script.pid"
    run = popen(sys.executable, "-m", "yanex", "run", str(script), "--", str(pid_file), env=dict(os.environ))
    wait_until(journals_started(yanex_home, 1), what="the script logging")
    wait_until(pid_file.exists, what="the script's pid")
    for name in ("yanex.db", "yanex.db-wal", "yanex.db-shm"):
        (yanex_home / name).unlink(missing_ok=True)
    _, err = run.communicate(timeout=60)
    assert run.returncode != 0
    assert "was deleted or replaced" in err and "Traceback" not in err
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not (yanex_home / "yanex.db").exists()
