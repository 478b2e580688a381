"""Batches as submitit jobs: its local executor, the same job files, pickles and job processes as
on Slurm, started as real processes on this machine (``yanex.executors.slurm(cluster="local")``).

Every job shares nothing with the orchestrator but the batch's folder: the tests give the jobs a
YANEX_HOME of their own and check no database appears there.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import yanex
from tests.conftest import wait_until, yanex_cli
from tests.executor_scenarios import (
    LOGS,
    SLEEPS,
    TIMED,
    artifacts_come_home_and_reach_dependents,
    end_scripts_named_in,
    in_thread,
    interrupt_once_running,
    lost_then_retried,
    make_script,
    most_at_once,
    output,
    statuses_in_input_order,
)
from tests.stored import get_experiment, get_metrics
from yanex import config
from yanex.db.engine import Database
from yanex.executors import SlurmOptions
from yanex.executors.remote import TASK_FILE, RemoteTask, run_task
from yanex.owners import process_alive


def _local(shared: Path, **options: object) -> SlurmOptions:
    """The local cluster; its jobs get a YANEX_HOME of their own (``shared/job-home``)."""
    setup = (f"export YANEX_HOME={shared / 'job-home'}",)
    return yanex.executors.slurm(cluster="local", folder=shared, setup=setup, **options)


def test_batch_results_in_input_order_with_real_statuses(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    node = socket.gethostname()  # what the jobs, other processes, see
    monkeypatch.setattr(socket, "gethostname", lambda: "login-node")  # the orchestrator's
    results = statuses_in_input_order(tmp_path / "code", _local(shared), db)
    # Where each script ran is the node's name, not the orchestrator's.
    assert {get_experiment(db, r.experiment_id).environment.hostname for r in results} == {node}
    # It ran from the snapshot unpacked in the batch's shared folder, not from the test's folder.
    where = output(results[0].experiment_id, config.STDOUT_FILE)
    assert where.startswith(f"ran in {shared}") and "yanex-code" in where
    # Nothing of the batch is left in the shared folder, and no job opened a database.
    assert [path.name for path in shared.iterdir()] in ([], ["job-home"])
    assert not list(shared.rglob("*.db"))


def test_the_batch_folder_follows_yanex_home_unless_yanex_slurm_folder_says(
    tmp_path: Path, yanex_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    script = make_script(tmp_path / "code", "where.py", "import os\nprint(os.getcwd())\n")
    [first] = yanex.run_multiple([yanex.ExperimentSpec(script)], executor="slurm:cluster=local")
    assert output(first.experiment_id, config.STDOUT_FILE).startswith(f"{yanex_home / 'slurm'}/")
    monkeypatch.setenv(config.SLURM_FOLDER_ENV, str(tmp_path / "shared"))
    [second] = yanex.run_multiple([yanex.ExperimentSpec(script)], executor="slurm:cluster=local")
    assert output(second.experiment_id, config.STDOUT_FILE).startswith(f"{tmp_path / 'shared'}/")
    assert first.status == second.status == "completed"
    assert not (tmp_path / "home" / ".yanex").exists()


def test_artifacts_come_home_from_the_jobs_and_reach_the_jobs_that_depend_on_them(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    artifacts_come_home_and_reach_dependents(tmp_path / "code", _local(shared))
    # The contents went through the batch's folder, which is gone with it; none stayed in the jobs' home.
    assert [path.name for path in shared.iterdir()] in ([], ["job-home"])
    assert not list(shared.rglob("blobs"))


def test_live_metrics_reach_the_database_while_the_script_runs(tmp_path: Path, db: Database) -> None:
    go_on = tmp_path / "go-on"
    script = make_script(
        tmp_path / "code",
        "waits.py",
        f"""
        import os, time, yanex
        yanex.log_metrics({{"acc": 0.5}}, step=0)
        while not os.path.exists({str(go_on)!r}):
            time.sleep(0.05)
        yanex.log_metrics({{"acc": 0.9}}, step=1)
        """,
    )
    results: list[yanex.ExperimentResult] = []
    batch = in_thread(
        lambda: results.extend(
            yanex.run_multiple([yanex.ExperimentSpec(script)], executor=_local(tmp_path / "shared"))
        )
    )
    try:
        wait_until(lambda: db.exists() and yanex.find(status="running"), "the script to run", timeout=60)
        [running] = yanex.find(status="running")
        wait_until(lambda: get_metrics(db, running.id, "acc"), "its first point while it runs", timeout=30)
        assert get_experiment(db, running.id).status.value == "running"
    finally:
        go_on.touch()
        batch.join(60)
    [result] = results
    assert result.status == "completed"
    assert [p.value for p in get_metrics(db, result.experiment_id, "acc")] == [0.5, 0.9]


def test_retries_fail_fast_and_skip_completed(tmp_path: Path, db: Database) -> None:
    shared = tmp_path / "shared"
    flaky = make_script(
        tmp_path / "code",
        "flaky.py",
        """
        import os, sys, yanex
        marker = yanex.get_param("marker")
        if not os.path.exists(marker):
            open(marker, "w").close()
            sys.exit(1)
        """,
    )
    [retried] = yanex.run_multiple(
        [yanex.ExperimentSpec(flaky, config={"marker": str(tmp_path / "tried")})],
        executor=_local(shared),
        retries=1,
    )
    assert retried.status == "completed"
    assert sorted(view.status.value for view in yanex.find()) == ["completed", "failed"]

    fails = make_script(tmp_path / "code", "fails.py", "import sys\nsys.exit(2)\n")
    sleeps = make_script(tmp_path / "code", "sleeps.py", "import time\ntime.sleep(60)\n")
    results = yanex.run_multiple(
        [yanex.ExperimentSpec(sleeps, name="sleeps"), yanex.ExperimentSpec(fails, name="fails")],
        executor=_local(shared),
        fail_fast=True,
    )
    assert [(r.status, r.error_message) for r in results] == [
        ("cancelled", "another experiment of the batch failed and fail_fast is set"),
        ("failed", "exit code 2"),
    ]
    again = yanex.run_multiple(
        [yanex.ExperimentSpec(flaky, config={"marker": str(tmp_path / "tried")})],
        executor=_local(shared),
        skip_completed=True,
    )
    assert [r.experiment_id for r in again] == [retried.experiment_id]


def test_max_parallel_holds_for_the_whole_batch_retries_included(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    script = make_script(tmp_path / "code", "timed.py", TIMED)
    specs = [
        yanex.ExperimentSpec(script, config={"runs": str(runs), "name": f"e{i}", "fails": i < 2})
        for i in range(5)
    ]
    results = yanex.run_multiple(specs, executor=_local(tmp_path / "shared", max_parallel=2), retries=1)
    assert [r.status for r in results] == ["completed"] * 5
    assert len(list(runs.iterdir())) == 7  # two failed first tries, retried
    assert most_at_once(runs) == 2


_ORCHESTRATOR = """
import sys, yanex
from pathlib import Path
script, pids, shared = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
specs = [yanex.ExperimentSpec(script, config={"pids": pids}, name=f"s{i}") for i in range(4)]
executor = yanex.executors.slurm(cluster="local", folder=shared, max_parallel=int(sys.argv[4]))
yanex.run_multiple(specs, executor=executor)
"""


def _orchestrator(script: Path, pids: Path, shared: Path, at_once: int) -> subprocess.Popen[str]:
    """A batch of four experiments, ``at_once`` of them at a time."""
    return subprocess.Popen(
        [sys.executable, "-c", _ORCHESTRATOR, str(script), str(pids), str(shared), str(at_once)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ctrl_c_cancels_every_job_and_leaves_no_script_running(tmp_path: Path, db: Database) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    script = make_script(tmp_path / "code", "sleeps.py", SLEEPS)
    interrupt_once_running(_orchestrator(script, pids, tmp_path / "shared", at_once=2), pids, running=2)
    assert len(yanex.find()) == 4


def test_a_job_lost_mid_run_is_a_failed_try_and_the_retry_runs(tmp_path: Path, db: Database) -> None:
    seen = tmp_path / "seen"
    seen.mkdir()
    script = make_script(
        tmp_path / "code",
        "long.py",
        """
        import os, time, yanex
        from pathlib import Path
        yanex.log_metrics({"started": 1}, step=0)
        Path(yanex.get_param("seen"), f"{os.getppid()}-{os.getpid()}").touch()
        if len(os.listdir(yanex.get_param("seen"))) == 1:
            time.sleep(120)  # the first try waits for its job to be killed
        """,
    )
    results: list[yanex.ExperimentResult] = []
    spec = yanex.ExperimentSpec(script, config={"seen": str(seen)})
    batch = in_thread(
        lambda: results.extend(yanex.run_multiple([spec], executor=_local(tmp_path / "shared"), retries=1))
    )
    try:
        wait_until(lambda: list(seen.iterdir()), "the first try to start", timeout=90)
        [first] = list(seen.iterdir())
        job_pid, script_pid = map(int, first.name.split("-"))
        wait_until(lambda: db.exists() and yanex.find(status="running"), "the first try to be running")
        [running] = yanex.find(status="running")
        wait_until(lambda: get_metrics(db, running.id, "started"), "its first metric")
        os.kill(job_pid, signal.SIGKILL)  # the job's process: what Slurm's node failure would do
        os.kill(script_pid, signal.SIGKILL)  # and the job's cgroup with it
        batch.join(120)
    finally:
        end_scripts_named_in(seen)
    assert not batch.is_alive()
    lost = lost_then_retried(results, db)
    assert lost.startswith("worker lost: local submitit job ") and "ended without reporting back" in lost


def test_a_lost_jobs_spool_is_recorded_and_kept(tmp_path: Path, db: Database) -> None:
    """A job that dies without its result: the journal lines the live reads had not reached
    (over a megabyte logged just before) come from its spool, and the spool stays."""
    ready, shared = tmp_path / "ready", tmp_path / "shared"
    script = make_script(
        tmp_path / "code",
        "dies.py",
        f"""
        import os, signal, time, yanex
        from pathlib import Path

        def burst_then_die(_signum, _frame):
            for step in range(1, 60001):
                yanex.log_metrics({{"v": step}}, step=step)
            os.kill(os.getppid(), signal.SIGKILL)  # the job's process, as a dying node would
            os.kill(os.getpid(), signal.SIGKILL)

        signal.signal(signal.SIGUSR1, burst_then_die)
        yanex.log_metrics({{"v": 0}}, step=0)
        Path({str(ready)!r}).write_text(str(os.getpid()))
        time.sleep(120)
        """,
    )
    results: list[yanex.ExperimentResult] = []
    batch = in_thread(
        lambda: results.extend(yanex.run_multiple([yanex.ExperimentSpec(script)], executor=_local(shared)))
    )
    try:
        wait_until(ready.exists, "the script to start", timeout=60)
        wait_until(lambda: db.exists() and yanex.find(status="running"), "its row to be running")
        os.kill(int(ready.read_text()), signal.SIGUSR1)
        batch.join(90)
    finally:
        if process_alive(int(ready.read_text())):
            os.kill(int(ready.read_text()), signal.SIGKILL)
    assert not batch.is_alive()
    [result] = results
    assert result.status == "failed"
    assert (result.error_message or "").startswith("worker lost: local submitit job ")
    assert [p.step for p in get_metrics(db, result.experiment_id, "v")] == list(range(60001))
    [kept] = [path for path in shared.iterdir() if path.name != "job-home"]
    assert (kept / "spool" / result.experiment_id / config.METRICS_FILE).is_file()


def test_a_requeued_job_returns_at_once_and_keeps_the_first_runs_spool(tmp_path: Path) -> None:
    """Slurm runs a requeued job's command again: the second run must not run the script again
    into the same experiment, nor touch what the first run left for ``yanex ingest``."""
    folder = tmp_path / "spool" / "1a2b3c4d"
    folder.mkdir(parents=True)
    (folder / TASK_FILE).write_text('{"experiment_id": "1a2b3c4d"}')
    (folder / config.METRICS_FILE).write_text('{"step": 0}\n')
    task = RemoteTask("1a2b3c4d", "0" * 64, "never.py", ".", (), {}, None, None)

    class Channel:
        def started(self, *_: object) -> None:
            raise AssertionError("the script started again")

        def metrics(self, *_: object) -> None:
            raise AssertionError("metrics sent again")

        def inputs(self, *_: object) -> dict[str, str]:
            raise AssertionError("inputs fetched again")

        def stop_reason(self) -> str | None:
            return None

        def pruned(self, experiment_id: str) -> str | None:
            return None

    def no_code() -> bytes:
        raise AssertionError("the code was fetched again")

    result = run_task(task, no_code, tmp_path / "work", Channel(), spool=tmp_path / "spool")
    assert result.lost_before and result.journal == b""
    assert (folder / config.METRICS_FILE).read_text() == '{"step": 0}\n'
    assert not (folder / config.OUTCOME_FILE).exists()


def test_ingest_recovers_every_point_after_the_orchestrator_is_killed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    pids = tmp_path / "pids"
    pids.mkdir()
    script = make_script(tmp_path / "code", "logs.py", LOGS.format(steps=300, pause=0.01))
    orchestrator = _orchestrator(script, pids, shared, at_once=4)
    try:
        wait_until(lambda: len(list(pids.iterdir())) == 4, "the scripts to run", timeout=90)
    finally:
        orchestrator.send_signal(signal.SIGKILL)
        orchestrator.wait()
        (tmp_path / "release").touch()  # LOGS: the scripts log their second half and end
    [batch] = [path for path in shared.iterdir()]
    spooled = sorted((batch / "spool").iterdir())
    assert len(spooled) == 4
    wait_until(
        lambda: all((folder / config.OUTCOME_FILE).exists() for folder in spooled),
        "the orphaned jobs to end",
        timeout=90,
    )
    done = yanex_cli("ingest", str(shared))  # the Slurm folder: every batch in it
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 4
    assert all("new point(s), recorded completed" in line for line in done.stdout.splitlines()), done.stdout
    db = Database()
    try:
        for folder in spooled:
            assert [(p.step, p.value) for p in get_metrics(db, folder.name, "v")] == [
                (s, s) for s in range(300)
            ]
            [view] = yanex.find([folder.name])
            assert view.status.value == "completed" and view.error_message is None
    finally:
        db.dispose()
    again = yanex_cli("ingest", str(batch))  # one batch's folder: the same, nothing new
    assert again.returncode == 0
    assert [line.split()[1:3] for line in again.stdout.splitlines()] == [["0", "new"]] * 4


def test_bad_options_are_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"^yanex.executors.slurm: unknown option 'partitoin' \(options: "):
        yanex.executors.slurm(partitoin="gpu")
    with pytest.raises(ValueError, match=r"^yanex.executors.slurm: time: timeout must be "):
        yanex.executors.slurm(time="soon")
    with pytest.raises(ValueError, match=r"gpus_per_node: Input should be a valid integer"):
        yanex.executors.slurm(gpus_per_node="two")
    with pytest.raises(ValueError, match=r"^yanex.executors.slurm: mem_gb: Input should be a finite number$"):
        yanex.executors.slurm(mem_gb=float("inf"))
    with pytest.raises(ValueError, match=r"partition: String should have at least 1 character"):
        yanex.executors.slurm(partition="")
    assert yanex.executors.slurm(time=7200).time_limit.seconds == 7200  # as a spec's timeout
    script = make_script(tmp_path, "ok.py", "print('hi')\n")
    for executor, problem in (
        ("slurm:time=soon", "executor 'slurm:time=soon': time: timeout must be"),
        ("slurm:bogus=1", "executor 'slurm:bogus=1': unknown option 'bogus'"),
        ("slurm:partition", "executor 'slurm:partition': 'partition' is not NAME=VALUE"),
        ("slurmy", "executor must be 'local', 'dask://HOST:PORT', 'slurm'"),
    ):
        done = yanex_cli("run", str(script), "--executor", executor)
        assert done.returncode == 2, (executor, done.stderr)
        assert done.stderr.startswith(f"Error: {problem}"), done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) <= 2
    assert not Database().exists()  # nothing was recorded
    # cluster="slurm" (the default) where there is no Slurm: refused before any row is written.
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(yanex.YanexError, match="there is no Slurm here: sbatch is not on PATH"):
        yanex.run_multiple([yanex.ExperimentSpec(script)], executor=yanex.executors.slurm(partition="gpu"))
    assert not Database().exists()  # nothing was recorded


def test_a_missing_submitit_names_the_extra(tmp_path: Path) -> None:
    script = make_script(tmp_path, "ok.py", "print('hi')\n")
    code = (
        "import sys; sys.modules['submitit'] = None\n"
        "import yanex\n"
        f"yanex.run_multiple([yanex.ExperimentSpec({str(script)!r})], executor='slurm:cluster=local')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0
    assert (
        "the Slurm executor needs submitit, which is not installed (install the extra from your yanex "
        "checkout, in its folder: pip install -e '.[slurm]')"
    ) in done.stderr
    assert not Database().exists()  # nothing was recorded


def test_yanex_run_and_rerun_as_a_job(tmp_path: Path) -> None:
    script = make_script(
        tmp_path / "code",
        "cli.py",
        """
        import sys, yanex
        print("lr is", yanex.get_param("lr"))
        sys.exit(3)
        """,
    )
    executor = f"slurm:cluster=local,folder={tmp_path / 'shared'},time=5m"
    done = yanex_cli("run", str(script), "--param", "lr=0.5", "--executor", executor)
    assert done.returncode == 3, done.stderr
    assert done.stdout == "lr is 0.5\n"
    [first] = yanex.find()
    assert first.error_message == "exit code 3" and first.exit_code == 3
    again = yanex_cli("rerun", first.id, "--executor", executor)
    assert again.returncode == 1, again.stderr
    assert f"(re-run of {first.id}): exit code 3" in again.stdout
    stored = json.loads(yanex_cli("show", first.id, "--format", "json").stdout)
    assert stored["status"] == "failed"
    # Where it ran is recorded with the batch (batches.executor), and show says so.
    shown = yanex_cli("show", first.id).stdout
    assert f"(1 experiment, on slurm:time=5m,folder={tmp_path / 'shared'},cluster=local)" in shown
