"""``yanex ingest``: after the orchestrator of a Dask sweep is SIGKILLed, every point is recovered."""

from __future__ import annotations

import json
import signal
import socket
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
        journal = (folder / config.METRICS_FILE).read_bytes().splitlines()
        # The script's lines; the supervisor's (its packages, system/ samples) are stored elsewhere
        lines = [line for line in journal if b'"values"' in line and b'"system/' not in line]
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


@pytest.mark.slow
def test_ingest_while_the_orchestrator_lives_is_refused_and_every_point_is_stored_once(
    tmp_path: Path, cluster: Cluster
) -> None:
    """The orchestrator appends each live chunk to the local journal: an ingest that had appended
    the spool's tail first made it store those points twice (208 rows for 200 steps)."""
    script = tmp_path / "code" / "steady.py"
    script.parent.mkdir()
    script.write_text(
        "import time, yanex\n"
        "for step in range(200):\n"
        "    yanex.log_metrics({'v': step}, step=step)\n"
        "    time.sleep(0.03)\n"
    )
    orchestrator = subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", str(script), "--executor", cluster.url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(_streaming, "points to stream back", timeout=90)
        [running] = yanex.find(status="running")
        [folder] = [found for spool in cluster.spools() for found in spool.glob(running.id)]
        ingests = []
        while orchestrator.poll() is None:
            ingests.append(yanex_cli("ingest", str(folder.parent)))
    finally:
        if orchestrator.poll() is None:
            orchestrator.kill()
        orchestrator.wait()
    assert orchestrator.returncode == 0, orchestrator.stderr.read()  # type: ignore[union-attr]
    assert _points(running.id) == [(step, step) for step in range(200)]
    refusal = (
        f"Error: experiment {running.id} is still being run by yanex process {orchestrator.pid} on "
        f"{socket.gethostname()}, which stores its points as they come: ingesting its spool now "
        "would store them twice"
    )
    # The first ingest began while the script had seconds to run; a later one may come once its
    # row is final, when the orchestrator writes no more to it.
    assert ingests[0].returncode == 2 and ingests[0].stderr.splitlines()[0] == refusal
    assert all(done.returncode == 0 or done.stderr.splitlines()[0] == refusal for done in ingests)
    local = config.experiment_dir(running.id) / config.METRICS_FILE
    assert local.read_bytes() == (folder / config.METRICS_FILE).read_bytes()
    after = yanex_cli("ingest", str(folder))
    assert after.returncode == 0 and after.stdout == f"{running.id[:8]}  0 new point(s)\n"


_RACER = """
import sys
from pathlib import Path
from yanex.executors.spool import ingest_spool
print("ready", flush=True)
sys.stdin.readline()
ingest_spool(Path(sys.argv[1]))
"""


def test_ingests_racing_each_other_store_every_point_once(tmp_path: Path, db: Database) -> None:
    """Several ``yanex ingest`` processes released at once on one spool: each appended the tail
    the local journal lacked, and the points of every extra copy were stored."""
    script = tmp_path / "code" / "few.py"
    script.parent.mkdir()
    script.write_text("import yanex\nfor step in range(10):\n    yanex.log_metrics({'v': step}, step=step)\n")
    for trial in range(3):
        [result] = yanex.run_multiple([yanex.ExperimentSpec(script, config={"trial": trial})])
        local = config.experiment_dir(result.experiment_id) / config.METRICS_FILE
        folder = tmp_path / f"spool{trial}" / result.experiment_id
        folder.mkdir(parents=True)
        (folder / "task.json").write_text(json.dumps({"experiment_id": result.experiment_id}))
        # Long lines (the padding is not stored): megabytes to append, few points to store.
        line = b'{"step": %d, "values": {"v": %d}, "t": 1.5, "pad": "' + b"x" * 2000 + b'"}\n'
        more = b"".join(line % (s, s) for s in range(10, 2_000))
        (folder / config.METRICS_FILE).write_bytes(local.read_bytes() + more)
        racers = [
            subprocess.Popen(
                [sys.executable, "-c", _RACER, str(folder.parent)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        for racer in racers:
            assert racer.stdout is not None and racer.stdout.readline() == "ready\n"
        for racer in racers:  # released together
            assert racer.stdin is not None
            racer.stdin.write("\n")
            racer.stdin.flush()
        assert [racer.wait(120) for racer in racers] == [0] * 4
        assert local.read_bytes() == (folder / config.METRICS_FILE).read_bytes(), f"trial {trial}"
        points = get_metrics(db, result.experiment_id, "v")
        assert [p.step for p in points] == list(range(2_000)), f"trial {trial}"
