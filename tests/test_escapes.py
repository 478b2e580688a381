"""Processes that hang or escape: a fork inside ``log_metrics``, children and daemons of a script,
signals a script ignores, stdout closed or full. Every case runs real ``yanex run`` processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import in_terminal, process_state, signal_taken, wait_until, yanex_cli
from tests.stored import get_experiment, get_metrics
from tests.test_batch_faults import finish, rows, script, start
from yanex import config
from yanex.db.engine import Database
from yanex.owners import process_alive
from yanex.specs import ExperimentView, Status


def only_experiment(db: Database) -> ExperimentView:
    [experiment_id] = [p.name for p in config.experiments_root().iterdir()]
    return get_experiment(db, experiment_id)


FORK_WHILE_LOGGING = """
import os, signal, threading, time, yanex
stop = False

def spin():
    while not stop:
        yanex.log_metrics({"spin": 1.0})

thread = threading.Thread(target=spin)
thread.start()
hung = 0
for i in range(40):
    if hung:
        break
    if i:  # the first fork races the thread's first call, which imports json
        time.sleep(0.005)
    pid = os.fork()
    if pid == 0:
        yanex.log_metrics({"child": float(i)}, step=i)
        os._exit(0)
    deadline = time.monotonic() + 30  # a deadlocked child never ends; a slow one on a loaded machine does
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            hung += 1
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        time.sleep(0.01)
stop = True
thread.join()
print("hung children:", hung, flush=True)
"""


def test_a_fork_while_another_thread_logs_does_not_deadlock_the_child(db: Database, write_script) -> None:
    script = write_script("forks.py", FORK_WHILE_LOGGING)
    result = yanex_cli("run", str(script), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "hung children: 0" in result.stdout
    view = only_experiment(db)
    assert view.status is Status.COMPLETED
    # Every child's point reached the journal through its own descriptor.
    points = get_metrics(db, view.id, "child")
    assert sorted(p.step for p in points) == list(range(40))
    assert all(p.value == p.step for p in points)


PRINTS = """
import sys, yanex
for i in range(20000):
    print("line", i)
print("done", file=sys.stderr)
yanex.log_metrics({"printed": 20000})
"""


def _run_with_stdout(script: Path, redirect: str, buffered: bool = True) -> subprocess.CompletedProcess[str]:
    """``yanex run`` from a shell with its stdout redirected (``>&-`` closes it), buffered as a user's
    Python is unless ``PYTHONUNBUFFERED`` says otherwise."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    return subprocess.run(
        ["sh", "-c", f'exec "$@" {redirect}', "sh", sys.executable, "-m", "yanex", "run", str(script)],
        env=env if buffered else {**env, "PYTHONUNBUFFERED": "1"},
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )


def test_closed_stdout_still_records_the_run_and_its_output(db: Database, write_script) -> None:
    result = _run_with_stdout(write_script("prints.py", PRINTS), ">&-")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    view = only_experiment(db)
    assert view.status is Status.COMPLETED
    assert f"yanex: experiment {view.id[:8]} completed" in result.stderr
    lines = (config.experiment_dir(view.id) / config.STDOUT_FILE).read_text().splitlines()
    assert lines[0] == "line 0" and lines[-1] == "line 19999" and len(lines) == 20000
    assert [p.value for p in get_metrics(db, view.id)] == [20000.0]


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
def test_full_stdout_still_records_the_run_and_its_output(db: Database, write_script, buffered: bool) -> None:
    result = _run_with_stdout(write_script("prints.py", PRINTS), ">/dev/full", buffered)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    view = only_experiment(db)
    assert view.status is Status.COMPLETED
    assert len((config.experiment_dir(view.id) / config.STDOUT_FILE).read_text().splitlines()) == 20000
    assert "done" in (config.experiment_dir(view.id) / config.STDERR_FILE).read_text()


# Leaves a plain forked child and a double-forked setsid daemon behind, then ends as argv[2] says.
LEAVES_PROCESSES = """
import os, pathlib, signal, sys, time
folder, ending = pathlib.Path(sys.argv[1]), sys.argv[2]

def linger(name):
    (folder / name).write_text(str(os.getpid()))
    time.sleep(120)
    os._exit(0)

first = os.fork()
if first == 0:
    os.setsid()
    if os.fork() == 0:
        linger("daemon.pid")
    os._exit(0)
os.waitpid(first, 0)
if os.fork() == 0:
    linger("child.pid")
while not ((folder / "daemon.pid").exists() and (folder / "child.pid").exists()):
    time.sleep(0.01)
(folder / "ready").touch()
if ending == "fail":
    raise RuntimeError("failing on purpose")
if ending in ("timeout", "cancel"):
    time.sleep(120)
"""


def lingering(folder: Path) -> list[int]:
    """The pids the script left behind that still run (a zombie counts as dead)."""
    pids = [int((folder / name).read_text()) for name in ("daemon.pid", "child.pid")]
    deadline = time.monotonic() + 10  # killed ones may need a moment to be reaped
    while any(process_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [pid for pid in pids if process_alive(pid)]
    for pid in survivors:  # do not leak them into the rest of the suite
        os.kill(pid, signal.SIGKILL)
    return survivors


@pytest.mark.parametrize(
    ("ending", "status"),
    [
        ("exit", Status.COMPLETED),
        ("fail", Status.FAILED),
        ("timeout", Status.FAILED),
        ("cancel", Status.CANCELLED),
    ],
)
def test_yanex_run_leaves_no_process_behind(
    db: Database, write_script, tmp_path: Path, ending: str, status: Status
) -> None:
    script = write_script("leaves.py", LEAVES_PROCESSES)
    folder = tmp_path / "pids"
    folder.mkdir()
    limit = ["--timeout", "3s"] if ending == "timeout" else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", str(script), *limit, "--", str(folder), ending],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_until(lambda: (folder / "ready").exists(), "the script's children to start")
        if ending == "cancel":
            proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert lingering(folder) == []
    view = only_experiment(db)
    assert view.status is status, stderr
    if ending == "timeout":
        assert view.error_message == "timed out after 3s"


# Ignores SIGINT and SIGTERM: only SIGKILL stops it.
STUBBORN = """
import pathlib, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(sys.argv[1]).touch()
time.sleep(120)
"""


# STUBBORN that also notes each SIGINT it disregards in the file named by argv[2].
STUBBORN_NOTING = """
import pathlib, signal, sys, time
noted = pathlib.Path(sys.argv[2])
signal.signal(signal.SIGINT, lambda *_: noted.write_text(noted.read_text() + "SIGINT\\n"))
signal.signal(signal.SIGTERM, signal.SIG_IGN)
noted.write_text("")
pathlib.Path(sys.argv[1]).touch()
while True:
    time.sleep(120)
"""


def test_second_ctrl_c_in_a_terminal_stops_a_script_that_ignores_signals(
    db: Database, write_script, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YANEX_KILL_GRACE", "1")
    script = write_script("stubborn.py", STUBBORN_NOTING)
    ready, noted = tmp_path / "ready", tmp_path / "noted"
    with in_terminal(sys.executable, "-m", "yanex", "run", str(script), "--", str(ready), str(noted)) as (
        proc,
        controller,
    ):
        wait_until(ready.exists, "the script to start")
        os.write(controller, b"\x03")
        # The terminal signals its foreground group at once: once the script has noted its SIGINT,
        # yanex run's is sent too, and has been handled once yanex run waits again. Only then may
        # the second Ctrl-C come, or the two would merge into one.
        wait_until(lambda: noted.read_text() == "SIGINT\n", "the script to get the first Ctrl-C")
        wait_until(lambda: signal_taken(proc.pid, signal.SIGINT), "yanex run to take the first Ctrl-C")
        assert proc.poll() is None  # the script disregarded the first Ctrl-C, and yanex left it so
        started = time.monotonic()
        os.write(controller, b"\x03")
        try:
            _, stderr = proc.communicate(timeout=60)
        finally:
            proc.kill()
        stopped_in = time.monotonic() - started
    assert proc.returncode == 137
    assert "SIGTERM, then SIGKILL in 1 s" in stderr
    assert stopped_in < 30
    view = only_experiment(db)
    assert (view.status, view.exit_code, view.error_message) == (
        Status.CANCELLED,
        137,
        "interrupted by the user",
    )


def test_sigterm_to_yanex_run_kills_a_script_that_ignores_it(
    db: Database, write_script, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YANEX_KILL_GRACE", "1")
    script = write_script("stubborn.py", STUBBORN)
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", str(script), "--", str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_until(ready.exists, "the script to start")
        proc.terminate()
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 137
    view = only_experiment(db)
    assert (view.status, view.exit_code, view.error_message) == (
        Status.CANCELLED,
        137,
        "terminated: yanex run received SIGTERM",
    )


@pytest.mark.parametrize("parallel", [None, 2])
@pytest.mark.parametrize(
    ("ending", "status"), [("exit", "completed"), ("fail", "failed"), ("timeout", "failed")]
)
def test_a_batch_leaves_no_process_behind(
    tmp_path: Path, yanex_home: Path, parallel: int | None, ending: str, status: str
) -> None:
    folder = tmp_path / "pids"
    folder.mkdir()
    leaves = script(tmp_path, "leaves.py", LEAVES_PROCESSES)
    specs = [{"script_path": leaves, "script_args": [str(folder), ending], "name": "leaves", "timeout": 5}]
    returncode, out, err = finish(start(tmp_path, specs, {"parallel": parallel}), tmp_path)
    assert returncode == 0, err
    [result] = json.loads(out)
    assert result["status"] == status, result
    if ending == "timeout":
        assert result["error_message"] == "timed out after 5s"
    assert lingering(folder) == []


@pytest.mark.parametrize("parallel", [None, 2])
def test_sigterm_to_the_orchestrator_cancels_the_batch_and_leaves_no_process(
    tmp_path: Path, yanex_home: Path, parallel: int | None
) -> None:
    folder = tmp_path / "pids"
    folder.mkdir()
    leaves = script(tmp_path, "leaves.py", LEAVES_PROCESSES)
    sleeper = script(tmp_path, "sleeper.py", "import time\ntime.sleep(120)\n")
    specs = [{"script_path": leaves, "script_args": [str(folder), "cancel"], "name": "leaves"}] + [
        {"script_path": sleeper, "name": f"sleeper{i}"} for i in range(2)
    ]
    process = start(tmp_path, specs, {"parallel": parallel})
    wait_until(lambda: (folder / "ready").exists(), "the script's children to start")
    running = [r for r in rows(yanex_home) if r["status"] == "running"]
    process.terminate()
    returncode, _, err = finish(process, tmp_path)
    assert returncode == 143, err
    assert "Traceback" not in err
    recorded = rows(yanex_home)
    assert [r["status"] for r in recorded] == ["cancelled"] * 3
    assert {r["error_message"] for r in recorded} == {"terminated: the batch's orchestrator received SIGTERM"}
    assert all(r["ended_at"] is not None for r in recorded)
    assert lingering(folder) == []
    others = [r["pid"] for r in running] + [r["owner_pid"] for r in running if parallel is not None]
    wait_until(lambda: not any(process_alive(pid) for pid in others), "scripts and workers to exit", 20)


@pytest.mark.parametrize("parallel", [None, 2])
def test_second_ctrl_c_to_a_batch_kills_scripts_that_ignore_signals(
    tmp_path: Path, yanex_home: Path, parallel: int | None
) -> None:
    ready = tmp_path / "ready"
    stubborn = script(tmp_path, "stubborn.py", STUBBORN)
    specs = [{"script_path": stubborn, "script_args": [str(ready)], "name": "stubborn"}]
    process = start(tmp_path, specs, {"parallel": parallel})
    wait_until(ready.exists, "the script to start")
    [row] = rows(yanex_home)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    # The second Ctrl-C once the orchestrator took the first: it says so, then waits for its scripts.
    wait_until(
        lambda: (
            "Ctrl-C again to kill at once" in (tmp_path / "orchestrator.err").read_text()
            and process_state(process.pid) == "S"
        ),
        "the orchestrator to take the first Ctrl-C",
    )
    os.killpg(process.pid, signal.SIGINT)
    returncode, _, err = finish(process, tmp_path)
    assert returncode != 0 and "KeyboardInterrupt" in err.splitlines()[-1]
    [recorded] = rows(yanex_home)
    assert (recorded["status"], recorded["error_message"]) == ("cancelled", "interrupted by the user")
    assert not process_alive(row["pid"])
