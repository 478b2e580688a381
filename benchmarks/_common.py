"""Shared timing and reporting for the benchmarks: every figure is a ratio to a bare baseline
measured in the same run, so results compare across machines."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

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
