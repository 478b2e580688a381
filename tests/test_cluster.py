"""Batches on a real Dask cluster: a scheduler and two workers started as processes over TCP.

The cluster starts once for the module; every test has its own database (conftest). Workers run in
folders of their own with an environment without the test's YANEX_HOME.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client

import yanex
from tests.cluster_support import Cluster, worker_cluster
from tests.conftest import wait_until, yanex_cli
from tests.executor_scenarios import (
    SLEEPS,
    end_scripts_named_in,
    interrupt_once_running,
    lost_then_retried,
    make_script,
    output,
    pruning_reaches_the_script,
    statuses_in_input_order,
)
from tests.stored import get_experiment, get_metrics
from yanex import config
from yanex.db.engine import Database


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with worker_cluster(tmp_path_factory.mktemp("dask-cluster")) as started:
        yield started


@pytest.fixture(scope="module")
def client(cluster: Cluster) -> Iterator[Client]:
    with Client(cluster.address, set_as_default=False) as connected:
        connected.wait_for_workers(2, timeout=60)
        yield connected


@pytest.fixture
def two_workers(cluster: Cluster, client: Client) -> Client:
    """Two workers up, whatever an earlier test killed."""
    while len(cluster.workers) < 2:
        cluster.add_worker()
    client.wait_for_workers(2, timeout=60)
    return client


def test_batch_results_in_input_order_with_real_statuses(
    tmp_path: Path, cluster: Cluster, two_workers: Client, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = socket.gethostname()  # what the workers, other processes, see
    monkeypatch.setattr(socket, "gethostname", lambda: "orchestrator")
    results = statuses_in_input_order(tmp_path / "code", two_workers, db)
    # Where each script ran is the worker's host, not the orchestrator's.
    assert {get_experiment(db, r.experiment_id).environment.hostname for r in results} == {node}
    # It ran from the snapshot a worker unpacked, not from the test's folder.
    where = output(results[0].experiment_id, config.STDOUT_FILE)
    assert where.startswith(f"ran in {cluster.root}") and "yanex-code" in where


def test_dask_address_string_and_retries(tmp_path: Path, cluster: Cluster, two_workers: Client) -> None:
    flaky = make_script(
        tmp_path / "code",
        "flaky.py",
        """
        import os, sys, yanex
        marker = os.path.join(yanex.get_param("flags"), "tried")
        if not os.path.exists(marker):
            open(marker, "w").close()
            sys.exit(3)
        """,
    )
    flags = tmp_path / "flags"
    flags.mkdir()
    spec = yanex.ExperimentSpec(flaky, config={"flags": str(flags)})
    [result] = yanex.run_multiple([spec], executor=cluster.url, retries=1)
    assert result.status == "completed"
    [failed] = yanex.find(status="failed")
    assert failed.error_message == "exit code 3"
    assert yanex.find([result.experiment_id])[0].retry_of == failed.id


def test_skip_completed_and_fail_fast(tmp_path: Path, two_workers: Client) -> None:
    code = tmp_path / "code"
    ok = make_script(code, "ok.py", "print('hi')\n")
    first = yanex.run_multiple([yanex.ExperimentSpec(ok, config={"a": 1})], executor=two_workers)
    again = yanex.run_multiple(
        [yanex.ExperimentSpec(ok, config={"a": 1}), yanex.ExperimentSpec(ok, config={"a": 2})],
        executor=two_workers,
        skip_completed=True,
    )
    assert again[0].experiment_id == first[0].experiment_id
    assert again[1].experiment_id != first[0].experiment_id and again[1].status == "completed"

    fails = make_script(code, "fails.py", "import sys\nsys.exit(3)\n")
    slow = make_script(code, "slow.py", "import time\ntime.sleep(60)\n")
    specs = [yanex.ExperimentSpec(fails, name="fails")]
    specs += [yanex.ExperimentSpec(slow, name=f"slow{i}") for i in range(4)]
    results = yanex.run_multiple(specs, executor=two_workers, fail_fast=True)
    assert results[0].error_message == "exit code 3"
    assert [r.status for r in results[1:]] == ["cancelled"] * 4
    assert {r.error_message for r in results[1:]} == {
        "another experiment of the batch failed and fail_fast is set"
    }


def test_live_metrics_reach_the_database_while_the_script_runs(
    tmp_path: Path, two_workers: Client, db: Database
) -> None:
    release = tmp_path / "release"
    script = make_script(
        tmp_path / "code",
        "waits.py",
        """
        import os, time, yanex
        for step in range(3):
            yanex.log_metrics({"acc": step / 10}, step=step)
        deadline = time.monotonic() + 120
        while not os.path.exists(yanex.get_param("release")) and time.monotonic() < deadline:
            time.sleep(0.05)
        yanex.log_metrics({"acc": 1.0}, step=3)
        """,
    )
    results: list[yanex.ExperimentResult] = []
    batch = threading.Thread(
        target=lambda: results.extend(
            yanex.run_multiple(
                [yanex.ExperimentSpec(script, config={"release": str(release)})], executor=two_workers
            )
        )
    )
    batch.start()
    try:
        wait_until(lambda: db.exists() and yanex.find(status="running"), "the experiment to run")
        [running] = yanex.find(status="running")
        wait_until(lambda: len(get_metrics(db, running.id, "acc")) == 3, "live metrics")
        assert get_experiment(db, running.id).status.value == "running"
    finally:
        release.touch()
        batch.join(120)
    assert results[0].status == "completed"
    assert [p.value for p in get_metrics(db, results[0].experiment_id, "acc")] == [0.0, 0.1, 0.2, 1.0]


_ORCHESTRATOR = """
import sys, yanex
from pathlib import Path
script, pids = Path(sys.argv[2]), sys.argv[3]
specs = [yanex.ExperimentSpec(script, config={"pids": pids}, name=f"s{i}") for i in range(4)]
yanex.run_multiple(specs, executor=sys.argv[1])
"""


def test_ctrl_c_cancels_everything_on_the_cluster(
    tmp_path: Path, cluster: Cluster, two_workers: Client, db: Database
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    script = make_script(tmp_path / "code", "sleeps.py", SLEEPS)
    orchestrator = subprocess.Popen(
        [sys.executable, "-c", _ORCHESTRATOR, cluster.url, str(script), str(pids)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    interrupt_once_running(orchestrator, pids, running=2)
    assert len(yanex.find()) == 4
    wait_until(lambda: not any(two_workers.processing().values()), "the cluster to be idle", timeout=30)


def test_a_worker_killed_mid_task_is_a_failed_try_and_the_retry_runs_elsewhere(
    tmp_path: Path, cluster: Cluster, two_workers: Client, db: Database
) -> None:
    seen = tmp_path / "seen"
    seen.mkdir()
    script = make_script(
        tmp_path / "code",
        "long.py",
        """
        import os, time, yanex
        from pathlib import Path
        worker = Path.cwd().parts[len(Path(yanex.get_param("root")).parts)]
        yanex.log_metrics({"started": 1}, step=0)
        Path(yanex.get_param("seen"), f"{worker}-{os.getpid()}").touch()
        if len(os.listdir(yanex.get_param("seen"))) == 1:
            time.sleep(120)  # the first try waits to be killed with its worker
        print("ran on", worker)
        """,
    )
    results: list[yanex.ExperimentResult] = []
    spec = yanex.ExperimentSpec(script, config={"seen": str(seen), "root": str(cluster.root)})
    batch = threading.Thread(
        target=lambda: results.extend(yanex.run_multiple([spec], executor=two_workers, retries=1))
    )
    batch.start()
    try:
        wait_until(lambda: list(seen.iterdir()), "the first try to start", timeout=90)
        [first] = list(seen.iterdir())
        worker = first.name.split("-")[0]
        wait_until(lambda: db.exists() and yanex.find(status="running"), "the first try to be running")
        [running] = yanex.find(status="running")
        wait_until(lambda: get_metrics(db, running.id, "started"), "its first metric")
        # What the Active Memory Manager (every 2 s) does to data on the cluster before the kill,
        # done now: one copy of anything left, maybe on the worker about to die.
        two_workers.amm.run_once()
        wait_until(lambda: all(len(held) < 2 for held in two_workers.who_has().values()), "one copy")
        cluster.kill_worker(worker)
        batch.join(120)
    finally:
        end_scripts_named_in(seen)  # the killed worker's script is orphaned: end it here
    assert not batch.is_alive()
    lost = lost_then_retried(results, db)
    assert lost.startswith("worker lost: the Dask worker running it (tcp://127.0.0.1:")
    workers = sorted(entry.name.split("-")[0] for entry in seen.iterdir())
    assert len(workers) == 2 and workers[0] != workers[1]  # the retry ran on the other worker
    assert (
        output(results[0].experiment_id, config.STDOUT_FILE).strip()
        == f"ran on {workers[1 - workers.index(worker)]}"
    )


@pytest.mark.slow
def test_sixteen_experiments_of_a_thousand_points_lose_nothing(
    tmp_path: Path, two_workers: Client, db: Database
) -> None:
    script = make_script(
        tmp_path / "code",
        "many.py",
        """
        import yanex
        seed = yanex.get_param("seed")
        for step in range(1000):
            yanex.log_metrics({"v": seed * 1000 + step}, step=step)
        """,
    )
    specs = [yanex.ExperimentSpec(script, config={"seed": seed}) for seed in range(16)]
    results = yanex.run_multiple(specs, executor=two_workers)
    assert {r.status for r in results} == {"completed"}
    for seed, result in enumerate(results):
        points = get_metrics(db, result.experiment_id, "v")
        assert [(p.step, p.value) for p in points] == [(s, seed * 1000 + s) for s in range(1000)]


def test_yanex_run_and_rerun_with_an_executor(tmp_path: Path, cluster: Cluster, two_workers: Client) -> None:
    script = make_script(
        tmp_path / "code",
        "cli.py",
        """
        import sys, yanex
        print("lr is", yanex.get_param("lr"))
        sys.exit(3)
        """,
    )
    done = yanex_cli("run", str(script), "--param", "lr=0.5", "--executor", cluster.url)
    assert done.returncode == 3, done.stderr
    assert done.stdout == "lr is 0.5\n"
    [first] = yanex.find()
    assert first.error_message == "exit code 3" and first.exit_code == 3
    assert f"(1 experiment, on {cluster.url})" in yanex_cli("show", first.id).stdout
    again = yanex_cli("rerun", first.id, "--executor", cluster.url)
    assert again.returncode == 1, again.stderr
    assert f"(re-run of {first.id}): exit code 3" in again.stdout
    refused = yanex_cli("run", str(script), "--executor", "ssh://nowhere")
    assert refused.returncode == 2
    assert refused.stderr.startswith("Error: executor must be 'local', 'dask://HOST:PORT'")


@pytest.mark.parametrize("address", ["dask://nonsense", "dask://host:", "dask://:8786", "dask://host:port"])
def test_a_dask_address_without_host_and_port_is_refused_before_anything_runs(
    tmp_path: Path, address: str
) -> None:
    script = make_script(tmp_path / "code", "ok.py", "print('hi')\n")
    with pytest.raises(ValueError, match="a Dask scheduler's address is dask://HOST:PORT"):
        yanex.run_multiple([yanex.ExperimentSpec(script)], executor=address)


def test_yanex_run_with_a_malformed_dask_address_is_one_line_and_exits_at_once(tmp_path: Path) -> None:
    script = make_script(tmp_path / "code", "ok.py", "print('hi')\n")
    started = time.monotonic()
    refused = yanex_cli("run", str(script), "--executor", "dask://nonsense", timeout=60)
    took = time.monotonic() - started
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        "Error: executor 'dask://nonsense' has no port: a Dask scheduler's address is dask://HOST:PORT",
        "Hint: pass --executor 'local', 'dask://HOST:PORT', 'slurm' or 'slurm:NAME=VALUE,...'",
    ]
    assert took < 3, f"took {took:.1f} s"


@pytest.mark.slow
def test_pruning_reaches_a_dask_worker_and_should_stop_turns_true(
    tmp_path: Path, two_workers: Client
) -> None:
    """The worker, whose folder is not the one here, gets the decision through the scheduler."""
    pruning_reaches_the_script(tmp_path / "code", two_workers, runs=4, steps=60, pause=0.05)
