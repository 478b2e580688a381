"""Batches on a real Dask cluster (a scheduler and workers on this machine, over TCP).

1. Overhead: 96 trivial experiments on 2 single-threaded workers through ``run_multiple``, against
   the same ``subprocess.run`` calls submitted to the same cluster without yanex. Target (issue
   13): at most 20 ms per experiment, ``(yanex - baseline) / 96``.
2. Ingest: 4 workers whose scripts log 50,000 points/s in total (12,500 each, for 4 s). Target:
   the orchestrator keeps up, i.e. the batch ends at most 2 s after the last script ended, with
   every point stored.

3. Slurm, where one answers (`tests/slurm/start-slurm.sh`): 48 trivial experiments through
   ``executor=yanex.executors.slurm(...)`` against the same ``subprocess.run`` calls submitted
   as one submitit job array without yanex. No target: Slurm starts jobs on whole seconds, so
   the figure says what yanex adds on top of a scheduler that is itself slow to start jobs.

Run: `make bench` or `python benchmarks/bench_cluster.py`.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, report_value

import yanex
from tests.cluster_support import cluster_client

COUNT = 96
TRIVIAL = """import yanex
a = yanex.get_param("a", 1)
yanex.log_metrics({"sum": a + 1})
"""
# 12,500 points/s for 4 s, paced in 50 ms bursts; prints when it stopped logging.
LOGGER = """import time, yanex
rate, seconds, burst = 12500, 4.0, 0.05
start = time.time()
step = 0
while step < rate * seconds:
    for _ in range(int(rate * burst)):
        yanex.log_metrics({"v": step}, step=step)
        step += 1
    time.sleep(max(0.0, start + step / rate - time.time()))
print(time.time())
"""


def _quiet(call: Callable[[], list[yanex.ExperimentResult]]) -> list[yanex.ExperimentResult]:
    with contextlib.redirect_stderr(io.StringIO()):
        return call()


def _run_plain(script: str) -> int:
    return subprocess.run([PYTHON, script], capture_output=True).returncode


def overhead(folder: Path) -> bool:
    with cluster_client(folder / "cluster", workers=2) as client:
        script = folder / "code" / "trivial.py"
        script.parent.mkdir()
        script.write_text(TRIVIAL)
        specs = [yanex.ExperimentSpec(script, config={"a": i}) for i in range(COUNT)]
        _quiet(lambda: yanex.run_multiple(specs[:4], executor=client))  # code unpacked, clients up
        client.gather(client.map(_run_plain, [str(script)] * 4, pure=False))
        start = time.perf_counter()
        results = _quiet(lambda: yanex.run_multiple(specs, executor=client))
        tracked = time.perf_counter() - start
        assert {r.status for r in results} == {"completed"}
        start = time.perf_counter()
        codes = client.gather(client.map(_run_plain, [str(script)] * COUNT, pure=False))
        plain = time.perf_counter() - start
        assert set(codes) == {0}
    per = (tracked - plain) / COUNT
    report_value(f"{COUNT} trivial experiments, yanex on Dask", tracked, "s")
    report_value(f"{COUNT} subprocess.run on the same cluster", plain, "s")
    report_value("overhead per experiment", per * 1000, "ms", "<= 20 ms")
    return per <= 0.020


def ingest(folder: Path) -> bool:
    from tests.stored import get_metrics
    from yanex.db.engine import Database

    with cluster_client(folder / "cluster4", workers=4) as client:
        script = folder / "code4" / "logger.py"
        script.parent.mkdir()
        script.write_text(LOGGER)
        specs = [yanex.ExperimentSpec(script, config={"seed": i}) for i in range(4)]
        results = _quiet(lambda: yanex.run_multiple(specs, executor=client))
        ended = time.time()
    from yanex import config

    last_log = max(
        float((config.experiment_dir(r.experiment_id) / config.STDOUT_FILE).read_text()) for r in results
    )
    db = Database()
    stored = sum(len(get_metrics(db, r.experiment_id, "v")) for r in results)
    lag = ended - last_log
    report_value("points stored of 200,000 logged at 50,000/s", stored, "points", "= 200000")
    report_value("batch end after the last script stopped logging", lag, "s", "<= 2 s")
    return stored == 200_000 and lag <= 2.0


def slurm_overhead(folder: Path) -> bool:
    import shutil

    if shutil.which("sinfo") is None or subprocess.run(["sinfo"], capture_output=True).returncode != 0:
        print("Slurm: skipped, no Slurm here (as root: tests/slurm/start-slurm.sh)")
        return True
    import logging

    import submitit

    from yanex.executors.slurm_executor import max_array_size

    logging.getLogger("submitit").setLevel(logging.ERROR)  # its sacct polls fail without slurmdbd

    count = 48
    script = folder / "code-slurm" / "trivial.py"
    script.parent.mkdir()
    script.write_text(TRIVIAL)
    specs = [yanex.ExperimentSpec(script, config={"a": i}) for i in range(count)]
    options = yanex.executors.slurm(folder=folder / "shared", time="5m")
    # The first job after slurmctld starts waits a few seconds: not part of either figure.
    _quiet(lambda: yanex.run_multiple(specs[:2], executor=options))
    start = time.perf_counter()
    results = _quiet(lambda: yanex.run_multiple(specs, executor=options))
    tracked = time.perf_counter() - start
    assert {r.status for r in results} == {"completed"}
    bare: Any = submitit.SlurmExecutor(folder=folder / "bare")  # untyped
    bare.update_parameters(time=5, array_parallelism=count)
    size = max_array_size()  # arrays as big as Slurm allows, as yanex submits them
    start = time.perf_counter()
    run_plain = submitit.helpers.CommandFunction([PYTHON, str(script)])  # raises if it fails
    jobs = []
    for first in range(0, count, size):
        with bare.batch():
            jobs += [bare.submit(run_plain) for _ in range(min(size, count - first))]
    for job in jobs:
        job.result()
    plain = time.perf_counter() - start
    report_value(f"{count} trivial experiments, yanex on Slurm", tracked, "s")
    report_value(f"{count} subprocess.run as one submitit array", plain, "s")
    report_value("Slurm: overhead per experiment", (tracked - plain) / count * 1000, "ms")
    return True


def main() -> int:
    import os

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        os.environ["YANEX_HOME"] = str(folder / "home")
        ok = overhead(folder)
        ok = ingest(folder) and ok
        ok = slurm_overhead(folder) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
