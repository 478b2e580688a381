"""Early stopping on a 32-experiment sweep: the steps it saves, and the best objective it keeps.

The same sweep (``yanex run -p "c=uniform(0.1,1)" --samples 32 --seed 7 -j 4``) runs twice, without
and with ``--prune median``: each configuration's loss is c plus a decaying term, so that the
ranking shows early, as it does in real training. Targets (issue 24): pruning logs >= 40 % fewer
steps than no pruning, and its best ``loss`` is within 1 % of the unpruned sweep's.

Run: `make bench` or `python benchmarks/bench_prune.py` (about 50 s: the scripts mostly sleep).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report_value, use_scratch_home

STEPS = 50
TRAIN = f"""
import time, yanex
c = yanex.get_param("c")
for step in range({STEPS}):
    yanex.log_metrics({{"loss": c + 2 / (1 + step)}}, step=step)
    time.sleep(0.08)  # a decision lands about 1 s after its step: ~12 steps
"""
SWEEP = ["-p", "c=uniform(0.1,1)", "--samples", "32", "--seed", "7", "-j", "4"]


def sweep(folder: Path, script: Path, *extra: str) -> tuple[int, float, float]:
    """Run the sweep in a home of its own: total steps logged, best loss, seconds."""
    use_scratch_home(folder)
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "yanex", "run", str(script), *SWEEP, *extra],
        env=dict(os.environ),
        capture_output=True,
        check=True,
    )
    seconds = time.perf_counter() - began
    with contextlib.closing(sqlite3.connect(folder / "home" / "yanex.db")) as conn:
        query = "SELECT count(*), min(value) FROM metrics WHERE key = 'loss'"
        [(steps, best)] = conn.execute(query).fetchall()
    return steps, best, seconds


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="yanex-bench-") as tmp:
        script = Path(tmp) / "train.py"
        script.write_text(TRAIN)
        full, best_full, took_full = sweep(Path(tmp) / "full", script)
        pruned, best_pruned, took_pruned = sweep(
            Path(tmp) / "pruned", script, "--prune", "median", "--prune-metric", "loss", "--prune-warmup", "3"
        )
    saved = 100 * (1 - pruned / full)
    gap = 100 * abs(best_pruned - best_full) / abs(best_full)
    report_value(f"steps logged without pruning ({took_full:.0f} s)", full, "steps")
    report_value(f"steps logged with --prune median ({took_pruned:.0f} s)", pruned, "steps")
    report_value("steps saved by pruning", saved, "%", ">= 40 %")
    report_value("best loss: pruned vs not", gap, "% apart", "<= 1 %")
    if saved < 40 or gap > 1:
        print("OVER TARGET", flush=True)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
