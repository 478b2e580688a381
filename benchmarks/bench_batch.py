"""`run_multiple` against the bare limit: the same trivial scripts run with no tracking at all.

For `parallel=2`, the baseline is a plain 2-worker pool of `subprocess.run` calls; for
`parallel=None`, a plain loop of them. Each is timed at 24 and 96 experiments, interleaved with the
baseline in the same run. Targets (issue 3): yanex at 96 within 2x the baseline; the extra cost per
experiment (difference of the slopes between 24 and 96) at most 5 ms; the extra fixed cost of a
batch (difference of the intercepts) at most 0.4 s.

Run: `make bench` or `python benchmarks/bench_batch.py`.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, report, report_value

import yanex

SIZES = (24, 96)
REPEAT = 3
# Reads two parameters and logs one dict: the smallest script that exercises the whole path.
TRIVIAL = """import yanex
a = yanex.get_param("a", 1)
b = yanex.get_param("b", 2)
yanex.log_metrics({"sum": a + b, "product": a * b})
"""


def bare(script: Path, count: int, workers: int | None) -> None:
    def one(_: int) -> None:
        subprocess.run([PYTHON, str(script)], check=True, stdout=subprocess.DEVNULL)

    if workers is None:
        for index in range(count):
            one(index)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, range(count)))


def tracked(script: Path, count: int, workers: int | None) -> None:
    specs = [yanex.ExperimentSpec(script_path=script, config={"a": i, "b": 2}) for i in range(count)]
    with contextlib.redirect_stderr(io.StringIO()):  # the one-line-per-event progress output
        results = yanex.run_multiple(specs, parallel=workers)
    assert all(result.status == "completed" for result in results), results


def timed(
    run: Callable[[Path, int, int | None], None], script: Path, size: int, workers: int | None
) -> float:
    start = time.perf_counter()
    run(script, size, workers)
    return time.perf_counter() - start


def measure(script: Path, workers: int | None) -> dict[tuple[str, int], float]:
    """Median wall time per (kind, size), baseline and yanex interleaved so drift hits both."""
    tracked(script, 4, workers)  # warm-up: schema created, imports and page cache warm
    bare(script, 4, workers)
    samples: dict[tuple[str, int], list[float]] = {}
    for _ in range(REPEAT):
        for size in SIZES:
            samples.setdefault(("bare", size), []).append(timed(bare, script, size, workers))
            samples.setdefault(("yanex", size), []).append(timed(tracked, script, size, workers))
    return {key: statistics.median(values) for key, values in samples.items()}


def line(times: dict[tuple[str, int], float], kind: str) -> tuple[float, float]:
    """Slope (s per experiment) and intercept (s) through the two batch sizes."""
    small, large = SIZES
    slope = (times[(kind, large)] - times[(kind, small)]) / (large - small)
    return slope, times[(kind, small)] - slope * small


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "trivial.py").write_text(TRIVIAL)
        os.environ["YANEX_HOME"] = str(Path(folder) / "home")
        script = Path(folder) / "trivial.py"
        script.write_text(TRIVIAL)
        for label, workers in (("parallel=2", 2), ("parallel=None", None)):
            times = measure(script, workers)
            baseline = "2-worker subprocess pool" if workers else "sequential subprocess loop"
            for size in SIZES:
                report(
                    f"run_multiple {size} ({label}) vs {baseline}",
                    times[("yanex", size)],
                    times[("bare", size)],
                    2.0,
                )
            yanex_slope, yanex_intercept = line(times, "yanex")
            bare_slope, bare_intercept = line(times, "bare")
            report_value(
                f"  per-experiment overhead ({label})",
                (yanex_slope - bare_slope) * 1000,
                "ms",
                f"<= 5 ms; slopes {yanex_slope * 1000:.1f} vs {bare_slope * 1000:.1f} ms",
            )
            report_value(
                f"  fixed cost of a batch ({label})",
                yanex_intercept - bare_intercept,
                "s",
                f"<= 0.4 s; intercepts {yanex_intercept:.3f} vs {bare_intercept:.3f} s",
            )


if __name__ == "__main__":
    main()
