"""Sweeps of any size: a million-point dry run, and how soon a 200,000-point sweep starts.

Targets (issue 19), each against the same command on a one-point-wide sweep measured in this run:
- ``yanex run train.py -p "a=range(1000000)" --dry-run``: peak memory at most 3x that of a
  10-point dry run (the interpreter and imports; a million points held at once took 1 GB, 28x),
  and CPU time per point printed;
- ``yanex run first.py -p "i=range(200000)"``: the first experiment starts at most 1.5x as late as
  in a 10-point sweep (both pay start-up, the database and the worker; the million rows written
  up front took 30 s), and the orchestrator's peak memory at most 2x the small sweep's (800 MB
  when every spec and row were held).
Judged on CPU time and peak RSS, which a loaded machine does not change much; the start of the
first experiment is wall time, so it is the median of three.

Run: `make bench` or `python benchmarks/bench_sweep_scale.py`.
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import regular_install, report, report_value

DRY_POINTS = 1_000_000
RUN_POINTS = 200_000
DRY_MEMORY_RATIO = 3.0
FIRST_START_RATIO = 1.5
RUN_MEMORY_RATIO = 2.0
# Notes when the first experiment started; every later one sees the note and does nothing.
FIRST = """
import os, time
from pathlib import Path
note = Path(os.environ["FIRST_NOTE"])
if not note.exists():
    note.with_suffix(".tmp").write_text(repr(time.time()))
    note.with_suffix(".tmp").rename(note)
"""


def dry_run(yanex: str, script: Path, points: int, env: dict[str, str]) -> tuple[float, float]:
    """CPU seconds and peak RSS (MB) of a dry run of ``points`` points, in a process of its own
    (RUSAGE_CHILDREN's peak is over every child ever waited for)."""
    measure = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(r.ru_utime + r.ru_stime, r.ru_maxrss / 1024)\n"
    )
    argv = [sys.executable, "-c", measure, yanex, "run", str(script), "-p", f"a=range({points})", "--dry-run"]
    cpu, peak = subprocess.check_output(argv, env=env, text=True).split()
    return float(cpu), float(peak)


def first_start(yanex: str, script: Path, points: int, env: dict[str, str], tmp: Path) -> tuple[float, float]:
    """Seconds from launching a sweep to its first experiment's start, and the orchestrator's peak
    RSS (MB) by then; the sweep is then stopped as Ctrl-C stops it."""
    note = tmp / "first"
    note.unlink(missing_ok=True)
    started = time.time()
    orchestrator = subprocess.Popen(
        [yanex, "run", str(script), "-p", f"i=range({points})"],
        env={**env, "FIRST_NOTE": str(note)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while not note.exists():
            if orchestrator.poll() is not None:
                raise SystemExit(f"the sweep of {points} points ended before its first experiment")
            time.sleep(0.005)
        status = Path(f"/proc/{orchestrator.pid}/status").read_text()
        peak = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]
        orchestrator.send_signal(signal.SIGINT)
        orchestrator.wait(timeout=300)
    finally:
        if orchestrator.poll() is None:
            os.killpg(orchestrator.pid, signal.SIGKILL)
    return float(note.read_text()) - started, peak


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory(prefix="yanex-bench-") as scratch:
        tmp = Path(scratch)
        python = regular_install(tmp / "install")
        yanex = str(python.with_name("yanex"))
        env = {**os.environ, "YANEX_HOME": str(tmp / "home")}
        for name in ("YANEX_DATABASE_URL", "YANEX_EXPERIMENT_ID", "YANEX_EXPERIMENT_DIR"):
            env.pop(name, None)
        train = tmp / "train.py"
        train.write_text("")

        small_cpu, small_peak = dry_run(yanex, train, 10, env)
        cpu, peak = dry_run(yanex, train, DRY_POINTS, env)
        ok &= report(
            "dry run of 10^6 points, peak RSS vs 10 points", peak, small_peak, DRY_MEMORY_RATIO, unit="MB"
        )
        report_value("  its CPU time", cpu, "s", f"10 points: {small_cpu:.2f} s")
        report_value("  CPU per point", (cpu - small_cpu) / DRY_POINTS * 1e6, "us")
        report_value("  memory per point", (peak - small_peak) / DRY_POINTS * 1e6, "bytes")

        script = tmp / "first.py"
        script.write_text(FIRST)
        first_start(yanex, script, 10, env, tmp)  # warm-up: the database is created
        small = [first_start(yanex, script, 10, env, tmp) for _ in range(3)]
        big = [first_start(yanex, script, RUN_POINTS, env, tmp) for _ in range(3)]
        small_first, big_first = (statistics.median(t for t, _ in runs) for runs in (small, big))
        ok &= report(f"first start of {RUN_POINTS:,} points vs 10", big_first, small_first, FIRST_START_RATIO)
        small_rss, big_rss = (max(p for _, p in runs) for runs in (small, big))
        ok &= report(
            f"  orchestrator peak RSS, {RUN_POINTS:,} vs 10", big_rss, small_rss, RUN_MEMORY_RATIO, unit="MB"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
