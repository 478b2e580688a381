"""A Dask cluster's processes killed under a batch: the scheduler, and a worker holding a task it
had not started. Each test has a cluster of its own (real ``dask scheduler`` and ``dask worker``
processes over TCP on 127.0.0.1), since it kills part of it."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from distributed import Client

import yanex
from tests.cluster_support import worker_cluster
from tests.conftest import wait_until, yanex_cli
from tests.executor_scenarios import make_script
from tests.stored import get_metrics
from yanex import config
from yanex.db.engine import Database

# Logs five points, says it started (a file named NAME-WORKER in `flags`), and with `hold` waits
# for `flags/release` before its last point.
HOLDS = """
import os, time, yanex
from pathlib import Path
flags = yanex.get_param("flags")
worker = Path.cwd().parts[len(Path(yanex.get_param("root")).parts)]
for step in range(5):
    yanex.log_metrics({"v": step}, step=step)
Path(flags, f"{yanex.get_param('name')}-{worker}").touch()
if yanex.get_param("hold"):
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(flags, "release")) and time.monotonic() < deadline:
        time.sleep(0.02)
    yanex.log_metrics({"v": 5}, step=5)
"""

_ORCHESTRATOR = """
import sys, yanex
from pathlib import Path
script, flags, root = Path(sys.argv[2]), sys.argv[3], sys.argv[4]
holds = [False, False, True, True, True]
config = {"flags": flags, "root": root}
specs = [
    yanex.ExperimentSpec(script, name=f"e{i}", config={**config, "name": f"e{i}", "hold": hold})
    for i, hold in enumerate(holds)
]
yanex.run_multiple(specs, executor=sys.argv[1])
"""


def _by_name() -> dict[str, yanex.ExperimentView]:
    return {view.name: view for view in yanex.find() if view.name is not None}


@pytest.mark.slow
def test_the_scheduler_killed_leaves_clear_records_that_ingest_completes(tmp_path: Path) -> None:
    flags = tmp_path / "flags"
    flags.mkdir()
    script = make_script(tmp_path / "code", "holds.py", HOLDS)
    with worker_cluster(tmp_path / "cluster", workers=2) as cluster:
        orchestrator = subprocess.Popen(
            [sys.executable, "-c", _ORCHESTRATOR, cluster.url, str(script), str(flags), str(cluster.root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_until(
                lambda: len(list(flags.iterdir())) == 4, "two quick runs and two held ones", timeout=90
            )
            wait_until(
                lambda: (
                    [v.status for v in sorted(_by_name().values(), key=lambda v: str(v.name))][:4]
                    == ["completed", "completed", "running", "running"]
                ),
                "the quick ones recorded",
            )
            cluster.scheduler.send_signal(signal.SIGKILL)
            cluster.scheduler.wait()
            (flags / "release").touch()  # the held scripts end on their workers, unseen
            _, stderr = orchestrator.communicate(timeout=90)
        finally:
            if orchestrator.poll() is None:
                orchestrator.kill()
            (flags / "release").touch()
        address = cluster.address.removeprefix("tcp://")
        assert "Traceback" not in stderr and "unexpected state" not in stderr, stderr
        assert "distributed" not in stderr and "orchestrator's traceback" not in stderr, stderr
        views = _by_name()
        assert [views[f"e{i}"].status.value for i in range(5)] == [
            "completed",
            "completed",
            "failed",
            "failed",
            "cancelled",
        ]
        lost = (
            f"the Dask scheduler at {address} went away while it ran; `yanex ingest` of its "
            "worker's spool records how it ended"
        )
        assert views["e2"].error_message == views["e3"].error_message == lost
        assert (
            views["e4"].error_message
            == f"the Dask scheduler at {address} went away before it was seen to start"
        )
        assert f"e2 ({views['e2'].id[:8]}) failed" in stderr and lost in stderr

        # The held scripts ended on their workers: the spool has how, and ingest records it.
        held = [views["e2"].id, views["e3"].id]
        folders = [folder for spool in cluster.spools() for folder in spool.iterdir() if folder.name in held]
        wait_until(
            lambda: all((f / config.OUTCOME_FILE).exists() for f in folders), "the held scripts to end"
        )
        for spool in cluster.spools():
            done = yanex_cli("ingest", str(spool))
            assert done.returncode == 0, done.stderr
    views = _by_name()
    assert views["e2"].status.value == views["e3"].status.value == "completed"
    db = Database()
    try:
        for experiment_id in held:
            assert [p.step for p in get_metrics(db, experiment_id, "v")] == list(range(6))
    finally:
        db.dispose()


@pytest.mark.slow
def test_a_worker_killed_with_a_task_it_had_not_started_runs_that_task_elsewhere(
    tmp_path: Path, db: Database
) -> None:
    flags = tmp_path / "flags"
    flags.mkdir()
    script = make_script(tmp_path / "code", "holds.py", HOLDS)
    with (
        worker_cluster(tmp_path / "cluster", workers=2) as cluster,
        Client(cluster.address, set_as_default=False) as client,
    ):
        client.wait_for_workers(2, timeout=60)
        specs = [
            yanex.ExperimentSpec(
                script,
                name=f"e{i}",
                config={"name": f"e{i}", "hold": True, "flags": str(flags), "root": str(cluster.root)},
            )
            for i in range(4)
        ]
        results: list[yanex.ExperimentResult] = []
        batch = threading.Thread(target=lambda: results.extend(yanex.run_multiple(specs, executor=client)))
        batch.start()
        try:
            wait_until(lambda: len(list(flags.iterdir())) == 2, "one script on each worker", timeout=90)
            running = {flag.name.split("-")[0]: flag.name.split("-")[1] for flag in flags.iterdir()}
            victim = next(iter(running.values()))
            [address] = [a for a, w in client.scheduler_info()["workers"].items() if w["name"] == victim]
            # Each single-threaded worker holds two tasks: one running, one waiting for the thread.
            wait_until(lambda: len(client.processing()[address]) == 2, "a task waiting on the victim")
            waiting = {key.removeprefix("yanex-") for key in client.processing()[address]}
            cluster.kill_worker(victim)
        finally:
            (flags / "release").touch()
            batch.join(180)
    assert not batch.is_alive()
    by_name = {r.name: r for r in results}
    [killed] = [name for name, worker in running.items() if worker == victim]
    [never_started] = waiting - {by_name[killed].experiment_id}  # waiting on the victim's thread
    assert by_name[killed].status == "failed"
    assert str(by_name[killed].error_message).startswith("worker lost: the Dask worker running it")
    others = [r for r in results if r.name != killed]
    assert [r.status for r in others] == ["completed"] * 3, [r.error_message for r in others]
    assert never_started in {r.experiment_id for r in others}
    assert len(yanex.find()) == 4  # resubmitted, not a new try
    assert [p.step for p in get_metrics(db, never_started, "v")] == list(range(6))
