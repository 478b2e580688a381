"""Adaptive search (issue 24): points proposed by Optuna's samplers from the sweep's finished
experiments, which the store holds; resume continues the same search."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import yanex
from tests.conftest import wait_until, yanex_cli

# The Branin function: minimum 0.397887 at three points of x in [-5, 10], y in [0, 15].
BRANIN = """
import math
import yanex

x, y = yanex.get_param("x"), yanex.get_param("y")
b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
yanex.log_metrics({"loss": (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10})
"""
SPACE = ["-p", "x=uniform(-5, 10)", "-p", "y=uniform(0, 15)"]


def rows(home: Path, query: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(home / "yanex.db", timeout=60)) as conn:
        return conn.execute(query).fetchall()


def readable(home: Path, query: str) -> list[tuple[Any, ...]]:
    """``rows``, or nothing while the database is still being created."""
    try:
        return rows(home, query)
    except sqlite3.OperationalError:
        return []


def points(home: Path, batch: str | None = None) -> list[tuple[float, float]]:
    where = f"WHERE batch_id = '{batch}' " if batch else ""
    return [
        (config["x"], config["y"])
        for (text,) in rows(home, f"SELECT config FROM experiments {where}ORDER BY created_at, rowid")
        for config in [json.loads(text)]
    ]


@pytest.mark.slow
def test_a_seeded_search_run_one_at_a_time_proposes_the_same_points(write_script, yanex_home: Path) -> None:
    script = write_script("branin.py", BRANIN)
    command = ["run", str(script), *SPACE, "--samples", "12", "--search", "tpe", "--objective", "loss.min"]
    for _ in range(2):
        result = yanex_cli(*command, "--seed", "3", "--parallel", "1")
        assert result.returncode == 0, result.stderr
    first, second = (batch for (batch,) in rows(yanex_home, "SELECT id FROM batches ORDER BY created_at"))
    assert len(points(yanex_home, first)) == 12
    # The second run is a search of its own (it does not learn from the first), seeded alike.
    assert points(yanex_home, first) == points(yanex_home, second)
    other = yanex_cli(*command, "--seed", "4")
    assert other.returncode == 0, other.stderr
    [(third,)] = rows(yanex_home, "SELECT id FROM batches ORDER BY created_at DESC LIMIT 1")
    assert set(points(yanex_home, third)).isdisjoint(points(yanex_home, first))


def test_the_stored_plan_records_the_search(write_script, yanex_home: Path) -> None:
    script = write_script("branin.py", BRANIN)
    result = yanex_cli(
        "run", str(script), *SPACE, "--samples", "2", "--search", "tpe", "--objective", "loss.min",
        "--direction", "max", "--seed", "5",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [(text,)] = rows(yanex_home, "SELECT spec FROM batches")
    spec = json.loads(text)
    assert spec["search"]["sampler"] == "tpe"
    assert (spec["search"]["objective"], spec["search"]["direction"]) == ("loss.min", "max")
    assert (spec["samples"], spec["seed"]) == (2, 5)
    assert [axis["kind"] for axis in spec["axes"]] == ["uniform", "uniform"]


def test_sweep_show_prints_the_best_point_and_the_objective_over_trials(
    write_script, yanex_home: Path
) -> None:
    script = write_script("branin.py", BRANIN)
    command = ["run", str(script), *SPACE, "--samples", "4", "--search", "tpe", "--objective", "loss.min"]
    assert yanex_cli(*command, "--seed", "2").returncode == 0
    [(batch,)] = rows(yanex_home, "SELECT id FROM batches")
    losses = [value for (value,) in rows(yanex_home, "SELECT last FROM metric_summary ORDER BY rowid")]
    result = yanex_cli("sweep", "show", batch[:8])
    assert result.returncode == 0, result.stderr
    heading = result.stderr.splitlines()
    assert heading[0] == f"batch {batch[:8]}: tpe search, 4 of 4 points of branin.py; loss.min (min)"
    assert heading[1].startswith(f"best: {min(losses):.6g} (")
    assert heading[2].startswith("best so far over trials: ") and len(heading[2]) == 25 + 4
    shown = json.loads(yanex_cli("sweep", "show", batch[:8], "--format", "json").stdout)
    assert [trial["objective"] for trial in shown] == pytest.approx(losses)
    assert shown[-1]["best_so_far"] == pytest.approx(min(losses))
    assert set(shown[0]["params"]) == {"x", "y"}


# Waits until the file `release` exists once 3 points have run: Ctrl-C lands while two run.
SLOW_AFTER_THREE = (
    BRANIN
    + """
import sqlite3, time, os
from pathlib import Path
if len(list(Path(yanex.get_param("marks")).iterdir())) >= 3:
    while not Path(yanex.get_param("release")).exists():
        time.sleep(0.05)
(Path(yanex.get_param("marks")) / yanex.get_experiment_id()).touch()
"""
)


def test_ctrl_c_then_resume_continues_the_search_without_repeating_a_point(
    write_script, tmp_path: Path, yanex_home: Path
) -> None:
    script = write_script("branin.py", SLOW_AFTER_THREE)
    marks, release = tmp_path / "marks", tmp_path / "release"
    marks.mkdir()
    command = [
        "run", str(script), *SPACE, "-p", f"marks={marks}", "-p", f"release={release}", "--samples", "8",
        "--search", "tpe", "--objective", "loss.min", "--seed", "1", "-j", "2",
    ]  # fmt: skip
    orchestrator = subprocess.Popen(
        [sys.executable, "-m", "yanex", *command],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        counts = "SELECT status, count(*) FROM experiments GROUP BY status ORDER BY status"
        wait_until(
            lambda: readable(yanex_home, counts) == [("completed", 3), ("running", 2)], "3 done, 2 running"
        )
        # Proposed as slots free up: three done and two in flight are all the rows there are.
        assert rows(yanex_home, "SELECT count(*) FROM experiments") == [(5,)]
        orchestrator.send_signal(signal.SIGINT)  # a real Ctrl-C to the orchestrator
        _, err = orchestrator.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(orchestrator.pid, signal.SIGKILL)
    assert orchestrator.returncode == 130, err
    [(batch,)] = rows(yanex_home, "SELECT id FROM batches")
    done = rows(yanex_home, "SELECT count(*) FROM experiments WHERE status = 'completed'")[0][0]
    assert done == 3
    release.touch()
    from yanex.db.engine import Database
    from yanex.store.sweeps import batch_sweep
    from yanex.sweep.plan import SweepPlan
    from yanex.sweep.search import Proposer

    db = Database()
    with contextlib.closing(db.read_connection()) as conn:
        plan = SweepPlan.from_json(batch_sweep(conn, batch).spec)
    assert Proposer(plan, db).finished() == 3  # a resumed sampler is told every finished point
    result = yanex_cli("sweep", "resume", batch[:8])
    assert result.returncode == 0, result.stderr
    assert "3 of 8 points completed; running the other 5" in result.stderr
    completed = rows(yanex_home, "SELECT config FROM experiments WHERE status = 'completed'")
    assert len(completed) == 8
    everything = points(yanex_home)
    assert len(set(everything)) == len(everything)  # no point proposed twice, cancelled ones included


def test_search_without_optuna_says_which_extra_in_one_line(
    write_script, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = write_script("branin.py", BRANIN)
    hidden = tmp_path / "no-optuna"
    (hidden / "optuna").mkdir(parents=True)
    (hidden / "optuna" / "__init__.py").write_text("raise ImportError('No module named optuna')\n")
    monkeypatch.setenv("PYTHONPATH", str(hidden))  # an optuna that fails to import, as when missing
    result = yanex_cli(
        "run", str(script), *SPACE, "--samples", "3", "--search", "tpe", "--objective", "loss.min"
    )
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        "Error: adaptive search (--search tpe or cmaes) needs Optuna, which is not installed",
        "Hint: install the extra from your yanex checkout, in its folder: pip install -e '.[search]'",
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--search", "tpe"], "Error: --search tpe needs an objective to learn from"),
        (["--search", "grid", "--objective", "loss"], "Error: unknown sampler 'grid'"),
        (["--search", "tpe", "--objective", "loss", "-p", "bs=list(1, 2)"], "bs is a grid axis"),
    ],
)
def test_a_search_refuses_what_it_cannot_do(write_script, extra: list[str], message: str) -> None:
    script = write_script("branin.py", BRANIN)
    result = yanex_cli("run", str(script), *SPACE, "--samples", "3", *extra)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_search_dry_run_says_what_it_would_propose_and_writes_nothing(
    write_script, yanex_home: Path
) -> None:
    script = write_script("branin.py", BRANIN)
    result = yanex_cli(
        "run", str(script), *SPACE, "--samples", "8", "--search", "tpe", "--objective", "acc", "--dry-run"
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "dry run: --search tpe would propose 8 experiment(s) of branin.py over x=uniform(-5, 10), "
        "y=uniform(0, 15), maximizing acc; nothing was run or recorded"
    )
    assert not yanex_home.exists()


def _best(sampler: str, seed: int, script: Path, home: Path) -> float:
    results = yanex.search(
        script,
        {"x": yanex.uniform(-5, 10), "y": yanex.uniform(0, 15)},
        n=24,
        objective="loss.min",
        sampler=sampler,
        seed=seed,
    )
    assert {result.status for result in results} == {"completed"}
    ids = ", ".join(f"'{result.experiment_id}'" for result in results)
    query = f"SELECT min(min) FROM metric_summary WHERE key = 'loss' AND experiment_id IN ({ids})"
    return float(rows(home, query)[0][0])


@pytest.mark.slow
def test_tpe_finds_a_better_branin_point_than_random_with_the_same_budget(
    write_script, yanex_home: Path
) -> None:
    script = write_script("branin.py", BRANIN)
    tpe = [_best("tpe", seed, script, yanex_home) for seed in range(5)]
    drawn = [_best("random", seed, script, yanex_home) for seed in range(5)]
    print(f"best Branin loss over 5 seeds, 24 points: tpe {statistics.mean(tpe):.4f} {tpe}")
    print(f"random {statistics.mean(drawn):.4f} {drawn}")
    assert statistics.mean(tpe) < 0.8 * statistics.mean(drawn)


@pytest.mark.slow
def test_a_search_runs_on_a_dask_cluster_fed_as_workers_free(
    write_script, tmp_path: Path, yanex_home: Path
) -> None:
    from tests.cluster_support import cluster_client

    script = write_script("branin.py", BRANIN)
    with cluster_client(tmp_path / "cluster", workers=2) as client:
        results = yanex.search(
            script, {"x": yanex.uniform(-5, 10), "y": yanex.uniform(0, 15)}, n=6, objective="loss.min",
            seed=0, parallel=2, executor=client,
        )  # fmt: skip
    assert [result.status for result in results] == ["completed"] * 6
    [(executor, text)] = rows(yanex_home, "SELECT executor, spec FROM batches")
    assert executor.startswith("dask://") and json.loads(text)["search"]["sampler"] == "tpe"
    assert len(set(points(yanex_home))) == 6
