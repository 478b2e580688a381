"""Start-up of an experiment script that imports yanex, and of `yanex --help`, against `python -c pass`.

Targets (issues 2 and 9): child start-up <= 1.3x the bare interpreter, `yanex --help` <= 5x. Both
sides run in a scratch venv holding a regular install of this checkout (``regular_install``): the
dev venv's editable finder would slow both.

Run: `make bench` or `python benchmarks/bench_startup.py`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import command_seconds, regular_install, report

from yanex.supervisor.launch import write_params

REPEAT = 21
CHILD = "import yanex; yanex.get_param('x', 1)"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="yanex-bench-") as tmp:
        python = str(regular_install(Path(tmp) / "install"))
        standalone = {
            "YANEX_HOME": str(Path(tmp) / "home"),
            "YANEX_EXPERIMENT_ID": "",
            "YANEX_EXPERIMENT_DIR": "",
        }
        experiment = Path(tmp) / "experiment"
        experiment.mkdir()
        write_params(experiment, {"x": 2})  # as the supervisor writes them
        tracked = {**standalone, "YANEX_EXPERIMENT_ID": "0123abcd", "YANEX_EXPERIMENT_DIR": str(experiment)}

        # From the scratch folder: `python -c` puts the current folder first on sys.path, and in a
        # checkout that would import yanex from its source tree instead of the installed package.
        bare = command_seconds([python, "-c", "pass"], repeat=REPEAT, env=standalone, cwd=tmp)
        child = command_seconds([python, "-c", CHILD], repeat=REPEAT, env=standalone, cwd=tmp)
        report("child start-up, standalone (import + get_param)", child, bare, 1.3)
        child_tracked = command_seconds([python, "-c", CHILD], repeat=REPEAT, env=tracked, cwd=tmp)
        report("child start-up, tracked (reads its params)", child_tracked, bare, 1.3)

        help_argv = [str(Path(python).with_name("yanex")), "--help"]
        help_seconds = command_seconds(help_argv, repeat=REPEAT, env=standalone, cwd=tmp)
        report("yanex --help", help_seconds, bare, 5.0)


if __name__ == "__main__":
    main()
