"""Batch start-up, the way a user meets it: ``python grid_search.py`` with 6 trivial experiments and
``parallel=2``, as a whole process, against the same scripts on a bare 2-worker subprocess pool
(also a whole process). Target (issue 9): yanex <= 1.5x the bare pool + 0.3 s.

Measured on a regular install (``_common.regular_install``: a wheel of this checkout in a scratch
venv): the editable dev install's path hook slows every interpreter start, the baseline's
included. ``-X importtime`` of the orchestrator is summarised too (the top modules by cumulative import time).

Run: `make bench` or `python benchmarks/bench_batch_startup.py`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import command_seconds, regular_install, report_value

EXPERIMENTS, WORKERS = 6, 2
TRIVIAL = """import yanex
lr = yanex.get_param("learning_rate", 0.1)
yanex.log_metrics({"loss": 1 / (1 + lr)})
"""
GRID = f"""from pathlib import Path
import yanex

if __name__ == "__main__":
    script = Path(__file__).with_name("train.py")
    specs = [
        yanex.ExperimentSpec(script_path=script, config={{"learning_rate": lr}}, name=f"lr-{{lr}}")
        for lr in range({EXPERIMENTS})
    ]
    results = yanex.run_multiple(specs, parallel={WORKERS})
    assert all(r.status == "completed" for r in results), results
"""
BARE = f"""import subprocess, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

script = str(Path(__file__).with_name("train.py"))
def one(_):
    subprocess.run([sys.executable, script], check=True, stdout=subprocess.DEVNULL)
with ThreadPoolExecutor({WORKERS}) as pool:
    list(pool.map(one, range({EXPERIMENTS})))
"""


def top_imports(python: Path, script: Path, env: dict[str, str], count: int = 8) -> list[str]:
    """The slowest top-level imports of the orchestrator process (``-X importtime``)."""
    result = subprocess.run(
        [str(python), "-X", "importtime", str(script)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match[2]) == 1:  # top level: one space of indentation
            rows.append((int(match[1]), match[3]))
    return [f"{name} {micros / 1000:.0f} ms" for micros, name in sorted(rows, reverse=True)[:count]]


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        python = regular_install(folder)
        (folder / "train.py").write_text(TRIVIAL)
        (folder / "grid_search.py").write_text(GRID)
        (folder / "bare_pool.py").write_text(BARE)
        env = {"YANEX_HOME": str(folder / "home")}
        grid = [str(python), str(folder / "grid_search.py")]
        bare = [str(python), str(folder / "bare_pool.py")]
        command_seconds(grid, repeat=1, env=env)  # the database created once, as on a user's machine
        yanex_s = command_seconds(grid, repeat=7, env=env)
        bare_s = command_seconds(bare, repeat=7, env=env)
        limit = 1.5 * bare_s + 0.3
        verdict = "ok" if yanex_s <= limit else "OVER TARGET"
        print(
            f"{'python grid_search.py, 6 x trivial, parallel=2':<48} {yanex_s:9.4f} s  bare 2-worker pool "
            f"{bare_s:9.4f} s  ratio {yanex_s / bare_s:5.2f}x  (target <= 1.5x + 0.3 s = {limit:.3f} s) "
            f"{verdict}",
            flush=True,
        )
        report_value("  fixed cost over the bare pool", yanex_s - bare_s, "s")
        print("  slowest imports of the orchestrator: " + ", ".join(top_imports(python, Path(grid[1]), env)))


if __name__ == "__main__":
    main()
