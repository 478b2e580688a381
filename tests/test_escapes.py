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
