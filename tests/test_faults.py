"""Faults injected into real processes: nothing a script logged is lost, no row stays open, no
process survives, and a final status is never overwritten.

The seeded trials at the end SIGKILL a script, a batch worker, the orchestrator or `yanex run` at a
random moment of a fast-logging run; then a reader or `yanex db repair` reconciles, and every point
in the journals must be in the database exactly once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from tests.conftest import process_state, wait_until, yanex_cli
from tests.stored import logged_by_the_script
from yanex import config
from yanex.owners import process_alive
from yanex.store.ids import POINTS_OF

# --- helpers ------------------------------------------------------------------------------------


def query(home: Path, sql: str, *args: object) -> list[sqlite3.Row]:
    """Rows of a read-only query; none while the database does not exist yet."""
    path = home / "yanex.db"
    if not path.exists():
        return []
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=60)
    try:
        conn.row_factory = sqlite3.Row
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'experiments'").fetchone():
            return []
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def execute(home: Path, sql: str, *args: object) -> None:
    conn = sqlite3.connect(home / "yanex.db", timeout=60)
    try:
        with conn:
            conn.execute(sql, args)
    finally:
        conn.close()


def journal_points(experiment_id: str, keys: int) -> int:
    """Points the script logged: its complete journal lines times keys per line (all lines valid)."""
    path = config.experiment_dir(experiment_id) / config.METRICS_FILE
    if not path.exists():
        return 0
    entries = [json.loads(line) for line in path.read_bytes().split(b"\n")[:-1]]
    lines = [entry for entry in entries if logged_by_the_script(entry)]
    for entry in lines:
        assert len(entry["values"]) == keys
    return len(lines) * keys


def stored_points(home: Path, experiment_id: str) -> int:
    [row] = query(
        home,
        f"SELECT count(*) AS n FROM metrics WHERE {POINTS_OF} AND key NOT LIKE 'system/%'",
        experiment_id,
    )
    return int(row["n"])


def tagged_processes(token: str) -> list[int]:
    """Live processes carrying ``token`` in their environment (zombies have none)."""
    found = []
    needle = f"YANEX_FAULT_TOKEN={token}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def yanex_run(
    script: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", str(script), *args],
        cwd=tmp_path,
        env=env or dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


# Logs a burst, says so, then waits for the test's go-file, logs one more point and exits 0.
LOG_THEN_WAIT = """
import pathlib, sys, time, yanex
for i in range(int(sys.argv[1])):
    yanex.log_metrics({"i": i})
pathlib.Path(sys.argv[2]).touch()
go = pathlib.Path(sys.argv[3])
while not go.exists():
    time.sleep(0.01)
yanex.log_metrics({"i": -1})
"""


# --- data that was lost -------------------------------------------------------------------------


def test_sigkill_of_yanex_run_loses_no_logged_point(tmp_path: Path, yanex_home: Path) -> None:
    script = write(tmp_path, "logger.py", LOG_THEN_WAIT)
    logged, go = tmp_path / "logged", tmp_path / "go"
    run = yanex_run(script, tmp_path, "3000", str(logged), str(go))
    wait_until(logged.exists, "the script to log its points")
    run.kill()  # yanex run only: the kernel stops the script with it (parent-death signal)
    run.wait(30)
    [row] = query(yanex_home, "SELECT id, pid FROM experiments")
    wait_until(lambda: not process_alive(row["pid"]), "the script to die with yanex run", timeout=10)
    assert not go.exists()
    listing = yanex_cli("list", "--format", "json")  # a reader reconciles the dead owner's row
    assert listing.returncode == 0, listing.stderr
    assert [v["status"] for v in json.loads(listing.stdout)] == ["failed"]
    [view] = query(yanex_home, "SELECT error_message FROM experiments")
    assert "died" in view["error_message"]
    assert stored_points(yanex_home, row["id"]) == journal_points(row["id"], 1) == 3000


def test_killed_worker_whose_script_had_exited_0_is_recorded_completed(
    tmp_path: Path, yanex_home: Path
) -> None:
    """The worker dies after its script exited 0 and before it recorded that (held up here by a
    write lock the test holds): the pool records the outcome the worker left beside the journal,
    and ingests every point."""
    script = write(tmp_path, "logger.py", LOG_THEN_WAIT)
    logged, go = tmp_path / "logged", tmp_path / "go"
    orchestrator = write(
        tmp_path,
        "orchestrate.py",
        f"""
        import json, yanex
        if __name__ == "__main__":
            args = ["20000", {str(logged)!r}, {str(go)!r}]
            spec = yanex.ExperimentSpec(script_path={str(script)!r}, script_args=args)
            results = yanex.run_multiple([spec], parallel=1)
            print(json.dumps([r.model_dump() for r in results]))
        """,
    )
    batch = subprocess.Popen(
        [sys.executable, str(orchestrator)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(logged.exists, "the script to log its points")
    [row] = query(yanex_home, "SELECT id, owner_pid FROM experiments")
    marker = config.experiment_dir(row["id"]) / config.OUTCOME_FILE
    lock = sqlite3.connect(yanex_home / "yanex.db", timeout=60, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")  # the worker can record nothing now
        go.touch()
        wait_until(marker.exists, "the script to exit and its outcome to be written")
        os.kill(row["owner_pid"], signal.SIGKILL)
    finally:
        lock.execute("COMMIT")
        lock.close()
    out, err = batch.communicate(timeout=120)
    assert batch.returncode == 0, err
    [result] = json.loads(out)
    assert (result["status"], result["error_message"]) == ("completed", None)
    [final] = query(yanex_home, "SELECT status, exit_code FROM experiments")
    assert (final["status"], final["exit_code"]) == ("completed", 0)
    assert stored_points(yanex_home, row["id"]) == journal_points(row["id"], 1) == 20_001


def test_a_lone_surrogate_key_is_skipped_and_the_rest_recorded(tmp_path: Path, yanex_home: Path) -> None:
    script = write(
        tmp_path,
        "surrogate.py",
        """
        import os, yanex
        for i in range(10):
            yanex.log_metrics({"a": i})
            if i == 4:
                yanex.log_metrics({os.fsdecode(b"file\\xff.txt"): 1.0, "a": 99})
        """,
    )
    result = yanex_cli("run", str(script), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 metric line(s) could not be stored and were skipped" in result.stderr
    assert "Traceback" not in result.stderr
    [row] = query(yanex_home, "SELECT id, status FROM experiments")
    assert row["status"] == "completed"
    values = [r["value"] for r in query(yanex_home, "SELECT value FROM metrics ORDER BY id")]
    assert values == [float(i) for i in range(10)]


def test_nan_inside_a_logged_array_keeps_every_json_text_valid(tmp_path: Path, yanex_home: Path) -> None:
    script = write(
        tmp_path,
        "nan.py",
        """
        import yanex
        yanex.log_metrics({"per_class": [0.8, float("nan")], "d": {"x": float("inf")}, "top": float("nan")})
        yanex.log_metrics({"per_class": [0.9, 0.7]})
        """,
    )
    assert yanex_cli("run", str(script), cwd=tmp_path).returncode == 0
    [row] = query(yanex_home, "SELECT id FROM experiments")
    journal = config.experiment_dir(row["id"]) / config.METRICS_FILE

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the journal is not JSON")

    for line in journal.read_text().splitlines():
        json.loads(line, parse_constant=refuse)
    assert not query(
        yanex_home, "SELECT 1 FROM metrics WHERE value_json IS NOT NULL AND NOT json_valid(value_json)"
    )
    [first] = query(yanex_home, "SELECT value_json FROM metrics WHERE key = 'per_class' ORDER BY id LIMIT 1")
    assert json.loads(first["value_json"]) == [0.8, "NaN"]
    [summary] = query(yanex_home, "SELECT metrics FROM experiment_summary")
    assert json.loads(summary["metrics"]) == {"per_class": [0.9, 0.7], "d": {"x": "Infinity"}, "top": "NaN"}
    listing = yanex_cli("list", "--format", "json")
    assert listing.returncode == 0, listing.stderr


def test_db_repair_ingests_journals_ahead_of_final_rows_exactly_once(
    tmp_path: Path, yanex_home: Path
) -> None:
    """A supervisor that died after recording the status but before its last ingest."""
    script = write(tmp_path, "few.py", "import yanex\nfor i in range(5):\n    yanex.log_metrics({'i': i})\n")
    assert yanex_cli("run", str(script), cwd=tmp_path).returncode == 0
    [row] = query(yanex_home, "SELECT id FROM experiments")
    with (config.experiment_dir(row["id"]) / config.METRICS_FILE).open("a") as journal:
        for i in range(5, 8):
            journal.write(json.dumps({"step": i, "t": time.time(), "values": {"i": i}}) + "\n")
        journal.write("not json\n")
    first = yanex_cli("db", "repair")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "settled 0 experiment(s) whose process had died",
        "ingested 3 point(s) into 1 experiment(s)",
        "skipped 1 journal line(s) that cannot be stored",
    ]
    again = yanex_cli("db", "repair")
    assert "ingested 0 point(s) into 0 experiment(s)" in again.stdout
    steps = [r["step"] for r in query(yanex_home, "SELECT step FROM metrics ORDER BY id")]
    assert steps == list(range(8))
    [latest] = query(yanex_home, "SELECT step, count FROM latest_metrics")
    assert (latest["step"], latest["count"]) == (7, 8)


# --- state machine ------------------------------------------------------------------------------

STOPPABLE = """
import pathlib, sys, time, yanex
yanex.log_metrics({"i": 0})
pathlib.Path(sys.argv[1]).touch()
go = pathlib.Path(sys.argv[2])
while not go.exists():
    time.sleep(0.01)
yanex.log_metrics({"i": 1})
"""


STALE_AFTER = timedelta(seconds=0.5)  # YANEX_STALE_AFTER in the tests of a stopped owner


def heartbeat_age(home: Path, experiment_id: str) -> timedelta:
    """How long ago the row's owner last beat, by the clock readers judge it with (naive UTC)."""
    [row] = query(home, "SELECT heartbeat_at FROM experiments WHERE id = ?", experiment_id)
    return datetime.now(UTC).replace(tzinfo=None) - datetime.fromisoformat(row["heartbeat_at"])


def _backdate_heartbeat(home: Path, experiment_id: str) -> None:
    old = (datetime.now(UTC) - timedelta(minutes=10)).replace(tzinfo=None).isoformat(sep=" ")
    execute(home, "UPDATE experiments SET heartbeat_at = ? WHERE id = ?", old, experiment_id)


def test_a_stopped_supervisor_keeps_its_row_and_delete_is_refused(
    tmp_path: Path, yanex_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGSTOP (or Ctrl-Z) of `yanex run` past the staleness window: on this host the owner is
    checked by its process, which is alive, so the row stays running and cannot be deleted."""
    monkeypatch.setenv("YANEX_STALE_AFTER", str(STALE_AFTER.total_seconds()))
    script = write(tmp_path, "stoppable.py", STOPPABLE)
    ready, go = tmp_path / "ready", tmp_path / "go"
    run = yanex_run(script, tmp_path, str(ready), str(go))
    wait_until(ready.exists, "the script to start")
    os.kill(run.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: process_state(run.pid) == "T", "yanex run to stop")  # no beat from here on
        [row] = query(yanex_home, "SELECT id FROM experiments")
        _backdate_heartbeat(yanex_home, row["id"])
        assert heartbeat_age(yanex_home, row["id"]) > STALE_AFTER  # stale by its heartbeat
        listing = yanex_cli("list", "--format", "json")
        assert [v["status"] for v in json.loads(listing.stdout)] == ["running"], listing.stderr
        refused = yanex_cli("delete", row["id"], "--yes")
        assert refused.returncode == 2
        assert "whose process may still be running" in refused.stderr and row["id"] in refused.stderr
    finally:  # let the script finish even when an assertion failed: no process is left behind
        os.kill(run.pid, signal.SIGCONT)
        go.touch()
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    [final] = query(yanex_home, "SELECT status FROM experiments")
    assert final["status"] == "completed"
    assert stored_points(yanex_home, row["id"]) == 2


def test_a_row_settled_while_its_owner_was_stopped_stays_final(
    tmp_path: Path, yanex_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An owner on another host (a database on a shared disk) is judged by its heartbeat: stopped
    past the window it is settled failed. When it resumes, the late writer changes no status, says
    so on stderr, and its metrics are still stored."""
    monkeypatch.setenv("YANEX_STALE_AFTER", str(STALE_AFTER.total_seconds()))
    script = write(tmp_path, "stoppable.py", STOPPABLE)
    ready, go = tmp_path / "ready", tmp_path / "go"
    run = yanex_run(script, tmp_path, str(ready), str(go))
    wait_until(ready.exists, "the script to start")
    os.kill(run.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: process_state(run.pid) == "T", "yanex run to stop")  # no beat from here on
        [row] = query(yanex_home, "SELECT id FROM experiments")
        execute(yanex_home, "UPDATE experiments SET owner_host = 'another-host' WHERE id = ?", row["id"])
        # A stopped owner does not beat: once its last beat is older than YANEX_STALE_AFTER, it
        # counts as dead.
        wait_until(lambda: heartbeat_age(yanex_home, row["id"]) > STALE_AFTER, "the heartbeat to go stale")
        wait_until(lambda: stored_points(yanex_home, row["id"]) or journal_points(row["id"], 1), "a point")
        listing = yanex_cli("list", "--format", "json")
        [view] = json.loads(listing.stdout)
        assert view["status"] == "failed", listing.stderr
        assert stored_points(yanex_home, row["id"]) == 1  # settled with what was logged so far
    finally:  # let the script finish even when an assertion failed: no process is left behind
        os.kill(run.pid, signal.SIGCONT)
        go.touch()
    _, err = run.communicate(timeout=60)
    assert f"experiment {row['id']} had already been recorded failed" in err
    [final] = query(yanex_home, "SELECT status, error_message FROM experiments")
    assert final["status"] == "failed" and "died" in final["error_message"]
    assert stored_points(yanex_home, row["id"]) == 2  # the late writer's metrics are stored


def test_heartbeat_interval_comes_from_the_environment(
    tmp_path: Path, yanex_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YANEX_HEARTBEAT_INTERVAL", "0.2")
    script = write(tmp_path, "stoppable.py", STOPPABLE)
    ready, go = tmp_path / "ready", tmp_path / "go"
    run = yanex_run(script, tmp_path, str(ready), str(go))
    wait_until(ready.exists, "the script to start")
    beats: set[datetime] = set()

    def four_beats() -> bool:
        beats.update(
            datetime.fromisoformat(r["heartbeat_at"])
            for r in query(yanex_home, "SELECT heartbeat_at FROM experiments")
        )
        return len(beats) >= 4

    try:
        wait_until(four_beats, "four heartbeats")
    finally:
        go.touch()
        run.communicate(timeout=60)
    # The earliest stamp seen may be the row's creation, just before its start; from its start on,
    # the default interval (5 s) leaves at least 5 s between stamps however fast or slow the
    # machine is, where 0.2 s leaves about one flush interval (0.5 s).
    kept = sorted(beats)[1:]
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(kept)]
    assert min(gaps) < 2.5, gaps


def test_a_created_row_whose_yanex_run_failed_to_start_is_settled(tmp_path: Path, yanex_home: Path) -> None:
    """`yanex run` writes its row, then cannot create the experiment's folder (here a file is in
    the way, as a full or read-only disk would stop it) and exits: the row must not stay created."""
    script = write(tmp_path, "never.py", "print('never runs')\n")
    yanex_home.mkdir()
    (yanex_home / "experiments").write_text("not a folder")
    failed = yanex_cli("run", str(script), cwd=tmp_path)
    assert failed.returncode != 0
    assert [r["status"] for r in query(yanex_home, "SELECT status FROM experiments")] == ["created"]
    listing = yanex_cli("list", "--format", "json")
    assert [v["status"] for v in json.loads(listing.stdout)] == ["cancelled"], listing.stderr  # never ran


# --- seeded fault injection ---------------------------------------------------------------------

# Logs in bursts, then waits for the test to release it: a script still there when the test
# checks was not stopped with its batch.
FAST_LOGGER = """
import pathlib, sys, time, yanex
for burst in range(int(sys.argv[1])):
    for i in range(400):
        yanex.log_metrics({"x": i, "y": 0.5})
    time.sleep(0.03)
release = pathlib.Path(sys.argv[2])
deadline = time.monotonic() + 120
while not release.exists() and time.monotonic() < deadline:
    time.sleep(0.02)
"""

ORCHESTRATOR = """
import json, sys, yanex
if __name__ == "__main__":
    specs = [
        yanex.ExperimentSpec(script_path=sys.argv[1], script_args=[str(n), sys.argv[3]], name=f"f{i}")
        for i, n in enumerate(json.loads(sys.argv[2]))
    ]
    yanex.run_multiple(specs, parallel=2)
"""

TARGETS = ("script", "worker", "orchestrator", "yanex run")
TRIALS = 24


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(TRIALS))
def test_sigkill_at_a_random_moment_loses_nothing_and_leaves_nothing(
    seed: int, tmp_path: Path, yanex_home: Path
) -> None:
    rng = random.Random(seed)
    target = TARGETS[seed % len(TARGETS)]
    delay = rng.uniform(0.0, 1.2)  # after the first script started
    token = f"{os.getpid()}-{seed}-{rng.random()}"
    env = {**os.environ, "YANEX_FAULT_TOKEN": token}
    logger = write(tmp_path, "logger.py", FAST_LOGGER)
    release = tmp_path / "release"
    if target == "yanex run":
        victim: subprocess.Popen[str] | subprocess.Popen[bytes] = yanex_run(
            logger, tmp_path, str(rng.randint(10, 60)), str(release), env=env
        )
    else:
        orchestrator = write(tmp_path, "orchestrate.py", ORCHESTRATOR)
        bursts = [rng.randint(10, 60) for _ in range(3)]
        victim = subprocess.Popen(
            [sys.executable, str(orchestrator), str(logger), json.dumps(bursts), str(release)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    wait_until(
        lambda: (
            query(yanex_home, "SELECT 1 FROM experiments WHERE status = 'running'")
            or victim.poll() is not None
        ),
        "a script to start",
    )
    time.sleep(delay)
    if target in ("orchestrator", "yanex run"):
        # Every other orchestrator trial is a SIGTERM: it must lose no more than a SIGKILL does.
        victim.send_signal(
            signal.SIGTERM if target == "orchestrator" and seed // len(TARGETS) % 2 else signal.SIGKILL
        )
        victim.wait(60)
        if target == "orchestrator":  # its scripts die with it, without being released
            wait_until(lambda: not tagged_processes(token), "the scripts to die with the orchestrator", 20)
    else:
        running = query(yanex_home, "SELECT pid, owner_pid FROM experiments WHERE status = 'running'")
        if running:
            chosen = rng.choice(running)
            os.kill(chosen["pid"] if target == "script" else chosen["owner_pid"], signal.SIGKILL)
            wait_until(
                lambda: not process_alive(chosen["pid"]), "the killed worker's script to be stopped", 20
            )
    release.touch()
    victim.wait(120)
    wait_until(lambda: not tagged_processes(token), "every process of the run to end", timeout=60)
    # Half the trials leave it to the next reader, half to `yanex db repair`.
    settle = (
        yanex_cli("list", "--format", "json") if (seed // len(TARGETS)) % 2 else yanex_cli("db", "repair")
    )
    assert settle.returncode == 0, settle.stderr
    rows = query(yanex_home, "SELECT id, status FROM experiments")
    assert {r["status"] for r in rows} <= {"completed", "failed", "cancelled"}, [dict(r) for r in rows]
    for row in rows:
        assert stored_points(yanex_home, row["id"]) == journal_points(row["id"], 2), (
            target,
            delay,
            row["id"],
        )
    assert not query(yanex_home, "SELECT id FROM batches WHERE ended_at IS NULL")
