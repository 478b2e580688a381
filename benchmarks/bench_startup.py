"""Start-up of an experiment script that imports yanex, and of `yanex --help`, against `python -c pass`.

Targets (issue 2): child start-up <= 1.3x the bare interpreter, `yanex --help` <= 10x. Both sides
run in this venv, so the editable-install finder that `site` loads is part of both.

Run: `make bench` or `python benchmarks/bench_startup.py`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, command_seconds, report

REPEAT = 21
CHILD = "import yanex; yanex.get_param('x', 1)"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="yanex-bench-") as tmp:
        standalone = {
            "YANEX_HOME": str(Path(tmp) / "home"),
            "YANEX_EXPERIMENT_ID": "",
            "YANEX_EXPERIMENT_DIR": "",
        }
        experiment = Path(tmp) / "experiment"
        experiment.mkdir()
        (experiment / "config.json").write_text('{"x": 2}')
        tracked = {**standalone, "YANEX_EXPERIMENT_ID": "0123abcd", "YANEX_EXPERIMENT_DIR": str(experiment)}

        bare = command_seconds([PYTHON, "-c", "pass"], repeat=REPEAT, env=standalone)
        child = command_seconds([PYTHON, "-c", CHILD], repeat=REPEAT, env=standalone)
        report("child start-up, standalone (import + get_param)", child, bare, 1.3)
        child_tracked = command_seconds([PYTHON, "-c", CHILD], repeat=REPEAT, env=tracked)
        report("child start-up, tracked (reads config.json)", child_tracked, bare, 1.3)

        script = Path(PYTHON).with_name("yanex")
        argv = [str(script), "--help"] if script.exists() else [PYTHON, "-m", "yanex", "--help"]
        help_seconds = command_seconds(argv, repeat=REPEAT, env=standalone)
        report("yanex --help", help_seconds, bare, 10.0)


if __name__ == "__main__":
    main()
