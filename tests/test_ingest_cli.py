"""``yanex ingest``: after the orchestrator of a Dask sweep is SIGKILLed, every point is recovered."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import yanex
from tests.cluster_support import Cluster, worker_cluster
from tests.conftest import wait_until, yanex_cli
from tests.stored import get_metrics
from yanex import config
from yanex.db.engine import Database
from yanex.errors import DatabaseError


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with worker_cluster(tmp_path_factory.mktemp("dask-cluster")) as started:
        yield started


_ORCHESTRATOR = """
import sys, yanex
from pathlib import Path
from distributed import Client
client = Client(sys.argv[1].replace("dask://", "tcp://"))
client.wait_for_workers(2, timeout=60)
script, release = Path(sys.argv[2]), sys.argv[3]
specs = [yanex.ExperimentSpec(script, config={"seed": i, "release": release}) for i in range(4)]
yanex.run_multiple(specs, executor=client)
"""


def _points(experiment_id: str) -> list[tuple[int, object]]:
    """Through a database opened now: the orchestrator creates the file while the test waits."""
    db = Database()
    try:
        return [(p.step, p.value) for p in get_metrics(db, experiment_id, "v")]
    finally:
        db.dispose()


def _streaming() -> bool:
    """Some running experiment has points in the database (which the orchestrator creates)."""
    try:
        return any(_points(e.id) for e in yanex.find(status="running"))
    except DatabaseError:  # not created yet, or created while this read
        return False


def test_ingest_recovers_every_point_after_the_orchestrator_is_killed(
    tmp_path: Path, cluster: Cluster
) -> None:
    script = tmp_path / "code" / "logs.py"
    script.parent.mkdir()
    script.write_text(
        textwrap.dedent(
            """
            import os, time, yanex
            seed, release = yanex.get_param("seed"), yanex.get_param("release")
            for step in range(400):
                if step == 200:  # the rest once the test has killed the orchestrator
                    deadline = time.monotonic() + 120
                    while not os.path.exists(release) and time.monotonic() < deadline:
                        time.sleep(0.02)
                yanex.log_metrics({"v": seed * 1000 + step}, step=step)
                time.sleep(0.01)
            """
        )
    )
    release = tmp_path / "release"
    orchestrator = subprocess.Popen(
        [sys.executable, "-c", _ORCHESTRATOR, cluster.url, str(script), str(release)]
    )
    try:
        wait_until(
            _streaming,
            "points to stream back",
            timeout=90,
        )
    finally:
        orchestrator.send_signal(signal.SIGKILL)
        orchestrator.wait()
        release.touch()
    spooled = sorted(folder for spool in cluster.spools() for folder in spool.iterdir())
    assert spooled  # the experiments that had started
    wait_until(
        lambda: all((folder / config.OUTCOME_FILE).exists() for folder in spooled),
        "the orphaned scripts to end",
        timeout=90,
    )
    before = {folder.name: len(_points(folder.name)) for folder in spooled}
    assert all(count < 400 for count in before.values())  # not all of it had come back

    for spool in cluster.spools():
        done = yanex_cli("ingest", str(spool))
        assert done.returncode == 0, done.stderr
        assert "new point(s), recorded completed" in done.stdout

    for folder in spooled:
        lines = (folder / config.METRICS_FILE).read_bytes().splitlines()
        seed = json.loads((folder / config.CONFIG_FILE).read_text())["seed"]
        points = _points(folder.name)
        assert len(points) == len(lines) == 400
        assert points == [(s, seed * 1000 + s) for s in range(400)]
        [view] = yanex.find([folder.name])
        assert view.status.value == "completed" and view.error_message is None

    again = yanex_cli("ingest", str(cluster.spools()[0]))
    assert again.returncode == 0
    assert all(line.endswith("0 new point(s)") for line in again.stdout.splitlines())


def test_ingest_refuses_a_folder_without_experiments(tmp_path: Path) -> None:
    done = yanex_cli("ingest", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith(f"Error: no experiment folders in {tmp_path}")
