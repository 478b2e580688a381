"""Batches on a real Slurm: slurmctld and slurmd on this machine (tests/slurm/start-slurm.sh).

Where no Slurm answers, these tests skip, unless YANEX_REQUIRE_SLURM=1 (CI sets it after starting
the cluster as root), where they fail instead. Jobs run through sbatch, srun and slurmstepd, with
Slurm's own signals, array ids, scancel and requeue; they get a YANEX_HOME of their own.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

import yanex
from tests.conftest import wait_until, yanex_cli
from tests.executor_scenarios import (
    LOGS,
    SLEEPS,
    TIMED,
    artifacts_come_home_and_reach_dependents,
    interrupt_once_running,
    make_script,
    most_at_once,
    pruning_reaches_the_script,
)
from tests.stored import get_metrics
from yanex import config
from yanex.db.engine import Database
from yanex.executors import SlurmOptions
from yanex.executors.slurm_executor import max_array_size

pytestmark = pytest.mark.slow
PARTITION = os.environ.get("SLURM_PARTITION", "debug")


def _slurm_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    listed = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    return listed.returncode == 0 and any(
        state.strip("*~#") in ("idle", "mixed", "allocated", "completing") for state in listed.stdout.split()
    )


@pytest.fixture(scope="module", autouse=True)
def slurm() -> None:
    if _slurm_answers():
        return
    if os.environ.get("YANEX_REQUIRE_SLURM") == "1":
        pytest.fail("YANEX_REQUIRE_SLURM=1 but no Slurm node answers sinfo (see tests/slurm/start-slurm.sh)")
    pytest.skip("no Slurm cluster here: start one with `sudo tests/slurm/start-slurm.sh`")


def _options(shared: Path, **options: object) -> SlurmOptions:
    setup = (f"export YANEX_HOME={shared / 'job-home'}",)
    return yanex.executors.slurm(partition=PARTITION, folder=shared, setup=setup, **options)


def _our_jobs(shared: Path) -> list[str]:
    """Jobs still in Slurm's queue whose files are in ``shared``."""
    listed = subprocess.run(
        ["squeue", "--noheader", "--array", "--format=%i %o"], capture_output=True, text=True, timeout=30
    )
    return [line.split()[0] for line in listed.stdout.splitlines() if str(shared) in line]


def test_a_batch_is_one_job_array(tmp_path: Path, db: Database) -> None:
    code, shared = tmp_path / "code", tmp_path / "shared"
    script = make_script(
        code,
        "train.py",
        """
        import os, sys, time, yanex
        print(os.environ["SLURM_ARRAY_JOB_ID"], os.environ["SLURM_ARRAY_TASK_ID"])
        for step in range(3):
            yanex.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
        time.sleep(float(yanex.get_param("sleep")))
        sys.exit(int(yanex.get_param("exit")))
        """,
    )
    results = yanex.run_multiple(
        [
            yanex.ExperimentSpec(script, config={"sleep": 0, "exit": 0}, name="ok"),
            yanex.ExperimentSpec(script, config={"sleep": 0, "exit": 3}, name="exits"),
            yanex.ExperimentSpec(script, config={"sleep": 60, "exit": 0}, name="slow"),
        ],
        executor=_options(shared, time="2s"),  # one time limit for all: one array
    )
    assert [(r.name, r.status, r.error_message) for r in results] == [
        ("ok", "completed", None),
        ("exits", "failed", "exit code 3"),
        ("slow", "failed", "timed out after 2s"),
    ]
    printed = [
        (config.experiment_dir(r.experiment_id) / config.STDOUT_FILE).read_text().split() for r in results
    ]
    assert len({array for array, _ in printed}) == 1  # one array
    assert sorted(task for _, task in printed) == ["0", "1", "2"]
    assert [(p.step, p.value) for p in get_metrics(db, results[0].experiment_id, "loss")] == [
        (0, 1.0),
        (1, 0.5),
        (2, 1.0 / 3),
    ]
    assert [path.name for path in shared.iterdir()] in ([], ["job-home"])  # the batch's files are gone
    assert not list(shared.rglob("*.db"))
    wait_until(lambda: not _our_jobs(shared), "the jobs to leave the queue", timeout=30)


def test_artifacts_come_home_from_the_jobs_and_reach_the_jobs_that_depend_on_them(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    ids = artifacts_come_home_and_reach_dependents(tmp_path / "code", _options(shared))
    # Through the batch's folder, gone with it; nothing in the jobs' own YANEX_HOME.
    assert [path.name for path in shared.iterdir()] in ([], ["job-home"])
    assert not list(shared.rglob("blobs"))
    assert yanex.list_artifacts(ids["loads"]) == ["read.json"]


def test_scancel_and_requeue_from_outside_are_failed_tries_that_retry(tmp_path: Path, db: Database) -> None:
    shared, tries = tmp_path / "shared", tmp_path / "tries"
    tries.mkdir()
    script = make_script(
        tmp_path / "code",
        "waits.py",
        """
        import os, time, yanex
        from pathlib import Path
        name = yanex.get_param("name")
        first = not any(path.name.startswith(name) for path in Path(yanex.get_param("tries")).iterdir())
        array = os.environ.get("SLURM_ARRAY_JOB_ID")
        job = f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array else os.environ["SLURM_JOB_ID"]
        Path(yanex.get_param("tries"), f"{name}-{job}").touch()
        yanex.log_metrics({"first": int(first)}, step=0)
        if first:
            time.sleep(120)  # until Slurm ends it
        """,
    )
    specs = [
        yanex.ExperimentSpec(script, config={"name": name, "tries": str(tries)}, name=name)
        for name in ("cancelled", "requeued")
    ]
    results: list[yanex.ExperimentResult] = []
    batch = threading.Thread(
        target=lambda: results.extend(yanex.run_multiple(specs, executor=_options(shared), retries=1))
    )
    batch.start()
    try:
        wait_until(lambda: len(list(tries.iterdir())) == 2, "both first tries to run", timeout=120)
        wait_until(lambda: len(yanex.find(status="running")) == 2, "their rows to be running")
        job = {path.name.split("-")[0]: path.name.split("-")[1] for path in tries.iterdir()}
        subprocess.run(["scancel", job["cancelled"]], check=True)
        subprocess.run(["scontrol", "requeue", job["requeued"]], check=True)
        batch.join(180)
    finally:
        for job_id in _our_jobs(shared):
            subprocess.run(["scancel", job_id], check=False)
    assert not batch.is_alive()
    assert [(r.name, r.status) for r in results] == [("cancelled", "completed"), ("requeued", "completed")]
    first_tries = sorted(
        (view for view in yanex.find() if view.status.value == "failed"), key=lambda view: view.name or ""
    )
    assert [view.name for view in first_tries] == ["cancelled", "requeued"]
    for view in first_tries:
        assert view.error_message == (
            "killed by signal 15 (SIGTERM); Slurm ended job "
            f"{job[view.name or '']} (scancel, requeue, preemption or its time limit)"
        )
        assert [p.value for p in get_metrics(db, view.id, "first")] == [1]
    # The requeued job's second run was cancelled with the batch's end.
    wait_until(lambda: not _our_jobs(shared), "no job of the batch left in Slurm", timeout=30)


def test_max_parallel_holds_across_arrays_and_retries(tmp_path: Path) -> None:
    """Six experiments, two of which fail once: arrays of at most MaxArraySize (CI sets 4, so
    two arrays), retries in later ones, and never more than ``max_parallel`` running at once."""
    runs = tmp_path / "runs"
    runs.mkdir()
    script = make_script(tmp_path / "code", "timed.py", TIMED)
    specs = [
        yanex.ExperimentSpec(script, config={"runs": str(runs), "name": f"e{i}", "fails": i in (1, 4)})
        for i in range(6)
    ]
    results = yanex.run_multiple(specs, executor=_options(tmp_path / "shared", max_parallel=2), retries=1)
    assert [r.status for r in results] == ["completed"] * 6
    assert len(list(runs.iterdir())) == 8
    assert most_at_once(runs) == 2
    # The first tries went as one array as big as Slurm allows; the rest when there was room.
    first_tries = [view for view in yanex.find() if view.retry_of is None]
    printed = (config.experiment_dir(view.id) / config.STDOUT_FILE for view in first_tries)
    arrays = Counter(path.read_text() for path in printed)
    assert arrays.most_common(1)[0][1] == min(6, max_array_size())


_ORCHESTRATOR = """
import sys, yanex
from pathlib import Path
script, pids, shared = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
count, at_once = int(sys.argv[5]), int(sys.argv[6])
specs = [yanex.ExperimentSpec(script, config={"pids": pids}, name=f"s{i}") for i in range(count)]
options = yanex.executors.slurm(partition=sys.argv[4], folder=shared, max_parallel=at_once)
yanex.run_multiple(specs, executor=options)
"""


def test_ctrl_c_cancels_running_and_pending_jobs(tmp_path: Path) -> None:
    shared, pids = tmp_path / "shared", tmp_path / "pids"
    pids.mkdir()
    script = make_script(tmp_path / "code", "sleeps.py", SLEEPS)
    orchestrator = subprocess.Popen(
        [sys.executable, "-c", _ORCHESTRATOR, str(script), str(pids), str(shared), PARTITION, "3", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:  # max_parallel=1: one job runs, two wait in Slurm's queue
        interrupt_once_running(orchestrator, pids, running=1, ready=lambda: len(_our_jobs(shared)) == 3)
    finally:
        for job_id in _our_jobs(shared):
            subprocess.run(["scancel", job_id], check=False)
    wait_until(lambda: not _our_jobs(shared), "no job of the batch left in Slurm", timeout=30)
    assert len(yanex.find()) == 3


def test_a_job_that_never_reports_is_lost_with_its_log(tmp_path: Path) -> None:
    script = make_script(tmp_path / "code", "ok.py", "print('hi')\n")
    options = _options(tmp_path / "shared", python="/nonexistent/python")
    [result] = yanex.run_multiple([yanex.ExperimentSpec(script)], executor=options)
    assert result.status == "failed"
    message = result.error_message or ""
    assert message.startswith("worker lost: Slurm job ")
    # The line of the job's log that says why, not srun's summary after it.
    lost, log = message.split(" without reporting back; its log ends: slurmstepd-")
    assert lost.endswith(" ended (FAILED)")
    assert log.endswith(": error: execve(): /nonexistent/python: No such file or directory")


def test_ingest_after_the_orchestrator_is_killed(tmp_path: Path) -> None:
    shared, pids = tmp_path / "shared", tmp_path / "pids"
    pids.mkdir()
    script = make_script(tmp_path / "code", "logs.py", LOGS.format(steps=200, pause=0.02))
    # Two experiments: the test node may have no more than two CPUs.
    orchestrator = subprocess.Popen(
        [sys.executable, "-c", _ORCHESTRATOR, str(script), str(pids), str(shared), PARTITION, "2", "2"]
    )
    try:
        wait_until(lambda: len(list(pids.iterdir())) == 2, "the scripts to run", timeout=120)
    finally:
        orchestrator.send_signal(signal.SIGKILL)
        orchestrator.wait()
        (tmp_path / "release").touch()  # LOGS: the scripts log their second half and end
    wait_until(lambda: not _our_jobs(shared), "the jobs to end on their own", timeout=120)
    done = yanex_cli("ingest", str(shared))
    assert done.returncode == 0, done.stderr
    recovered = done.stdout.splitlines()
    assert len(recovered) == 2 and all("recorded completed" in line for line in recovered)
    db = Database()
    try:
        for line in recovered:
            experiment_id = line.split()[0]
            assert [(p.step, p.value) for p in get_metrics(db, experiment_id, "v")] == [
                (s, s) for s in range(200)
            ]
    finally:
        db.dispose()


def test_pruning_reaches_a_slurm_job_and_should_stop_turns_true(tmp_path: Path) -> None:
    """The stop flag goes into the job's spool folder on the shared storage (the jobs' journals
    come home live, for the orchestrator to decide)."""
    shared = tmp_path / "shared"
    pruning_reaches_the_script(tmp_path / "code", _options(shared), runs=3, steps=200, pause=0.1)
    wait_until(lambda: not _our_jobs(shared), "the jobs to leave the queue", timeout=30)


def test_a_search_runs_on_slurm_fed_as_jobs_end(tmp_path: Path, db: Database) -> None:
    """``yanex.search`` proposes each point when a job ends and the sampler has its result: two
    jobs at a time, every point a job of its own, the plan recording the search."""
    import json

    from tests.test_search import BRANIN

    code, shared = tmp_path / "code", tmp_path / "shared"
    script = make_script(code, "branin.py", BRANIN)
    space = {"x": yanex.uniform(-5, 10), "y": yanex.uniform(0, 15)}
    results = yanex.search(
        script, space, n=4, objective="loss.min", seed=0, parallel=2, executor=_options(shared)
    )
    assert [result.status for result in results] == ["completed"] * 4, results
    conn = db.read_connection()
    try:
        [(executor, spec)] = conn.execute("SELECT executor, spec FROM batches").fetchall()
        points = conn.execute(
            "SELECT json_extract(config, '$.x'), json_extract(config, '$.y') FROM experiments"
        ).fetchall()
    finally:
        conn.close()
    assert executor.startswith("slurm") and json.loads(spec)["search"]["sampler"] == "tpe", executor
    assert len(set(points)) == 4
    wait_until(lambda: not _our_jobs(shared), "the jobs to leave the queue", timeout=30)
