"""Processes that hang or escape: a fork inside ``log_metrics``, children and daemons of a script,
stdout closed or full. Every case runs real ``yanex run`` processes and real batches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import yanex_cli
from yanex import config
from yanex.db.engine import Database
from yanex.specs import ExperimentView, Status
from yanex.store.experiments import get_experiment, get_metrics


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
    time.sleep(0.005)
    pid = os.fork()
    if pid == 0:
        yanex.log_metrics({"child": float(i)}, step=i)
        os._exit(0)
    deadline = time.monotonic() + 10
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
    assert sorted(p.value for p in get_metrics(db, view.id, "child")) == [float(i) for i in range(40)]


PRINTS = """
import sys, yanex
for i in range(20000):
    print("line", i)
print("done", file=sys.stderr)
yanex.log_metrics({"printed": 20000})
"""


def _run_with_stdout(script: Path, redirect: str) -> subprocess.CompletedProcess[str]:
    """``yanex run`` from a shell with its stdout redirected (``>&-`` closes it)."""
    return subprocess.run(
        ["sh", "-c", f'exec "$@" {redirect}', "sh", sys.executable, "-m", "yanex", "run", str(script)],
        env=dict(os.environ),
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
    assert f"yanex: experiment {view.id} completed" in result.stderr
    lines = (config.experiment_dir(view.id) / config.STDOUT_FILE).read_text().splitlines()
    assert lines[0] == "line 0" and lines[-1] == "line 19999" and len(lines) == 20000
    assert [p.value for p in get_metrics(db, view.id)] == [20000.0]


def test_full_stdout_still_records_the_run_and_its_output(db: Database, write_script) -> None:
    result = _run_with_stdout(write_script("prints.py", PRINTS), ">/dev/full")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    view = only_experiment(db)
    assert view.status is Status.COMPLETED
    assert len((config.experiment_dir(view.id) / config.STDOUT_FILE).read_text().splitlines()) == 20000
    assert "done" in (config.experiment_dir(view.id) / config.STDERR_FILE).read_text()
