"""Artifacts on a real Dask cluster: a scheduler and two workers over TCP, each worker with a
YANEX_HOME of its own and none of them the orchestrator's (the test's).

What a script saves on a worker ends up in the orchestrator's blob store and ``artifacts`` table,
an experiment reads what its dependencies saved on whichever worker it runs, and a content that
did not come back is named with where it was expected and why, until ``yanex ingest`` brings it.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from distributed import Client

import yanex
from tests.cluster_support import Cluster, worker_cluster
from tests.conftest import REPO_ROOT, wait_until, yanex_cli
from tests.executor_scenarios import ARTIFACT_SIZE, make_script
from yanex import config
from yanex.artifacts import blobs
from yanex.errors import DatabaseError, NotFoundError

SIZE = ARTIFACT_SIZE  # larger than two parts: a content crosses in several

# Both parents run at once (each waits for the other to start): one per single-threaded worker, so
# the child, on one of them, finds the other's content missing there and has it streamed in.
PARENT = """
import os, pathlib, random, tempfile, time, yanex
seed, flags = yanex.get_param("seed"), pathlib.Path(yanex.get_param("flags"))
(flags / f"started-{seed}").touch()
deadline = time.monotonic() + 60
while len(list(flags.glob("started-*"))) < 2 and time.monotonic() < deadline:
    time.sleep(0.02)
with tempfile.TemporaryDirectory() as scratch:
    path = pathlib.Path(scratch) / "data"
    path.write_bytes(random.Random(seed).randbytes(yanex.get_param("size")))
    yanex.log_artifact(path, "data.bin")
yanex.save_artifact({"seed": seed}, "model.json")
"""

CHILD = """
import hashlib, yanex
digests = {}
for name, parent in sorted(yanex.dependencies().items()):
    data = yanex.load_artifact("data.bin", experiment=parent)
    assert yanex.artifact_path("data.bin", experiment=name).read_bytes() == data
    assert yanex.load_artifact("model.json", experiment=parent[:-1])["seed"] == int(name[-1])  # a prefix
    digests[name] = hashlib.sha256(data).hexdigest()
assert yanex.list_artifacts(yanex.dependency("parent1")) == ["data.bin", "model.json"]
yanex.save_artifact(digests, "digests.json")
"""


def expected(seed: int) -> bytes:
    return random.Random(seed).randbytes(SIZE)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with worker_cluster(tmp_path_factory.mktemp("dask-cluster")) as started:
        with Client(started.address, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        yield started


@dataclass(frozen=True)
class Pipeline:
    ids: dict[str, str]  # by name
    home: Path  # the orchestrator's YANEX_HOME


@pytest.fixture(scope="module")
def pipeline(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """Two parents on the two workers and a child of both, run once for the module's tests in a
    YANEX_HOME of the module's own."""
    folder = tmp_path_factory.mktemp("pipeline")
    flags = folder / "flags"
    flags.mkdir()
    parent = make_script(folder / "code", "parent.py", PARENT)
    child = make_script(folder / "code", "child.py", CHILD)
    specs = [
        yanex.ExperimentSpec(
            parent, config={"seed": seed, "flags": str(flags), "size": SIZE}, name=f"parent{seed}"
        )
        for seed in (1, 2)
    ]
    specs.append(yanex.ExperimentSpec(child, name="child", depends_on=["parent1", "parent2"]))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YANEX_HOME", str(folder / "yanex-home"))
        results = yanex.run_multiple(specs, executor=cluster.url)
    assert [(r.status, r.error_message) for r in results] == [("completed", None)] * 3
    return Pipeline({r.name or "": r.experiment_id for r in results}, folder / "yanex-home")


@pytest.fixture
def ids(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The pipeline's ids by name, its YANEX_HOME the test's."""
    monkeypatch.setenv("YANEX_HOME", str(pipeline.home))
    return pipeline.ids


def _get(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "yanex", "artifacts", "get", *args], cwd=cwd, capture_output=True, timeout=120
    )


def test_a_child_reads_what_its_parents_saved_on_other_workers_and_everything_comes_home(
    cluster: Cluster, ids: dict[str, str]
) -> None:
    # The parents ran on different workers: the child's lacked one content, which was streamed in.
    assert {cluster.spool_of(ids["parent1"]), cluster.spool_of(ids["parent2"])} == set(cluster.spools())
    shas = {seed: hashlib.sha256(expected(seed)).hexdigest() for seed in (1, 2)}
    child_spool = cluster.spool_of(ids["child"])
    assert all(blobs.present(child_spool / "blobs", sha, SIZE) for sha in shas.values())
    # What the child computed from them, and what each parent saved, read on the orchestrator.
    assert yanex.load_artifact("digests.json", experiment=ids["child"]) == {
        "parent1": shas[1],
        "parent2": shas[2],
    }
    for seed in (1, 2):
        done = _get(ids[f"parent{seed}"], "data.bin", "-o", "-")
        assert done.returncode == 0, done.stderr
        assert done.stdout == expected(seed)
        assert yanex.list_artifacts(ids[f"parent{seed}"]) == ["data.bin", "model.json"]
    assert all(blobs.present(config.blobs_root(), sha, SIZE) for sha in shas.values())
    # Nothing went to the workers' own YANEX_HOMEs.
    assert not [found for found in cluster.yanex_homes() if (found / "blobs").exists()]


def test_a_content_that_did_not_come_back_says_where_and_why_until_ingest_brings_it(
    cluster: Cluster, ids: dict[str, str], tmp_path: Path
) -> None:
    experiment_id = ids["parent1"]
    blob = blobs.blob_path(config.blobs_root(), hashlib.sha256(expected(1)).hexdigest())
    blob.unlink()  # as if the orchestrator had died before bringing it home
    error = (
        f"Error: the content of artifact 'data.bin' of experiment {experiment_id} is missing: expected "
        f"at {blob}; it was saved on a cluster worker ({cluster.url}) and did not come back to this "
        "store with the experiment's result (the worker, or this orchestrator, went away first)"
    )
    hint = (
        "Hint: `yanex ingest` of the worker's spool brings it home: $YANEX_SPOOL on a Dask worker, "
        "else its ~/.yanex-spool; a Slurm batch's folder (docs/cluster.md)"
    )
    for options in (["-o", "-"], ["-o", str(tmp_path / "out.bin")], []):
        done = _get(experiment_id, "data.bin", *options, cwd=tmp_path)
        assert (done.returncode, done.stdout) == (1, b"")
        assert done.stderr.decode().splitlines() == [error, hint]
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(NotFoundError) as caught:
        yanex.load_artifact("data.bin", experiment=experiment_id)
    assert (f"Error: {caught.value.message}", f"Hint: {caught.value.hint}") == (error, hint)
    with pytest.raises(NotFoundError, match="did not come back"):
        yanex.artifact_path("data.bin", experiment=experiment_id)

    spool = cluster.spool_of(experiment_id)
    ingested = yanex_cli("ingest", str(spool / experiment_id))
    assert ingested.stdout == f"{experiment_id[:8]}  0 new point(s), 1 artifact content(s) brought home\n"
    assert _get(experiment_id, "data.bin", "-o", "-").stdout == expected(1)
    again = yanex_cli("ingest", str(spool / experiment_id))
    assert again.stdout == f"{experiment_id[:8]}  0 new point(s)\n"


def test_the_pipeline_example_runs_on_the_cluster(cluster: Cluster, yanex_home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "pipeline.py", cluster.url],
        cwd=REPO_ROOT / "examples" / "pipeline",
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    ran = yanex.find(tags=["pipeline"])
    assert [view.status.value for view in ran] == ["completed"] * 4
    assert all(cluster.spool_of(view.id) in cluster.spools() for view in ran)  # on the workers
    # Each evaluation loaded a trained line (y = 2x + 1 plus noise of 0.1): its error is small.
    scores = yanex.metrics(keys="test_mse", tags=["pipeline"], name="evaluate-*")
    assert len(scores) == 2 and all(0 < float(point.value) < 0.1 for point in scores), scores


def test_ingest_brings_home_what_a_script_saved_after_its_orchestrator_died(
    cluster: Cluster, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    script = make_script(
        tmp_path / "code",
        "late.py",
        f"""
        import os, random, tempfile, time, yanex
        deadline = time.monotonic() + 120
        while not os.path.exists({str(release)!r}) and time.monotonic() < deadline:
            time.sleep(0.02)
        with tempfile.TemporaryDirectory() as scratch:
            path = os.path.join(scratch, "data")
            open(path, "wb").write(random.Random(1).randbytes({SIZE}))
            yanex.log_artifact(path, "data.bin")
        yanex.log_metrics({{"done": 1}})
        """,
    )
    orchestrator = subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", str(script), "--executor", cluster.url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(_running, "the script to start on a worker", timeout=90)
    finally:
        orchestrator.send_signal(signal.SIGKILL)
        orchestrator.wait()
        release.touch()
    [view] = yanex.find()
    spool = cluster.spool_of(view.id)
    wait_until(lambda: (spool / view.id / config.OUTCOME_FILE).exists(), "the orphaned script to end")
    assert yanex.list_artifacts(view.id) == []

    done = yanex_cli("ingest", str(spool))
    mine = [line for line in done.stdout.splitlines() if line.startswith(view.id[:8])]
    assert mine == [f"{view.id[:8]}  1 new point(s), 1 artifact content(s) brought home, recorded completed"]
    got = _get(view.id, "data.bin", "-o", "-")
    assert got.returncode == 0 and got.stdout == expected(1), got.stderr
    again = yanex_cli("ingest", str(spool / view.id))
    assert again.stdout == f"{view.id[:8]}  0 new point(s)\n"


def _running() -> bool:
    try:
        return bool(yanex.find(status="running"))
    except DatabaseError:  # not created yet, or created while this read
        return False
