"""Early stopping of a sweep's runs (``yanex run --prune``): the real ``yanex`` command, real
scripts logging real points, the orchestrator's decisions, the supervisor's SIGTERM, the
``pruned`` status, and ``yanex.should_stop``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import wait_until, yanex_cli
from yanex.cli.app import app

runner = CliRunner()

# The loss of configuration q is q + 1/(step+1): q = 0 is the best at every step, and every other
# q is plainly worse from the first steps on. 60 steps, one every 50 ms: 3 s a run.
TOY = """
import time, yanex
q = yanex.get_param("q")
for step in range(yanex.get_param("steps", 60)):
    yanex.log_metrics({"loss": q + 1 / (step + 1)}, step=step)
    time.sleep(0.05)
"""

# Stops on its own once pruned: saves a checkpoint, then exits 0.
COOPERATIVE = """
import time, yanex
from pathlib import Path
q = yanex.get_param("q")
for step in range(600):
    yanex.log_metrics({"loss": q + 1 / (step + 1)}, step=step)
    if yanex.should_stop():
        Path(yanex.get_param("out"), f"checkpoint-{q}").write_text(str(step))
        raise SystemExit(0)
    time.sleep(0.02)
"""


def rows(home: Path, query: str, *params: object) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(home / "yanex.db", timeout=60)) as conn:
        return conn.execute(query, params).fetchall()


def by_q(home: Path) -> dict[int, tuple[str, str | None, int]]:
    """Each configuration's status, error message and number of loss points logged (system/...
    metrics aside)."""
    found = rows(
        home,
        "SELECT json_extract(config, '$.q'), status, error_message, "
        "(SELECT count(*) FROM metrics WHERE experiment_local_id = e.local_id AND key = 'loss') "
        "FROM experiments e",
    )
    return {q: (status, message, points) for q, status, message, points in found}


@pytest.mark.slow
def test_median_pruning_stops_the_bad_runs_and_never_the_best(write_script, yanex_home: Path) -> None:
    script = write_script("toy.py", TOY)
    result = yanex_cli(
        "run", str(script), "-p", "q=range(8)", "-p", "steps=60", "-j", "4",
        "--prune", "median", "--prune-metric", "loss", "--prune-min-runs", "3", "--prune-warmup", "2",
    )  # fmt: skip
    runs = by_q(yanex_home)
    assert runs[0][0] == "completed" and runs[0][2] == 60, (runs, result.stderr)
    for q in range(4, 8):  # they start once the first runs have set the bar
        status, message, points = runs[q]
        assert status == "pruned", (q, runs[q], result.stderr)
        assert message is not None and re.fullmatch(
            r"pruned at step (\d+) by median: loss [\d.]+ > median [\d.]+ of \d+ runs at step \1", message
        ), message
        assert 0 < points < 60, (q, points)  # stopped early, and its points are kept
    assert {status for status, _, _ in runs.values()} <= {"completed", "pruned"}
    # One line per decision on the batch's output, naming the run and the reason.
    decisions = [line for line in result.stderr.splitlines() if "✂" in line and "by median" in line]
    pruned = [q for q, (status, _, _) in runs.items() if status == "pruned"]
    assert len(decisions) >= len(pruned)
    assert result.returncode == 0, result.stderr  # pruned is no failure

    # Shown as such: list (and --status pruned), show with the reason.
    listed = runner.invoke(app, ["list", "--status", "pruned", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert {e["name"] for e in json.loads(listed.stdout)} == {f"toy-q{q}" for q in pruned}
    [(pruned_id,)] = rows(yanex_home, "SELECT id FROM experiments WHERE json_extract(config, '$.q') = 7")
    shown = runner.invoke(app, ["show", pruned_id[:8]])
    assert "pruned" in shown.stdout and "by median" in shown.stdout, shown.stdout
    # Left out of group statistics by default, counted when asked for.
    compared = runner.invoke(app, ["compare", "-m", "loss", "--group-by", "steps", "--format", "json"])
    assert compared.exit_code == 0, compared.output
    [group] = json.loads(compared.stdout)
    assert group["n"] == len(runs) - len(pruned), group
    asked = ["compare", "-m", "loss", "--group-by", "steps", "-s", "completed", "-s", "pruned", "-f", "json"]
    [group] = json.loads(runner.invoke(app, asked).stdout)
    assert group["n"] == len(runs), group


@pytest.mark.slow
def test_asha_keeps_the_top_third_at_each_rung(write_script, yanex_home: Path) -> None:
    script = write_script("toy.py", TOY)
    result = yanex_cli(
        "run", str(script), "-p", "q=range(8)", "-j", "4",
        "--prune", "asha", "--prune-metric", "loss.min", "--prune-min-runs", "2", "--prune-warmup", "2",
    )  # fmt: skip
    runs = by_q(yanex_home)
    assert runs[0][0] == "completed", (runs, result.stderr)
    assert [q for q in range(4, 8) if runs[q][0] == "pruned"] == [4, 5, 6, 7], (runs, result.stderr)
    assert all("by asha" in (runs[q][1] or "") for q in range(4, 8))


@pytest.mark.slow
def test_should_stop_lets_the_script_save_and_exit_and_it_is_recorded_pruned(
    write_script, tmp_path: Path, yanex_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YANEX_KILL_GRACE", "5")
    script = write_script("coop.py", COOPERATIVE)
    out = tmp_path / "out"
    out.mkdir()
    result = yanex_cli(
        "run", str(script), "-p", "q=range(6)", "-p", f"out={out}", "-j", "3",
        "--prune", "median", "--prune-metric", "loss", "--prune-min-runs", "2",
    )  # fmt: skip
    runs = by_q(yanex_home)
    stopped = [q for q, (status, _, _) in runs.items() if status == "pruned"]
    assert {3, 4, 5} <= set(stopped), (runs, result.stderr)
    assert 0 not in stopped
    for q in stopped:  # each saved its checkpoint at the step it saw the flag, then exited 0
        assert (out / f"checkpoint-{q}").exists(), q
        [(exit_code,)] = rows(
            yanex_home, "SELECT exit_code FROM experiments WHERE json_extract(config, '$.q') = ?", q
        )
        assert exit_code == 0
    assert runs[0] == ("completed", None, 600)


def test_should_stop_is_false_standalone_and_cheap(tmp_path: Path) -> None:
    code = (
        "import time, yanex\n"
        "start = time.perf_counter()\n"
        "stops = sum(yanex.should_stop() for _ in range(100_000))\n"
        "print(stops, (time.perf_counter() - start) / 100_000)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("YANEX_EXPERIMENT")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    stops, per_call = done.stdout.split()
    assert stops == "0" and float(per_call) < 20e-6


def test_should_stop_inside_a_run_turns_true_once_flagged(tmp_path: Path) -> None:
    from yanex.supervisor.pruned import request_stop

    directory = tmp_path / "experiment"
    directory.mkdir()
    code = (
        "import sys, time, yanex\n"
        "print(yanex.should_stop(), flush=True)\n"
        "sys.stdin.readline()\n"
        "time.sleep(0.15)\n"
        "print(yanex.should_stop(), yanex.should_stop(), flush=True)\n"
    )
    env = dict(os.environ, YANEX_EXPERIMENT_ID="0" * 32, YANEX_EXPERIMENT_DIR=str(directory))
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().strip() == "False"
    assert (directory / "should_stop.polled").exists()  # the supervisor now waits for it to stop
    request_stop(directory, "pruned at step 3 by median")
    child.stdin.write("\n")
    child.stdin.flush()
    assert child.stdout.readline().split() == ["True", "True"]
    child.wait(10)


def _any(home: Path, query: str) -> bool:
    """Whether ``query`` finds a row, once the store exists and has its tables."""
    try:
        return bool(rows(home, query))
    except sqlite3.OperationalError:
        return False


@pytest.mark.slow
def test_ctrl_c_during_a_pruning_sweep_ends_promptly(write_script, yanex_home: Path) -> None:
    script = write_script("toy.py", TOY)
    orchestrator = subprocess.Popen(
        [
            sys.executable, "-m", "yanex", "run", str(script), "-p", "q=range(12)", "-p", "steps=2000",
            "-j", "3", "--prune", "median", "--prune-metric", "loss", "--prune-min-runs", "2",
        ],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        pruned = "SELECT 1 FROM experiments WHERE status = 'pruned'"
        wait_until(lambda: _any(yanex_home, pruned), "a pruned run")
        began = time.monotonic()
        orchestrator.send_signal(signal.SIGINT)
        _, err = orchestrator.communicate(timeout=30)
        took = time.monotonic() - began
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(orchestrator.pid, signal.SIGKILL)
    assert orchestrator.returncode == 130, err
    assert took < 8, took
    statuses = {status for (status,) in rows(yanex_home, "SELECT status FROM experiments")}
    assert statuses <= {"pruned", "cancelled"}, statuses


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prune", "median"], "--prune needs the metric"),
        (["--prune", "hyperband", "--prune-metric", "loss"], "unknown pruning rule"),
        (["--prune-metric", "loss"], "--prune-metric is given without --prune"),
    ],
)
def test_bad_pruning_options_are_one_line_errors(write_script, args: list[str], message: str) -> None:
    script = write_script("toy.py", TOY)
    result = runner.invoke(app, ["run", str(script), "-p", "q=range(3)", *args])
    assert result.exit_code != 0 and message in result.output and "Hint:" in result.output
    assert "Traceback" not in result.output


def test_pruning_a_single_run_is_refused(write_script) -> None:
    script = write_script("toy.py", TOY)
    args = ["run", str(script), "-p", "q=1", "--prune", "median", "--prune-metric", "loss"]
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and "no sweep" in result.output and "Hint:" in result.output


@pytest.mark.slow
def test_prune_compares_on_the_objectives_metric_without_prune_metric(write_script, yanex_home: Path) -> None:
    """``--objective loss.min`` names the metric ``--prune`` compares: no ``--prune-metric`` needed."""
    script = write_script("toy.py", TOY)
    result = yanex_cli(
        "run", str(script), "-p", "q=range(6)", "-p", "steps=40", "-j", "3",
        "--objective", "loss.min", "--prune", "median", "--prune-min-runs", "2", "--prune-warmup", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    runs = by_q(yanex_home)
    assert runs[0][0] == "completed", (runs, result.stderr)
    pruned = [q for q, (status, _, _) in runs.items() if status == "pruned"]
    assert pruned and 0 not in pruned, (runs, result.stderr)
    assert all("by median: loss " in (runs[q][1] or "") for q in pruned), runs


@pytest.mark.parametrize(
    ("given", "objective"),
    [
        (["--prune-metric", "acc"], ["--objective", "loss.min"]),  # another metric
        (["--prune-metric", "loss.max"], ["--objective", "loss.min"]),  # the other direction
        (["--prune-metric", "loss"], ["--objective", "loss.last", "--direction", "max"]),
    ],
)
def test_a_prune_metric_other_than_the_objectives_is_a_one_line_error(
    write_script, given: list[str], objective: list[str]
) -> None:
    script = write_script("toy.py", TOY)
    args = ["run", str(script), "-p", "q=range(3)", "--prune", "median", *given, *objective]
    result = runner.invoke(app, args)
    assert result.exit_code != 0, result.output
    assert "is not the objective's metric" in result.output and "Hint:" in result.output, result.output
    assert "Traceback" not in result.output


def test_a_prune_metric_that_is_the_objectives_is_accepted(write_script) -> None:
    script = write_script("toy.py", TOY)
    args = ["run", str(script), "-p", "q=range(3)", "--prune", "median", "--prune-metric", "loss"]
    result = runner.invoke(app, [*args, "--objective", "loss.min", "--dry-run"])
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_a_resumed_pruning_sweep_prunes_against_the_runs_before(write_script, yanex_home: Path) -> None:
    """The plan stores the pruning: after a real Ctrl-C, ``yanex sweep resume`` prunes too, judging
    its first point (run alone) against the runs of the first batch."""
    script = write_script("toy.py", TOY)
    orchestrator = subprocess.Popen(
        [
            sys.executable, "-m", "yanex", "run", str(script), "-p", "q=range(6)", "-p", "steps=40",
            "-j", "2", "--prune", "median", "--prune-metric", "loss", "--prune-min-runs", "1",
            "--prune-warmup", "2",
        ],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        best_done = "SELECT 1 FROM experiments WHERE status = 'completed' AND json_extract(config, '$.q') = 0"
        wait_until(lambda: _any(yanex_home, best_done), "the best run completed")
        orchestrator.send_signal(signal.SIGINT)
        _, err = orchestrator.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(orchestrator.pid, signal.SIGKILL)
    assert orchestrator.returncode == 130, err
    [(first, spec)] = rows(yanex_home, "SELECT id, spec FROM batches")
    assert json.loads(spec)["pruning"] == {
        "rule": "median", "metric": "loss", "goal": "min", "warmup": 2, "min_runs": 1
    }  # fmt: skip

    resumed = yanex_cli("sweep", "resume", first[:8], "-j", "1")
    assert resumed.returncode == 0, resumed.stderr
    later = rows(
        yanex_home,
        "SELECT json_extract(config, '$.q'), status, error_message FROM experiments "
        "WHERE batch_id != ? ORDER BY created_at, rowid",
        first,
    )
    assert later, resumed.stderr
    assert all(q != 0 for q, _, _ in later)  # the completed point is not run again
    _, status, message = later[0]  # alone, so judged against the first batch's runs only
    assert status == "pruned", (later, resumed.stderr)
    assert message is not None and "by median: loss" in message, message
    assert {status for _, status, _ in later} == {"pruned"}, later
    assert "✂" in resumed.stderr
    # A pruned point has its answer: neither that resume nor the next runs it again.
    pruned_first = rows(
        yanex_home,
        "SELECT json_extract(config, '$.q') FROM experiments WHERE batch_id = ? AND status = 'pruned'",
        first,
    )
    assert not {q for (q,) in pruned_first} & {q for q, _, _ in later}, (pruned_first, later)
    experiments = rows(yanex_home, "SELECT id FROM experiments")
    again = yanex_cli("sweep", "resume", first[:8])
    assert again.returncode == 0, again.stderr
    [line] = again.stderr.splitlines()
    said = r"batch \w{8}: all 6 points of its sweep are done \(\d completed, \d pruned\); nothing to run"
    assert re.fullmatch(said, line), line
    assert rows(yanex_home, "SELECT id FROM experiments") == experiments


@pytest.mark.slow
def test_run_multiple_prunes_a_grid_and_stores_it_in_the_plan(write_script, yanex_home: Path) -> None:
    """``run_multiple(specs, parallel=N, prune=yanex.Pruning(...))``: a real batch, pruned as
    ``--prune`` does; a ``yanex.grid`` list stores the pruning in its plan, for a resume."""
    import yanex

    script = write_script("toy.py", TOY)
    specs = yanex.grid(script, {"q": list(range(6))}, config={"steps": 40})
    prune = yanex.Pruning("median", "loss.min", warmup=2, min_runs=2)
    results = yanex.run_multiple(specs, parallel=3, prune=prune)
    statuses = {spec.config["q"]: result.status for spec, result in zip(specs, results, strict=True)}
    assert statuses[0] == "completed", results
    pruned = [q for q, status in statuses.items() if status == "pruned"]
    assert pruned and set(statuses.values()) <= {"completed", "pruned"}, statuses
    assert all("by median: loss" in (r.error_message or "") for r in results if r.status == "pruned")
    [(spec,)] = rows(yanex_home, "SELECT spec FROM batches")
    assert json.loads(spec)["pruning"] == {
        "rule": "median", "metric": "loss", "goal": "min", "warmup": 2, "min_runs": 2
    }  # fmt: skip


def test_pruning_settings_are_checked_when_made(write_script, yanex_home: Path) -> None:
    import yanex
    from yanex.errors import ConfigError

    assert yanex.Pruning("asha", "acc").goal == "max"  # the name's direction
    assert (yanex.Pruning("median", "acc.min").metric, yanex.Pruning("median", "acc.min").goal) == (
        "acc",
        "min",
    )
    with pytest.raises(ConfigError, match="unknown pruning rule 'hyperband'"):
        yanex.Pruning("hyperband", "loss")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="best at its min, not its max"):
        yanex.Pruning("median", "loss.min", goal="max")
    script = write_script("toy.py", TOY)
    with pytest.raises(TypeError, match=r"not a yanex\.Pruning"):
        yanex.run_multiple([yanex.ExperimentSpec(script_path=script)], prune="median")  # type: ignore[arg-type]
    assert not (yanex_home / "yanex.db").exists()  # refused before anything was written


@pytest.mark.slow
def test_search_takes_a_pruning_too(write_script, yanex_home: Path) -> None:
    import yanex

    script = write_script("toy.py", TOY)
    prune = yanex.Pruning("median", "loss", warmup=2, min_runs=2)
    results = yanex.search(
        script, {"q": yanex.uniform(0, 5)}, n=6, objective="loss.min", sampler="random", seed=1,
        parallel=3, config={"steps": 40}, prune=prune,
    )  # fmt: skip
    assert {r.status for r in results} == {"completed", "pruned"}, results
    [(spec,)] = rows(yanex_home, "SELECT spec FROM batches")
    assert json.loads(spec)["pruning"]["rule"] == "median"
