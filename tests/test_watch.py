"""`yanex watch`: a snapshot when piped; live in a real pseudo-terminal beside a real running
experiment, quitting on q and on Ctrl-C with the terminal restored."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import _take_terminal, wait_until, yanex_cli
from tests.query_fixtures import set_times
from yanex.db.engine import Database
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
from yanex.store.experiments import (
    MetricRecord,
    Owner,
    create_experiments,
    finish,
    ingest_metrics,
    mark_running,
)

# Logs a point every 50 ms until its stop file appears.
LOGGER = """
import pathlib, sys, time, yanex
stop = pathlib.Path(sys.argv[1])
step = 0
while not stop.exists():
    yanex.log_metrics({"loss": 1 / (step + 1), "accuracy": step / 1000}, step=step)
    step += 1
    time.sleep(0.05)
"""


@pytest.fixture
def running(write_script, tmp_path: Path) -> Iterator[str]:
    """A real `yanex run` experiment logging metrics; yields its id once points are stored."""
    stop = tmp_path / "stop"
    script = write_script("logger.py", LOGGER)
    process = subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", str(script), "--name", "live-run", "--", str(stop)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    try:
        wait_until(lambda: yanex_cli("get", "metrics.loss", "live-run").stdout.strip() != "", "points")
        yield yanex_cli("get", "id", "--name", "live-run").stdout.strip()
    finally:
        stop.touch()
        process.wait(timeout=60)


def finished(db: Database, name: str, ended_ago: timedelta, logged_ago: timedelta, status: Status) -> str:
    owner = Owner("host", os.getpid())
    (experiment_id,) = create_experiments(
        db,
        [ExperimentSpec(script_path=Path("t.py"), name=name)],
        status=Status.QUEUED,
        owner=owner,
        git=GitInfo(),
        environment=EnvironmentInfo(),
    )
    mark_running(db, experiment_id, os.getpid(), owner)  # owned by this live process: stays running
    ingest_metrics(db, experiment_id, [MetricRecord(7, datetime.now(UTC) - logged_ago, {"loss": 0.25})])
    if status is not Status.RUNNING:
        finish(db, experiment_id, status, exit_code=0)
        ended = (datetime.now(UTC) - ended_ago).replace(tzinfo=None)
        set_times(db, experiment_id, ended_at=ended)
    return experiment_id


def test_piped_snapshot_shows_running_and_just_finished_and_marks_stale(running: str, db: Database) -> None:
    recent = finished(db, "recent", timedelta(minutes=2), timedelta(minutes=2), Status.COMPLETED)
    old = finished(db, "old", timedelta(hours=2), timedelta(hours=2), Status.COMPLETED)
    stuck = finished(db, "stuck", timedelta(0), timedelta(minutes=5), Status.RUNNING)
    db.dispose()
    result = yanex_cli("watch")
    assert result.returncode == 0, result.stderr
    heading = [
        "id",
        "name",
        "status",
        "metric",
        "step",
        "last",
        "rate",
        "last",
        "point",
        "others",
    ]
    assert result.stderr.split() == heading
    rows = {
        full: line
        for line in result.stdout.splitlines()
        for full in (running, recent, stuck, old)
        if line.startswith(full[:8])
    }
    assert set(rows) == {running, recent, stuck}  # not the one that ended two hours ago
    assert old not in rows
    live = rows[running].split()
    assert live[1:4] == ["live-run", "running", "accuracy"] and "loss=" in rows[running]
    assert live[6].endswith("/s") and float(live[6][:-2]) > 1  # about 20 steps a second
    assert "progress" not in result.stderr  # no script declared its total steps
    assert "(stale)" in rows[stuck] and "5m ago" in rows[stuck]
    assert "(stale)" not in rows[running] and "(stale)" not in rows[recent]
    chosen = yanex_cli("watch", "--status", "completed", "--metric", "loss")
    assert {line.split()[0] for line in chosen.stdout.splitlines()} == {recent[:8], old[:8]}


def _read(controller: int, until: bytes, seconds: float = 60) -> bytes:
    """What the terminal shows until ``until`` appears (or the process closes it)."""
    seen = b""
    deadline = time.monotonic() + seconds
    while until not in seen and time.monotonic() < deadline:
        if select.select([controller], [], [], 0.1)[0]:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            seen += chunk
    return seen


@pytest.mark.parametrize("key", [b"q", b"\x03"], ids=["q", "ctrl-c"])
def test_live_in_a_terminal_refreshes_and_restores_the_terminal(running: str, key: bytes) -> None:
    controller, terminal = pty.openpty()
    try:
        before = termios.tcgetattr(terminal)
        process = subprocess.Popen(
            [sys.executable, "-m", "yanex", "watch", "--metric", "loss"],
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            start_new_session=True,
            preexec_fn=_take_terminal,
            env={k: v for k, v in os.environ.items() if k != "NO_COLOR"},
        )
        first = _read(controller, b"(q quits)")
        screen = first + _read(controller, b"(q quits)")  # a second frame: it refreshes
        assert screen.startswith(b"\x1b[?1049h\x1b[?25l")  # alternate screen, cursor hidden
        assert screen.count(b"yanex watch ") >= 2
        text = screen.decode()
        assert running[:8] in text and "live-run" in text and "loss" in text
        assert any("\u2581" <= c <= "\u2588" for c in text)  # the trend's sparkline
        assert "\x1b[36mrunning" in text  # coloured status on a terminal
        os.write(controller, key)
        assert process.wait(timeout=30) == 0
        rest = _read(controller, b"\x1b[?1049l", 10)
        assert rest.endswith(b"\x1b[?25h\x1b[?1049l")  # cursor shown, main screen back
        assert termios.tcgetattr(terminal) == before  # echo and line mode back
    finally:
        os.close(terminal)
        os.close(controller)


def test_in_80x24_the_heading_and_running_rows_stay_and_finished_rows_fill_the_rest(
    running: str, db: Database
) -> None:
    from tests.screen import run_in_window

    stuck = [finished(db, f"stuck-{n}", timedelta(0), timedelta(minutes=5), Status.RUNNING) for n in range(2)]
    # 40 finished in the last 10 minutes, each 10 s after the previous; names longer than a column.
    done = [
        finished(
            db,
            f"sweep-point-with-a-long-name-{n:02d}",
            timedelta(seconds=400 - 10 * n),
            timedelta(minutes=7),
            Status.COMPLETED,
        )
        for n in range(40)
    ]
    db.dispose()
    screen = run_in_window(["watch", "--metric", "loss"], until="(q quits)")
    frame = screen.lines("yanex watch ")
    assert all(len(line) <= 80 for line in frame), [line for line in frame if len(line) > 80]
    assert len(frame) <= 24
    rows = screen.rows
    assert rows[0].startswith("yanex watch ") and "3 running, 40 other" in rows[0]  # nothing scrolled off
    assert rows[2].split()[:3] == ["id", "name", "status"]
    shown = [row.split()[0] for row in rows[3:] if row]
    assert set(shown[:3]) == {running[:8], *(s[:8] for s in stuck)}  # every running one, first
    room = 24 - 3 - 3 - 1  # heading, blank, header, the running rows, the line of what is left out
    assert shown[3 : 3 + room] == [d[:8] for d in reversed(done)][:room]  # newest first
    assert rows[-1] == f"{40 - room} more finished not shown"
    assert "sweep-point-with-a-long…" in rows[6]  # a long name is cut, the columns after it stay
