"""A ``LocalPool`` worker process, and the messages it exchanges with the pool over its pipe.

The pool sends a ``Task`` (or ``None``: exit); the worker answers ``Ready`` once, then for each task
``Started`` (the script's pid, which the pool kills if the worker dies) and ``Done`` or ``Crashed``.
A stop reason reaches a worker as a signal (``STOP_SIGNALS``): the worker forwards SIGINT to its
script, or SIGTERM (then SIGKILL after the grace) when the orchestrator itself was terminated.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import NamedTuple

from yanex.db.engine import Database
from yanex.processes import die_with_parent
from yanex.runner.environment import this_process
from yanex.runner.task_runner import TaskRunner
from yanex.supervisor.executor import StopReason, Task
from yanex.supervisor.launch import Outcome
from yanex.supervisor.reaper import become_subreaper

_WATCH_PARENT_EVERY = 0.5  # seconds

STOP_SIGNALS = {
    StopReason.USER: signal.SIGINT,
    StopReason.FAIL_FAST: signal.SIGUSR1,
    StopReason.ERROR: signal.SIGUSR2,
    StopReason.TERMINATED: signal.SIGHUP,
}
# Blocked while a worker starts (``LocalPool``), taken once its handlers are in place.
WORKER_SIGNALS = frozenset({*STOP_SIGNALS.values(), signal.SIGTERM})


class Ready(NamedTuple):
    """The worker is set up and waits for tasks (its first message)."""


class Started(NamedTuple):
    experiment_id: str
    script_pid: int


class Done(NamedTuple):
    outcome: Outcome


class Crashed(NamedTuple):
    """yanex itself failed to run the task (not the script): ``error`` is ``Type: message``."""

    error: str


WorkerMessage = Ready | Started | Done | Crashed


def _die_with(parent_pid: int, runner: TaskRunner) -> None:
    """Never outlive the orchestrator, and never let the script outlive this worker.

    On Linux the kernel sends SIGTERM when the orchestrator dies (PR_SET_PDEATHSIG); a thread that
    watches our parent pid covers other systems and the window before prctl took effect.
    """

    def leave() -> None:
        runner.kill()
        os._exit(1)

    die_with_parent(signal.SIGTERM)
    if os.getppid() != parent_pid:
        leave()

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_WATCH_PARENT_EVERY)
        leave()

    threading.Thread(target=watch, name="yanex-watch-parent", daemon=True).start()


def _interrupt_handler(runner: TaskRunner, reason: StopReason) -> Callable[[int, object], None]:
    def handle(_signum: int, _frame: object) -> None:
        runner.interrupt(reason)

    return handle


def worker_main(conn: Connection, db_url: str, db_identity: tuple[int, int], parent_pid: int) -> None:
    """Run tasks from ``conn`` one at a time, report each outcome back."""
    runner = TaskRunner(Database(db_url, identity=db_identity), this_process())
    # A terminal's Ctrl-C reaches the workers too: the worker started with it blocked
    # (``LocalPool``), and takes one that came meanwhile once its handlers are in place, never as a
    # KeyboardInterrupt (the orchestrator stops the batch).
    for reason, signum in STOP_SIGNALS.items():
        signal.signal(signum, _interrupt_handler(runner, reason))

    def terminate(_signum: int, _frame: object) -> None:
        runner.kill()
        os._exit(1)

    signal.signal(signal.SIGTERM, terminate)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, WORKER_SIGNALS)
    _die_with(parent_pid, runner)
    become_subreaper()  # a worker is yanex's own process: its script's orphans come back to it
    conn.send(Ready())
    while True:
        try:
            task: Task | None = conn.recv()
        except EOFError:  # the orchestrator is gone
            return
        if task is None:
            return
        message: WorkerMessage
        try:
            outcome = runner.run(task, lambda experiment_id, pid: conn.send(Started(experiment_id, pid)))
        except Exception as error:
            message = Crashed(f"{type(error).__name__}: {error}")
        else:
            message = Done(outcome)
        conn.send(message)
