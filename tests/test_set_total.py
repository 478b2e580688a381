"""``yanex.set_total``: a script declares its steps; through its journal the store keeps them, so
``yanex watch`` and ``yanex show`` give a percentage and the time left, also after ``yanex run``
was killed with SIGKILL; standalone it is checked and nothing is kept."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_until, yanex_cli
from tests.screen import run_in_window
from yanex import config
from yanex.owners import process_alive
from yanex.store.ingest import parse_journal

# Declares 400 steps, logs one every 50 ms until its stop file appears, then stops early.
COUNTER = """
import pathlib, sys, time, yanex
stop = pathlib.Path(sys.argv[1])
yanex.set_total(400)
step = 0
while not stop.exists() and step < 400:
    yanex.log_metrics({"loss": 1 / (step + 1)}, step=step)
    step += 1
    time.sleep(0.05)
"""


NAME = "counted-lr0.000464159-seed2-long"  # longer than watch gives a name: cut, not the values


@pytest.fixture
def counting(write_script, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """A real `yanex run` of COUNTER; yields its id once 20 steps are stored, the process and the
    stop file."""
    stop = tmp_path / "stop"
    script = write_script("counter.py", COUNTER)
    process = subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", str(script), "--name", NAME, "--", str(stop)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    try:
        wait_until(
            lambda: int(yanex_cli("get", "metrics.loss.count", NAME).stdout.strip() or 0) >= 20,
            "steps",
        )
        yield yanex_cli("get", "id", "--name", NAME).stdout.strip(), process, stop
    finally:
        stop.touch()
        process.wait(timeout=60)


def test_watch_and_show_give_progress_and_time_left_of_a_running_script(
    counting: tuple[str, subprocess.Popen[bytes], Path],
) -> None:
    experiment_id, process, stop = counting
    piped = yanex_cli("watch")
    assert piped.returncode == 0, piped.stderr
    (row,) = [line for line in piped.stdout.splitlines() if line.startswith(experiment_id[:8])]
    assert re.search(r"running\s+(\d+)% (\d+s|\dm\d\ds) left", row), row  # 20 of 400 steps at 20 a second
    screen = run_in_window(["watch"], until="(q quits)")
    (live,) = [r for r in screen.rows if r.startswith(experiment_id[:8])]
    assert len(live) <= 80 and re.search(r"running\s+\d+% \S+ left", live), live  # on 80 columns
    assert re.search(r"left\s+loss\s+\d+\s+0\.\d+", live), live  # the name gave way to the last value
    shown = yanex_cli("show", experiment_id)
    (progress,) = [line for line in shown.stdout.splitlines() if "progress" in line]
    assert re.search(r"progress\s+\d+% \(step \d+ of 400\), \S+ left$", progress), progress
    assert json.loads(yanex_cli("show", experiment_id, "--format", "json").stdout)["total_steps"] == 400

    stop.touch()  # it ends early: the share it reached stays, with no time left
    assert process.wait(timeout=60) == 0
    last = int(yanex_cli("get", "metrics.loss.count", experiment_id).stdout) - 1  # steps from 0
    (progress,) = [
        line for line in yanex_cli("show", experiment_id).stdout.splitlines() if "progress" in line
    ]
    assert progress.split(None, 1)[1] == f"{round(100 * (last + 1) / 400)}% (step {last} of 400)"


def test_the_total_survives_yanex_run_killed_with_sigkill(
    write_script, tmp_path: Path, yanex_home: Path
) -> None:
    """The total is in the journal before the supervisor could store it; the reconciler that
    settles the dead run ingests it with the points."""
    go, declared = tmp_path / "go", tmp_path / "declared"
    script = write_script(
        "train.py",
        f"""
        import pathlib, time, yanex
        while not pathlib.Path({str(go)!r}).exists():
            time.sleep(0.02)
        yanex.set_total(300)
        yanex.log_metrics({{"loss": 0.5}}, step=7)
        pathlib.Path({str(declared)!r}).touch()
        time.sleep(600)
        """,
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", str(script)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    database = yanex_home / "yanex.db"
    wait_until(
        lambda: yanex_cli("list", "--status", "running", "--format", "csv").stdout.count("\n") > 1, "a run"
    )
    experiment_id = yanex_cli("get", "id", "--status", "running").stdout.strip()
    lock = sqlite3.connect(database, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")  # the supervisor can store nothing now
        go.touch()
        wait_until(declared.exists, "the script to declare its total")
        run.send_signal(signal.SIGKILL)
        run.wait(60)
    finally:
        lock.execute("COMMIT")
        lock.close()
    journal = (config.experiment_dir(experiment_id) / config.METRICS_FILE).read_text()
    assert '"total":300' in journal
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT total_steps FROM experiments").fetchall() == [(None,)]
    wait_until(lambda: not process_alive(run.pid), "yanex run to die")
    shown = json.loads(yanex_cli("show", experiment_id, "--format", "json").stdout)  # settles the row
    assert shown["status"] == "failed" and shown["total_steps"] == 300
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT total_steps FROM experiments").fetchall() == [(300,)]


def test_set_total_checks_its_argument_and_standalone_keeps_nothing(tmp_path: Path) -> None:
    import yanex

    with pytest.raises(TypeError, match="as an int"):
        yanex.set_total(12.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        yanex.set_total(True)
    with pytest.raises(ValueError, match="at least 1"):
        yanex.set_total(0)
    yanex.set_total(100)  # standalone: checked, nothing kept
    assert yanex.is_standalone()


def test_the_journal_keeps_the_last_total_and_skips_a_bad_one() -> None:
    lines = [
        b'{"total":100,"t":1.0}',
        b'{"step":0,"t":1.0,"values":{"loss":1.0}}',
        b'{"total":250,"t":2.0}',
        b'{"total":-3,"t":3.0}',
        b'{"total":"many","t":3.0}',
    ]
    parsed = parse_journal("e" * 32, lines)
    assert (parsed.total, parsed.skipped, len(parsed.points)) == (250, 2, 1)
