"""Shared timing and reporting for the benchmarks: every figure is a ratio to a bare baseline
measured in the same run, so results compare across machines."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PYTHON = sys.executable


def median_seconds(run: Callable[[], object], repeat: int = 7, warmup: int = 1) -> float:
    """Median wall time of ``run()``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def command_seconds(
    argv: Sequence[str], repeat: int = 7, env: dict[str, str] | None = None, cwd: str | None = None
) -> float:
    """Median wall time of a command, which must succeed."""

    def run() -> None:
        subprocess.run(
            list(argv),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )

    return median_seconds(run, repeat=repeat)


def report(name: str, measured: float, baseline: float, target: float, *, unit: str = "s") -> bool:
    """Print one line: the figure, its baseline, the ratio and whether it meets the target ratio."""
    ratio = measured / baseline
    verdict = "ok" if ratio <= target else "OVER TARGET"
    print(
        f"{name:<48} {measured:9.4f} {unit}  baseline {baseline:9.4f} {unit}  "
        f"ratio {ratio:6.2f}x  (target <= {target}x) {verdict}",
        flush=True,
    )
    return ratio <= target


def report_value(name: str, value: float, unit: str, target: str = "") -> None:
    """A figure that is not a ratio (a throughput, a slope), with its target in words."""
    suffix = f"  (target {target})" if target else ""
    print(f"{name:<48} {value:12.3f} {unit}{suffix}", flush=True)


def regular_install(scratch: Path) -> Path:
    """The Python of a new venv in ``scratch`` holding this checkout as a regular (not editable)
    install; returns its interpreter.

    Start-up must be measured there: the dev venv's editable finder slows every interpreter start,
    the bare one included (46 ms instead of 15 ms), which hides yanex's own cost. yanex goes in
    from a wheel built here; its dependencies are read from this venv's site-packages (a ``.pth``
    line: no download, and no ``.pth`` file of this venv, such as the editable finder, runs there).
    """
    checkout = Path(__file__).resolve().parent.parent
    wheels = scratch / "wheels"
    subprocess.run(
        [
            PYTHON,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(checkout),
        ],
        check=True,
        capture_output=True,
    )
    venv = scratch / "venv"
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.check_output([str(python), "-c", where], text=True).strip())
    (site / "yanex-bench-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (wheel,) = wheels.glob("yanex-*.whl")
    install = [PYTHON, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)]
    subprocess.run(install, check=True, capture_output=True)
    return python


def use_scratch_home(folder: Path) -> None:
    """Point this process's yanex at a new home under ``folder``, with no inherited database URL
    or experiment (a benchmark run from inside a tracked script must not write into it)."""
    os.environ["YANEX_HOME"] = str(folder / "home")
    for name in ("YANEX_DATABASE_URL", "YANEX_EXPERIMENT_ID", "YANEX_EXPERIMENT_DIR"):
        os.environ.pop(name, None)


def supervise(script: Path, args: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """Run ``script`` once as a tracked experiment under yanex's own supervisor (a row, then
    ``ExperimentProcess``), as a batch worker does; exit if it fails. Returns the experiment's id
    and the JSON the script printed (its own measurements)."""
    from yanex import config
    from yanex.db.engine import Database
    from yanex.runner.environment import capture_environment, this_process
    from yanex.specs import ExperimentSpec, GitInfo, Status
    from yanex.store.experiments import create_experiments
    from yanex.supervisor.launch import ExperimentProcess, LaunchRequest

    db = Database()
    spec = ExperimentSpec(script_path=script, script_args=list(args))
    [experiment_id] = create_experiments(
        db,
        [spec],
        status=Status.CREATED,
        owner=this_process(),
        git=GitInfo(),
        environment=capture_environment(),
    )
    process = ExperimentProcess(db, LaunchRequest(experiment_id, script, tuple(args)), this_process())
    process.start()
    outcome = process.wait()
    if outcome.status is not Status.COMPLETED:
        raise SystemExit(f"{script.name} failed: {outcome.error_message}")
    printed: dict[str, Any] = json.loads(
        (config.experiment_dir(experiment_id) / config.STDOUT_FILE).read_text()
    )
    return experiment_id, printed
