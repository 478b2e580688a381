"""What sampling a script's CPU and memory costs it (issue 23: at most 1% of a CPU-bound run).

A CPU-bound script times its own fixed loop under `yanex run`, alternately with sampling off and
every 0.1 s (a hundred times the default rate, so that the cost is large enough to measure on a
shared machine); the difference, scaled to the default interval of 10 s, is the overhead. The
supervisor's own time per sample is timed in-process too (one scan of /proc and the journal write).

Run: `make bench` or `python benchmarks/bench_system_metrics.py`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, report_value, use_scratch_home

ROUNDS = 3  # alternating runs per setting
FAST, DEFAULT = 0.1, 10.0
TARGET = 0.01
# Times a fixed amount of pure-Python work, about 2 s on an idle core, and prints it.
CPU_BOUND = """
import time
start = time.perf_counter()
total = 0
for i in range(40_000_000):
    total += i & 7
print(time.perf_counter() - start)
"""


def timed_run(script: Path, interval: float) -> float:
    out = subprocess.run(
        [PYTHON, "-m", "yanex", "run", str(script), "--system-metrics-interval", str(interval)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.strip().splitlines()[-1])


def per_sample_seconds(folder: Path) -> float:
    """The supervisor's time for one sample of a running process tree."""
    from yanex.supervisor.sampling import SystemSampler

    child = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(30)"])
    try:
        sampler = SystemSampler(str(folder / "journal.jsonl"), child.pid, 1.0, None)
        start = time.perf_counter()
        for _ in range(200):
            sampler.sample(time.monotonic())
        return (time.perf_counter() - start) / 200
    finally:
        child.kill()
        child.wait()


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        use_scratch_home(folder)
        script = folder / "cpu_bound.py"
        script.write_text(CPU_BOUND)
        off: list[float] = []
        fast: list[float] = []
        for _ in range(ROUNDS):
            off.append(timed_run(script, 0))
            fast.append(timed_run(script, FAST))
        sample = per_sample_seconds(folder)
        lines = (folder / "journal.jsonl").read_text().splitlines()
        assert json.loads(lines[0])["values"]["system/memory_mb"] > 0
    base, sampled = statistics.median(off), statistics.median(fast)
    at_fast = max(0.0, sampled - base) / base
    at_default = at_fast * FAST / DEFAULT
    report_value("CPU-bound loop, sampling off (median)", base, "s")
    report_value(f"CPU-bound loop, a sample every {FAST} s (median)", sampled, "s")
    report_value(f"overhead at {FAST} s, measured", at_fast * 100, "%")
    report_value(
        f"overhead at {DEFAULT:g} s (the default), scaled", at_default * 100, "%", f"<= {TARGET:.0%}"
    )
    report_value("supervisor time per sample (in-process)", sample * 1000, "ms")
    report_value(f"supervisor time per run-second at {DEFAULT:g} s", sample / DEFAULT * 100, "%")
    ok = at_default <= TARGET
    print(f"sampling overhead ratio {at_default:.5f} (target <= {TARGET}) {'ok' if ok else 'OVER TARGET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.pop("YANEX_SYSTEM_METRICS_INTERVAL", None)
    sys.exit(main())
