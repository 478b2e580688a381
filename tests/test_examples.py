"""Every example runs as a real process, from its own folder, against a temp YANEX_HOME."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO_ROOT

BATCH = REPO_ROOT / "examples" / "run-api" / "02_batch_execution"

# The spec's expected output, with ids, durations and the path of yanex (plain `yanex` when PATH
# finds the one running) as patterns.
GRID_OUTPUT = r"""Grid Search Configuration
  Learning rates: \[0.001, 0.01, 0.1\]
  Batch sizes: \[16, 32\]
  Epochs: 10
  Total experiments: 6

Created 6 experiment specifications

Running experiments with 3 parallel workers...

============================================================
GRID SEARCH RESULTS
============================================================

Total: 6
Completed: 6
Failed: 0

Completed experiments:
  ✓ grid-lr0_001-bs16: (?P<first>[0-9a-f]{8}) \(\d+\.\d\ds\)
  ✓ grid-lr0_001-bs32: [0-9a-f]{8} \(\d+\.\d\ds\)
  ✓ grid-lr0_01-bs16: [0-9a-f]{8} \(\d+\.\d\ds\)
  ✓ grid-lr0_01-bs32: [0-9a-f]{8} \(\d+\.\d\ds\)
  ✓ grid-lr0_1-bs16: [0-9a-f]{8} \(\d+\.\d\ds\)
  ✓ grid-lr0_1-bs32: [0-9a-f]{8} \(\d+\.\d\ds\)

To view experiment details:
  (?P<cli>yanex|/\S+/yanex) show (?P=first)
  (?P=cli) list --tag grid-search
  (?P=cli) compare --tag grid-search
  (?P=cli) plot accuracy --tag grid-search
"""


def run_example(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, name],
        cwd=BATCH,
        env={**os.environ, "EXAMPLE_EPOCH_SECONDS": "0.01"},
        capture_output=True,
        text=True,
        timeout=180,
    )


def statuses(home: Path, tag: str) -> list[str]:
    with sqlite3.connect(home / "yanex.db") as conn:
        query = "SELECT status FROM experiments JOIN tags ON id = experiment_id WHERE tag = ?"
        return sorted(row[0] for row in conn.execute(query, (tag,)))


def test_grid_search_prints_the_expected_output(yanex_home):
    result = run_example("grid_search.py")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(GRID_OUTPUT, result.stdout), result.stdout
    assert statuses(yanex_home, "grid-search") == ["completed"] * 6
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        assert conn.execute("SELECT count(*) FROM metrics WHERE key = 'accuracy'").fetchone() == (60,)
        # Every run's curve differs from every other's (the README's picture shows six lines), and
        # the learning rate matters most, best near 0.01.
        final = dict(
            conn.execute(
                "SELECT e.name, s.last FROM metric_summary AS s "
                "JOIN experiments AS e ON e.id = s.experiment_id WHERE s.key = 'accuracy'"
            ).fetchall()
        )
    values = sorted(final.values())
    assert all(high - low > 0.02 for low, high in itertools.pairwise(values)), final
    assert min(final["grid-lr0_01-bs16"], final["grid-lr0_01-bs32"]) > max(
        v for name, v in final.items() if "lr0_01-" not in name
    ), final


@pytest.mark.parametrize(
    ("script", "tag", "count", "expected"),
    [
        ("random_search.py", "random-search", 8, "Random search: 8/8 completed"),
        ("ensemble.py", "ensemble", 6, "Ensemble: 6 of 6 members trained"),
        ("multi_dataset.py", "multi-dataset", 3, "dataset_C: "),
    ],
)
def test_pattern_examples_complete_every_experiment(yanex_home, script, tag, count, expected):
    result = run_example(script)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    assert statuses(yanex_home, tag) == ["completed"] * count


def test_multi_dataset_passes_script_args(yanex_home):
    assert run_example("multi_dataset.py").returncode == 0
    outputs = sorted(p.read_text() for p in (yanex_home / "experiments").glob("*/stdout.log"))
    assert [line.split(":")[0] for line in outputs] == ["dataset_A", "dataset_B", "dataset_C"]


def test_retry_failures_reruns_the_failed_experiments(yanex_home):
    result = run_example("retry_failures.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "First run: 1 completed, 2 failed"
    assert "Re-run: 2/2 completed" in lines
    assert lines[-1] == "With retries=1: 2/2 completed"
    # 3 first runs, 2 re-runs, then 2 new specs that failed once and were retried: 9 rows.
    assert statuses(yanex_home, "retry-demo") == ["completed"] * 5 + ["failed"] * 4
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        assert conn.execute("SELECT count(*) FROM experiments WHERE retry_of IS NOT NULL").fetchone() == (4,)


def test_train_script_runs_standalone(yanex_home):
    result = run_example("train.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("dataset_A: lr=0.01 batch_size=32 accuracy=")
    assert not (yanex_home / "yanex.db").exists()


PIPELINE = REPO_ROOT / "examples" / "pipeline"


def test_pipeline_evaluates_each_model_its_train_step_saved(yanex_home):
    result = subprocess.run(
        [sys.executable, "pipeline.py"], cwd=PIPELINE, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    assert statuses(yanex_home, "pipeline") == ["completed"] * 4
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        edges = conn.execute(
            "SELECT child.name, parent.name FROM dependencies "
            "JOIN experiments AS child ON child.id = experiment_id "
            "JOIN experiments AS parent ON parent.id = depends_on_id ORDER BY child.name"
        ).fetchall()
        saved = conn.execute(
            "SELECT e.name, a.name FROM artifacts AS a JOIN experiments AS e ON e.id = a.experiment_id"
        ).fetchall()
        scores = conn.execute(
            "SELECT e.name, m.value FROM metrics AS m "
            "JOIN experiments AS e ON e.local_id = m.experiment_local_id "
            "WHERE m.key = 'test_mse' ORDER BY e.name"
        ).fetchall()
    assert edges == [("evaluate-lr0.05", "train-lr0.05"), ("evaluate-lr0.5", "train-lr0.5")]
    assert sorted(saved) == [("train-lr0.05", "model.json"), ("train-lr0.5", "model.json")]
    # Each evaluation loaded a trained line (y = 2x + 1 plus noise of 0.1): its error is small.
    assert [name for name, _ in scores] == ["evaluate-lr0.05", "evaluate-lr0.5"]
    assert all(0 < mse < 0.1 for _, mse in scores), scores


def test_pipeline_steps_run_standalone_through_the_artifacts_folder(yanex_home, tmp_path):
    for script in ("train.py", "evaluate.py"):
        result = subprocess.run(
            [sys.executable, str(PIPELINE / script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "artifacts" / "model.json").is_file()
    assert "test MSE of the standalone model" in result.stdout
    assert not (yanex_home / "yanex.db").exists()


# A user's shell after `make demo`: the checkout's venv is not activated, so no `yanex` on PATH.
BARE_PATH = os.pathsep.join(p for p in ("/usr/local/bin", "/usr/bin", "/bin") if Path(p).is_dir())
VENV = Path(sys.executable).parent.parent
IN_A_VENV = pytest.mark.skipif(
    not (VENV / "bin" / "yanex").is_file(), reason="not run from a venv with yanex"
)


def printed_commands(stdout: str) -> list[str]:
    """The shell commands a run prints under its 'To view experiment details:' line."""
    tail = stdout.split("To view experiment details:\n", 1)[1]
    return [line.strip() for line in tail.splitlines() if line.startswith("  ")]


def run_in_shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": BARE_PATH}
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@IN_A_VENV
def test_grid_search_prints_commands_that_work_as_printed(yanex_home, tmp_path):
    result = subprocess.run(
        [sys.executable, "grid_search.py"],
        cwd=BATCH,
        env={**os.environ, "PATH": BARE_PATH, "EXAMPLE_EPOCH_SECONDS": "0.01"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    commands = printed_commands(result.stdout)
    assert [c.split()[1] for c in commands] == ["show", "list", "compare", "plot"], commands
    for command in commands:
        pasted = run_in_shell(command, tmp_path)
        assert pasted.returncode == 0, f"{command}\n{pasted.stderr}"
        assert pasted.stdout.strip(), command


@IN_A_VENV
def test_make_demo_ends_with_commands_that_work_as_printed(yanex_home):
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    # This venv stands for the one `make install` made: -o keeps make from reinstalling into it.
    result = subprocess.run(
        [make, "--no-print-directory", "-o", f"{VENV}/.installed-base", "demo", f"VENV={VENV}"],
        cwd=REPO_ROOT,
        # Run from `make test`, a nested make would print "make[1]: Leaving directory" last.
        env={
            **{k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")},
            "PATH": BARE_PATH,
            "EXAMPLE_EPOCH_SECONDS": "0.01",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    commands = printed_commands(result.stdout)
    assert commands, result.stdout
    for command in commands:
        pasted = run_in_shell(command, REPO_ROOT)
        assert pasted.returncode == 0, f"{command}\n{pasted.stderr}"
    # The last line says how to type plain `yanex`: activating the venv does it.
    activate = re.search(r"(\. \S+/bin/activate)", result.stdout.splitlines()[-1])
    assert activate, result.stdout
    pasted = run_in_shell(f"{activate.group(1)} && yanex list --tag grid-search", REPO_ROOT)
    assert pasted.returncode == 0 and pasted.stdout.count("grid-lr") == 6, pasted.stderr
