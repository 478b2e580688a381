"""What the executor tests share: scripts, helpers, and the scenarios every executor must pass
alike (a Dask cluster, submitit's local executor, a real Slurm)."""

from __future__ import annotations

import functools
import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yanex
from tests.conftest import wait_until
from tests.stored import get_experiment, get_metrics
from yanex import config
from yanex.artifacts.transfer import PART
from yanex.db.engine import Database
from yanex.owners import process_alive


def make_script(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def gone(pid: int) -> bool:
    return not process_alive(pid)


def output(experiment_id: str, name: str) -> str:
    """What the experiment printed (``config.STDOUT_FILE``) or its errors, as recorded locally."""
    return (config.experiment_dir(experiment_id) / name).read_text()


def in_thread(target: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=target)
    thread.start()
    return thread


def statuses_in_input_order(code: Path, executor: object, db: Database) -> list[yanex.ExperimentResult]:
    """Four scripts (completes, exits 3, raises, SIGKILLs itself) as one batch: results in input
    order with the local statuses and messages, metrics and output recorded. Returns them for
    the executor's own checks (where it ran)."""
    ok = make_script(
        code,
        "ok.py",
        """
        import os, yanex
        for step in range(5):
            yanex.log_metrics({"loss": 1.0 / (step + 1), "lr": yanex.get_param("lr")}, step=step)
        print("ran in", os.getcwd())
        """,
    )
    exits = make_script(code, "exits.py", "import sys\nsys.exit(3)\n")
    raises = make_script(code, "raises.py", "raise ValueError('bad lr')\n")
    killed = make_script(code, "killed.py", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    results = yanex.run_multiple(
        [
            yanex.ExperimentSpec(ok, config={"lr": 0.1}, name="ok"),
            yanex.ExperimentSpec(exits, name="exits"),
            yanex.ExperimentSpec(raises, name="raises"),
            yanex.ExperimentSpec(killed, name="killed"),
        ],
        executor=executor,
    )
    assert [r.name for r in results] == ["ok", "exits", "raises", "killed"]
    assert [r.status for r in results] == ["completed", "failed", "failed", "failed"]
    assert [r.error_message for r in results] == [
        None,
        "exit code 3",
        "ValueError: bad lr",
        "killed by signal 9 (SIGKILL)",
    ]
    first = results[0].experiment_id
    assert [(p.step, p.value) for p in get_metrics(db, first, "loss")] == [
        (step, 1.0 / (step + 1)) for step in range(5)
    ]
    assert [p.value for p in get_metrics(db, first, "lr")] == [0.1] * 5
    assert "ValueError: bad lr" in output(results[2].experiment_id, config.STDERR_FILE)
    view = get_experiment(db, first)
    assert view.status.value == "completed" and view.duration is not None and view.duration > 0
    assert view.pid is not None and view.started_at is not None
    return results


def end_scripts_named_in(seen: Path) -> None:
    """SIGKILL the scripts still alive whose pids end the ``...-PID`` file names in ``seen`` (the
    orphans of a worker or job a test killed)."""
    for entry in seen.iterdir():
        pid = int(entry.name.rsplit("-", 1)[1])
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)


def lost_then_retried(results: list[yanex.ExperimentResult], db: Database) -> str:
    """The one spec of the batch completed on its retry, after a first try recorded failed with
    what it had logged (its ``started`` point) kept; returns that try's message."""
    [result] = results
    assert result.status == "completed"
    tries = sorted(yanex.find(), key=lambda view: view.created_at)
    assert [view.status.value for view in tries] == ["failed", "completed"]
    assert [p.value for p in get_metrics(db, tries[0].id, "started")] == [1]
    return tries[0].error_message or ""


# Leaves its pid in ``pids``, then sleeps until it is stopped.
SLEEPS = """
import os, time, yanex
from pathlib import Path
Path(yanex.get_param("pids"), str(os.getpid())).touch()
time.sleep(120)
"""


def interrupt_once_running(
    orchestrator: subprocess.Popen[str], pids: Path, running: int, ready: Callable[[], bool] = lambda: True
) -> None:
    """Ctrl-C ``orchestrator`` (a batch of ``SLEEPS``) once ``running`` scripts run (and ``ready``
    holds). Then the batch must raise KeyboardInterrupt, no script may be left running, none may
    have started since, and every row must be cancelled by the user."""
    try:
        try:
            wait_until(lambda: len(list(pids.iterdir())) == running, "the scripts to run", timeout=120)
            wait_until(lambda: len(yanex.find(status="running")) == running, "their rows to be running")
            wait_until(ready, "the batch to be ready for Ctrl-C", timeout=30)
        except AssertionError:
            orchestrator.kill()
            raise AssertionError(orchestrator.communicate()[1]) from None
        orchestrator.send_signal(signal.SIGINT)
        _, stderr = orchestrator.communicate(timeout=90)
    finally:
        if orchestrator.poll() is None:
            orchestrator.kill()
    assert orchestrator.returncode != 0 and "KeyboardInterrupt" in stderr
    started = [int(path.name) for path in pids.iterdir()]
    assert len(started) == running  # the queued ones never started
    for pid in started:
        wait_until(functools.partial(gone, pid), f"script {pid} to end", timeout=30)
    assert {(row.status.value, row.error_message) for row in yanex.find()} == {
        ("cancelled", "interrupted by the user")
    }


# Logs ``steps`` points, one every ``pause`` seconds, after leaving its pid in ``pids``: a sweep
# whose orchestrator a test kills midway, then recovers with `yanex ingest`. Halfway it waits (up
# to two minutes) for a file ``release`` beside ``pids``, which the test writes once it has killed
# the orchestrator: each script is still running then, however slowly the others started.
LOGS = """
import os, time, yanex
from pathlib import Path
pids = Path(yanex.get_param("pids"))
(pids / str(os.getpid())).touch()
for step in range({steps}):
    if step == {steps} // 2:
        deadline = time.monotonic() + 120
        while not (pids.parent / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    yanex.log_metrics({{"v": step}}, step=step)
    time.sleep({pause})
"""

# Leaves its [start, end] in ``runs`` (for ``most_at_once``); fails its first try when ``fails``.
# Until two runs of the batch have been seen running at once, each waits (up to a minute) for a
# second one to start, so that the batch's limit is reached however slowly runs start; after
# that each still runs half a second, long enough for a third one at once to overlap it.
TIMED = """
import os, sys, time, yanex
from pathlib import Path
print(os.environ.get("SLURM_ARRAY_JOB_ID", ""), end="")  # on Slurm: which array ran it
runs = Path(yanex.get_param("runs"))
running = runs.with_name(runs.name + "-running")  # beside runs: most_at_once reads every file in runs
running.mkdir(exist_ok=True)
name, fails = yanex.get_param("name"), yanex.get_param("fails")
tried = any(p.name.startswith(name + "-") for p in runs.iterdir())
began = time.time()
me = running / f"{name}-{os.getpid()}"
me.touch()
deadline = time.monotonic() + 60
while not (running / "paired").exists() and time.monotonic() < deadline:
    if len([p for p in running.iterdir() if p.name != "paired"]) >= 2:
        (running / "paired").touch()
    time.sleep(0.02)
time.sleep(0.5)
me.unlink()
(runs / f"{name}-{os.getpid()}").write_text(f"{began} {time.time()}")
if fails and not tried:
    sys.exit(1)
"""


def most_at_once(runs: Path) -> int:
    """The most runs (``TIMED`` scripts) whose [start, end] overlap at one instant."""
    spans = [tuple(map(float, path.read_text().split())) for path in runs.iterdir()]
    return max(sum(1 for start, end in spans if start <= at < end) for at, _ in spans)


__all__ = [
    "LOGS",
    "SLEEPS",
    "TIMED",
    "end_scripts_named_in",
    "gone",
    "in_thread",
    "interrupt_once_running",
    "lost_then_retried",
    "make_script",
    "most_at_once",
    "output",
    "statuses_in_input_order",
]


# Larger than two parts of a transfer: a content crosses in several.
ARTIFACT_SIZE = 2 * PART + 12345

SAVES = """
import pathlib, random, tempfile, yanex
with tempfile.TemporaryDirectory() as scratch:
    path = pathlib.Path(scratch) / "data"
    path.write_bytes(random.Random(yanex.get_param("seed")).randbytes(yanex.get_param("size")))
    yanex.log_artifact(path, "data.bin")
yanex.save_artifact({"seed": yanex.get_param("seed")}, "model.json")
"""

LOADS = """
import hashlib, yanex
data = yanex.load_artifact("data.bin", experiment=yanex.dependency())
assert yanex.artifact_path("data.bin", experiment="saves").read_bytes() == data
yanex.save_artifact({"sha256": hashlib.sha256(data).hexdigest(), "model": yanex.load_artifact(
    "model.json", experiment=yanex.dependency())}, "read.json")
"""


def artifacts_come_home_and_reach_dependents(code: Path, executor: object) -> dict[str, str]:
    """A script saves a content larger than a transfer's part, and one depending on it reads it:
    both complete, the content reads back from the orchestrator's store byte for byte (through
    ``yanex artifacts get -o -`` too), and what the dependent read is what was saved. Returns
    the ids by name, for the executor's own checks."""
    saves, loads = make_script(code, "saves.py", SAVES), make_script(code, "loads.py", LOADS)
    specs = [
        yanex.ExperimentSpec(saves, config={"seed": 7, "size": ARTIFACT_SIZE}, name="saves"),
        yanex.ExperimentSpec(loads, name="loads", depends_on=["saves"]),
    ]
    results = yanex.run_multiple(specs, executor=executor)
    assert [(r.status, r.error_message) for r in results] == [("completed", None)] * 2
    ids = {r.name or "": r.experiment_id for r in results}
    data = random.Random(7).randbytes(ARTIFACT_SIZE)
    assert yanex.load_artifact("data.bin", experiment=ids["saves"]) == data
    got = subprocess.run(
        [sys.executable, "-m", "yanex", "artifacts", "get", ids["saves"], "data.bin", "-o", "-"],
        capture_output=True,
        timeout=120,
    )
    assert got.returncode == 0 and got.stdout == data, got.stderr
    assert yanex.load_artifact("read.json", experiment=ids["loads"]) == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "model": {"seed": 7},
    }
    return ids


# Logs a loss that is worse the larger q, for up to `steps` steps, pausing `pause` s a step unless
# q is 0: the best run is always ahead, so the others have it to compare with.
PRUNED_TOY = """
import time, yanex
q = yanex.get_param("q")
for step in range(yanex.get_param("steps")):
    yanex.log_metrics({"loss": q + 1 / (step + 1)}, step=step)
    if yanex.should_stop():
        print(f"saved at step {step}")
        raise SystemExit(0)
    time.sleep(yanex.get_param("pause") if q else 0)
"""


def pruning_reaches_the_script(folder: Path, executor: Any, runs: int, steps: int, pause: float) -> None:
    """The orchestrator decides from the store; the executor brings the decision to where the
    script runs: its supervisor stops it, recorded pruned, and ``yanex.should_stop()`` in the
    script sees it first (it saves, then exits on its own). Every run but the best is pruned."""
    script = make_script(folder, "toy.py", PRUNED_TOY)
    specs = [
        yanex.ExperimentSpec(script, config={"q": q, "steps": steps, "pause": pause}, name=f"toy-q{q}")
        for q in range(runs)
    ]
    prune = yanex.Pruning("median", "loss", warmup=2, min_runs=1)
    results = yanex.run_multiple(specs, executor=executor, prune=prune)
    statuses = [r.status for r in results]
    assert statuses[0] == "completed" and set(statuses[1:]) == {"pruned"}, results
    for result in results[1:]:
        assert "by median: loss" in (result.error_message or ""), result
        assert output(result.experiment_id, config.STDOUT_FILE).startswith("saved at step")
        assert 2 < len(yanex.metrics(result.experiment_id, keys="loss")) < steps  # stopped early, points kept
