"""The executor seam on its own: LocalPool and InlineExecutor with real workers and scripts."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

import yanex
from tests.stored import get_experiment
from yanex.owners import process_alive
from yanex.runner.environment import capture_environment, this_process
from yanex.runner.inline import InlineExecutor
from yanex.runner.local_pool import LocalPool
from yanex.specs import GitInfo, Status
from yanex.store.experiments import create_experiments
from yanex.supervisor.executor import StopReason, Task
from yanex.supervisor.launch import LaunchRequest


def tasks(db, script: Path, count: int) -> list[Task]:
    specs = [yanex.ExperimentSpec(script_path=script, config={"i": i}) for i in range(count)]
    ids = create_experiments(
        db,
        specs,
        status=Status.QUEUED,
        owner=this_process(),
        git=GitInfo(),
        environment=capture_environment(),
    )
    return [
        Task(LaunchRequest(eid, script, config=spec.config)) for eid, spec in zip(ids, specs, strict=True)
    ]


def wait_for_pid(db, experiment_id: str) -> int:
    deadline = time.monotonic() + 60
    while (pid := get_experiment(db, experiment_id).pid) is None:
        assert time.monotonic() < deadline, "the script never started"
        time.sleep(0.05)
    return pid


def test_pool_futures_resolve_to_recorded_outcomes(db, write_script):
    script = write_script("ok.py", "import yanex, sys\nsys.exit(yanex.get_param('i'))\n")
    pool = LocalPool(2, db)
    try:
        futures = [pool.submit(task) for task in tasks(db, script, 3)]
        outcomes = [future.result(timeout=60) for future in futures]
    finally:
        pool.shutdown()
    assert [(o.status, o.exit_code) for o in outcomes] == [
        (Status.COMPLETED, 0),
        (Status.FAILED, 1),
        (Status.FAILED, 2),
    ]
    assert [get_experiment(db, o.experiment_id).status for o in outcomes] == [o.status for o in outcomes]


def test_a_killed_worker_loses_only_its_task_and_is_replaced(db, write_script, tmp_path):
    go = tmp_path / "go"
    script = write_script(
        "wait.py", f"import pathlib, time\nwhile not pathlib.Path({str(go)!r}).exists(): time.sleep(0.05)\n"
    )
    pool = LocalPool(1, db)  # one worker: the second task can only run on its replacement
    try:
        lost_task, next_task = tasks(db, script, 2)
        lost, following = pool.submit(lost_task), pool.submit(next_task)
        script_pid = wait_for_pid(db, lost_task.request.experiment_id)
        worker_pid = _owner(db, lost_task.request.experiment_id)
        assert worker_pid is not None and worker_pid != os.getpid()
        os.kill(worker_pid, signal.SIGKILL)
        outcome = lost.result(timeout=60)
        assert outcome.status is Status.FAILED
        assert outcome.error_message == (
            "the yanex worker process running it died (killed by signal 9 (SIGKILL)); its script was stopped"
        )
        assert not process_alive(script_pid)
        go.touch()
        assert following.result(timeout=60).status is Status.COMPLETED
        assert _owner(db, next_task.request.experiment_id) is None  # finished rows have no owner
    finally:
        pool.shutdown(kill=True)
    assert get_experiment(db, lost_task.request.experiment_id).status is Status.FAILED


def _owner(db, experiment_id: str) -> int | None:
    with sqlite3.connect(db.url.removeprefix("sqlite:///")) as conn:
        owner: int | None = conn.execute(
            "SELECT owner_pid FROM experiments WHERE id = ?", (experiment_id,)
        ).fetchone()[0]
        return owner


@pytest.mark.parametrize("make", [lambda db: LocalPool(1, db), lambda db: InlineExecutor(db, this_process())])
def test_interrupt_cancels_the_running_script_and_the_queue(db, write_script, make):
    script = write_script("sleep.py", "import time\ntime.sleep(120)\n")
    executor = make(db)
    try:
        running, queued = tasks(db, script, 2)
        futures = [executor.submit(running), executor.submit(queued)]
        script_pid = wait_for_pid(db, running.request.experiment_id)
        executor.interrupt(StopReason.USER)
        outcome = futures[0].result(timeout=60)
        assert (outcome.status, outcome.error_message) == (Status.CANCELLED, "interrupted by the user")
        assert futures[1].cancelled()
        assert not process_alive(script_pid)
    finally:
        executor.shutdown(kill=True)


def test_pool_refuses_the_forkserver_start_method(db):
    with pytest.raises(ValueError, match="'fork' or 'spawn' start method, not 'forkserver'"):
        LocalPool(1, db, context=multiprocessing.get_context("forkserver"))
