"""metric_summary: aggregates kept at ingest, on hand-computed data; goals; the resumable ingest;
the upgrade from revision 0005."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_until, yanex_cli
from yanex import config
from yanex.db.engine import Database
from yanex.runner.environment import this_process
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
from yanex.store.experiments import MetricRecord, create_experiments, finish, ingest_metrics
from yanex.store.ids import POINTS_OF
from yanex.store.ingest import JournalIngest

DATA = Path(__file__).parent / "data"
START = datetime(2026, 1, 1, 12, 0, 0)
SUMMARY = (
    "count, last, last_json, last_step, first, first_json, first_step, numeric_count, "
    "min, max, sum, mean, goal, best, step_of_best"
)


def experiment(db: Database, name: str = "x", goals: dict[str, str] | None = None) -> str:
    [experiment_id] = create_experiments(
        db,
        [ExperimentSpec(script_path=Path("train.py"), name=name, config={"lr": 0.1}, goals=goals)],
        status=Status.RUNNING,
        owner=this_process(),
        git=GitInfo(),
        environment=EnvironmentInfo(),
    )
    return experiment_id


def log(db: Database, experiment_id: str, *calls: tuple[int, dict[str, Any]]) -> None:
    records = [MetricRecord(step, START + timedelta(seconds=step), values) for step, values in calls]
    ingest_metrics(db, experiment_id, records)


def summary(home: Path, experiment_id: str, key: str) -> dict[str, Any]:
    with sqlite3.connect(home / "yanex.db") as conn:
        row = conn.execute(
            f"SELECT {SUMMARY} FROM metric_summary WHERE experiment_id = ? AND key = ?", (experiment_id, key)
        ).fetchone()
    assert row is not None, f"no summary of {key}"
    return dict(zip(SUMMARY.split(", "), row, strict=True))


def recomputed(home: Path, experiment_id: str, key: str, goal: str) -> dict[str, Any]:
    """The summary from the stored points alone, in plain Python: what ingest must keep."""
    with sqlite3.connect(home / "yanex.db") as conn:
        points = conn.execute(
            f"SELECT step, value, value_json FROM metrics WHERE {POINTS_OF} AND key = ? ORDER BY id",
            (experiment_id, key),
        ).fetchall()
    numbers = [(step, v) for step, v, j in points if v is not None and j not in ("true", "false")]
    values = [v for _, v in numbers]
    best = (min if goal == "min" else max)(values) if values else None
    return {
        "count": len(points),
        "last": points[-1][1],
        "last_json": points[-1][2],
        "last_step": points[-1][0],
        "first": points[0][1],
        "first_json": points[0][2],
        "first_step": points[0][0],
        "numeric_count": len(values),
        "min": min(values) if values else None,
        "max": max(values) if values else None,
        "sum": math.fsum(values) if values else None,
        "mean": math.fsum(values) / len(values) if values else None,
        "goal": goal,
        "best": best,
        "step_of_best": next(step for step, v in numbers if v == best) if values else None,
    }


def close(found: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Equal, floats within rounding (a sum folded chunk by chunk adds in another order)."""
    for name, want in expected.items():
        got = found[name]
        if isinstance(want, float) and isinstance(got, float):
            if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif got != want:
            return False
    return True


def test_aggregates_on_hand_computed_points_ignore_nan_inf_booleans_and_text(
    db: Database, yanex_home: Path
) -> None:
    experiment_id = experiment(db)
    log(db, experiment_id, (0, {"loss": 4.0}), (1, {"loss": float("nan")}), (2, {"loss": 1.0}))
    log(db, experiment_id, (3, {"loss": float("inf")}), (4, {"loss": True}), (5, {"loss": "diverged"}))
    log(db, experiment_id, (6, {"loss": 1}), (7, {"loss": 3.0}))
    found = summary(yanex_home, experiment_id, "loss")
    # Numbers: 4.0, 1.0, 1 (an int), 3.0. NaN, inf, True and "diverged" are points, not numbers.
    assert found == {
        "count": 8,
        "last": 3.0,
        "last_json": None,
        "last_step": 7,
        "first": 4.0,
        "first_json": None,
        "first_step": 0,
        "numeric_count": 4,
        "min": 1.0,
        "max": 4.0,
        "sum": 9.0,
        "mean": 2.25,
        "goal": "min",  # default rule: the name contains loss
        "best": 1.0,
        "step_of_best": 2,  # reached again at step 6: the first step counts
    }


def test_first_and_last_keep_values_that_are_no_numbers(db: Database, yanex_home: Path) -> None:
    experiment_id = experiment(db)
    log(db, experiment_id, (0, {"phase": float("nan")}), (1, {"phase": "done"}))
    found = summary(yanex_home, experiment_id, "phase")
    assert (found["first"], found["first_json"], found["last"], found["last_json"]) == (
        None,
        '"NaN"',
        None,
        '"done"',
    )
    assert (found["numeric_count"], found["min"], found["mean"], found["best"], found["step_of_best"]) == (
        0,
        None,
        None,
        None,
        None,
    )


def test_default_goal_maximises_other_names_and_declared_goals_win(db: Database, yanex_home: Path) -> None:
    experiment_id = experiment(db, goals={"accuracy": "min"})
    log(
        db,
        experiment_id,
        *[(s, {"accuracy": v, "f1": v, "val_error": v}) for s, v in enumerate((0.2, 0.9, 0.5))],
    )
    assert (
        summary(yanex_home, experiment_id, "accuracy")["best"],
        summary(yanex_home, experiment_id, "accuracy")["goal"],
    ) == (0.2, "min")
    assert summary(yanex_home, experiment_id, "f1")["best"] == 0.9
    assert summary(yanex_home, experiment_id, "val_error")["best"] == 0.2
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        assert conn.execute("SELECT key, goal FROM metric_goals").fetchall() == [("accuracy", "min")]


def test_a_script_declares_a_goal_after_logging_and_best_is_recomputed(
    write_script, yanex_home: Path
) -> None:
    script = write_script(
        "train.py",
        """
        import yanex
        for step, value in enumerate([0.5, 0.1, 0.8, 0.3]):
            yanex.log_metrics({"score": value, "loss": value})
        yanex.set_goal("score", "min")
        yanex.log_metrics({"score": 0.2, "loss": 0.2})
        """,
    )
    result = yanex_cli("run", str(script), "--goal", "loss=max")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        (experiment_id,) = conn.execute("SELECT id FROM experiments").fetchone()
        goals = dict(conn.execute("SELECT key, goal FROM metric_goals"))
    assert goals == {"score": "min", "loss": "max"}
    score = summary(yanex_home, experiment_id, "score")
    assert (score["goal"], score["best"], score["step_of_best"]) == ("min", 0.1, 1)
    loss = summary(yanex_home, experiment_id, "loss")
    assert (loss["goal"], loss["best"], loss["step_of_best"]) == ("max", 0.8, 2)


def test_a_rerun_declares_the_original_goals_again(write_script, yanex_home: Path) -> None:
    script = write_script(
        "train.py", "import yanex\nyanex.log_metrics({'loss': 0.5})\nyanex.log_metrics({'loss': 0.1})\n"
    )
    assert yanex_cli("run", str(script), "--goal", "loss=max").returncode == 0
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        (original,) = conn.execute("SELECT id FROM experiments").fetchone()
    assert yanex_cli("rerun", original).returncode == 0
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        (again,) = conn.execute("SELECT id FROM experiments WHERE retry_of = ?", (original,)).fetchone()
        goals = dict(conn.execute("SELECT key, goal FROM metric_goals WHERE experiment_id = ?", (again,)))
    assert goals == {"loss": "max"}
    assert summary(yanex_home, again, "loss")["best"] == 0.5


@pytest.mark.parametrize("goal", ["loss", "loss=best", "=min", "loss=minimum"])
def test_a_bad_goal_is_refused_before_anything_runs(goal: str, write_script, yanex_home: Path) -> None:
    script = write_script("train.py", "print('ran')\n")
    result = yanex_cli("run", str(script), "--goal", goal)
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr.startswith(f"Error: invalid goal {goal!r}") and "Hint: write KEY=min" in result.stderr
    )
    assert "Traceback" not in result.stderr and "ran" not in result.stdout


def test_set_goal_checks_its_arguments() -> None:
    import yanex

    with pytest.raises(ValueError, match="'min' or 'max'"):
        yanex.set_goal("loss", "lowest")
    with pytest.raises(TypeError):
        yanex.set_goal("", "min")
    yanex.set_goal("loss", "min")  # standalone: checked, nothing kept


def test_summaries_equal_a_recomputation_after_a_killed_ingest_resumes(
    db: Database, yanex_home: Path
) -> None:
    """A process ingesting the journal is SIGKILLed mid-way; another resumes from the stored
    offset. Every point is stored once and each summary equals one computed from the points."""
    experiment_id = experiment(db)
    directory = config.experiment_dir(experiment_id)
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for step in range(30_000):
        value = math.sin(step / 50) + step / 10_000
        values: dict[str, Any] = {"loss": value, "accuracy": -value, "note": "x" if step % 7 else 1}
        if step % 11 == 0:
            values["loss"] = "NaN"  # as the journal spells a NaN
        lines.append(json.dumps({"step": step, "t": 1.7e9 + step, "values": values}))
        if step == 20_000:
            lines.append(json.dumps({"goals": {"accuracy": "min"}, "t": 1.7e9 + step}))
    (directory / config.METRICS_FILE).write_text("\n".join(lines) + "\n")
    ingest = (
        "import sys\nfrom yanex.db.engine import Database\nfrom yanex.store.ingest import JournalIngest\n"
        "JournalIngest(Database(), sys.argv[1]).drain(limit=4096)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", ingest, experiment_id], env=dict(os.environ))

    def offset() -> int:
        with sqlite3.connect(yanex_home / "yanex.db", timeout=30) as conn:
            return int(conn.execute("SELECT metrics_offset FROM experiments").fetchone()[0])

    try:
        wait_until(lambda: offset() > 0 or child.poll() is not None, "the first ingested chunk")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    total = (directory / config.METRICS_FILE).stat().st_size
    assert offset() < total, "the child finished before it was killed: use a longer journal"
    JournalIngest(db, experiment_id).drain()
    assert offset() == total
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        (points,) = conn.execute("SELECT COUNT(*) FROM metrics").fetchone()
    assert points == 30_000 * 3
    for key, goal in (("loss", "min"), ("accuracy", "min"), ("note", "max")):
        found = summary(yanex_home, experiment_id, key)
        assert close(found, recomputed(yanex_home, experiment_id, key, goal)), key


def test_frozen_0005_database_upgrades_with_summaries_of_its_points(yanex_home: Path) -> None:
    yanex_home.mkdir()
    path = yanex_home / "yanex.db"
    shutil.copyfile(DATA / "yanex-0005.db", path)
    with sqlite3.connect(path) as conn:
        old = sorted(conn.execute("SELECT * FROM latest_metrics").fetchall())
    assert old, "the frozen database needs metrics"
    db = Database()
    with db.write():  # upgrades first
        pass
    db.dispose()
    with sqlite3.connect(path) as conn:
        keys = conn.execute("SELECT experiment_id, key FROM metric_summary ORDER BY 1, 2").fetchall()
        # Revision 0013 extended each 8-digit id; the old one is its prefix.
        latest = conn.execute("SELECT substr(experiment_id, 1, 8), * FROM latest_metrics").fetchall()
        assert sorted((short, *rest[1:]) for short, *rest in latest) == old
        tables = dict(conn.execute("SELECT name, type FROM sqlite_master WHERE name = 'latest_metrics'"))
    assert tables == {"latest_metrics": "view"}
    assert sorted((full[:8], key) for full, key in keys) == sorted({(row[0], row[1]) for row in old})
    from yanex.store.metric_names import default_goal

    for experiment_id, key in keys:
        found = summary(yanex_home, experiment_id, key)
        assert close(found, recomputed(yanex_home, experiment_id, key, default_goal(key))), key


def test_deleting_an_experiment_deletes_its_summaries_and_goals(db: Database, yanex_home: Path) -> None:
    from yanex.store.manage import delete_with_files

    experiment_id = experiment(db, goals={"loss": "max"})
    log(db, experiment_id, (0, {"loss": 1.0}))
    finish(db, experiment_id, Status.COMPLETED, exit_code=0)
    delete_with_files(db, [experiment_id])
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM metric_summary").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM metric_goals").fetchone() == (0,)


def test_lines_with_varying_keys_sum_up_like_regular_ones(db: Database, yanex_home: Path) -> None:
    """Chunks whose lines log different keys (the sorted path) and chunks whose lines repeat the
    same keys (the strided path) both equal a recomputation from the points."""
    experiment_id = experiment(db)
    regular = [(s, {"a": s * 0.5 - 3, "b": -s * 1.5, "c": s}) for s in range(40)]
    varying = [(s, {k: (s % 7) * 0.25 for k in ("a", "b", "c")[: 1 + s % 3]}) for s in range(40, 90)]
    for chunk in (regular[:25], varying[:20], regular[25:], varying[20:]):
        log(db, experiment_id, *chunk)
    for key in ("a", "b", "c"):
        expected = recomputed(yanex_home, experiment_id, key, "max")
        assert close(summary(yanex_home, experiment_id, key), expected), key


BIGGEST = 1.7976931348623157e308


def exactly(values: list[float]) -> tuple[float, float]:
    """The sum and mean of ``values`` as exact fractions, rounded once (the sum to ±inf beyond
    float range)."""
    total = sum(map(Fraction, values))
    try:
        rounded = float(total)
    except OverflowError:
        rounded = math.inf if total > 0 else -math.inf
    return rounded, float(total / len(values))


@pytest.mark.parametrize(
    "values",
    [
        [5.0, 1e308, -1e308],  # a plain running sum: 0.0
        [1e308, 1e308, -1e308],  # a plain running sum: inf
        [BIGGEST, BIGGEST, -BIGGEST, 1.0],  # beyond float range, then back
        [BIGGEST, BIGGEST, BIGGEST],  # the sum stays beyond float range; the mean does not
        [0.1, 0.1, 0.1],  # a plain mean: 0.10000000000000002
        [1e16, 1.0, -1e16, 1.0],
    ],
    ids=str,
)
@pytest.mark.parametrize("chunked", [False, True], ids=["one chunk", "a chunk per point"])
def test_sum_and_mean_are_exact_whatever_the_values_and_chunks(
    db: Database, yanex_home: Path, values: list[float], chunked: bool
) -> None:
    experiment_id = experiment(db)
    calls = [(step, {"loss": value}) for step, value in enumerate(values)]
    for chunk in [[call] for call in calls] if chunked else [calls]:
        log(db, experiment_id, *chunk)
    found = summary(yanex_home, experiment_id, "loss")
    assert (found["sum"], found["mean"]) == exactly(values)
    if math.isfinite(found["mean"]):
        assert yanex_cli("get", "metrics.loss.mean", experiment_id).stdout == f"{json.dumps(found['mean'])}\n"


def test_a_sum_kept_before_revision_0011_is_summed_again_from_the_points(
    db: Database, yanex_home: Path
) -> None:
    """Rows of older revisions have no sum_error: their plain sum may have lost what cancels
    later, so the next points make ingest sum the metric's stored points again."""
    experiment_id = experiment(db)
    log(db, experiment_id, (0, {"loss": 5.0}), (1, {"loss": 1e308}))
    with sqlite3.connect(yanex_home / "yanex.db") as conn:  # as a plain running sum left it
        conn.execute("UPDATE metric_summary SET sum = 1e308, sum_error = NULL, mean = 5e307")
    log(db, experiment_id, (2, {"loss": -1e308}))
    found = summary(yanex_home, experiment_id, "loss")
    assert (found["sum"], found["mean"]) == exactly([5.0, 1e308, -1e308]) == (5.0, 5 / 3)


def test_exact_sums_and_means_equal_fractions_rounded_once() -> None:
    """``yanex.store.moments`` against exact rational arithmetic, on values of every magnitude."""
    import random
    import statistics

    from yanex.store.moments import as_float, exact_sum, mean, stdev

    rng = random.Random(19)
    for _ in range(500):
        values = [rng.choice((1, -1)) * rng.random() * 10 ** rng.randint(-320, 308) for _ in range(12)]
        values += [BIGGEST] * rng.randint(0, 2) + [5e-324] * rng.randint(0, 2)
        expected_sum, expected_mean = exactly(values)
        assert (as_float(exact_sum(values)), mean(values)) == (expected_sum, expected_mean)
        assert stdev(values) == pytest.approx(float(statistics.stdev(map(Fraction, values))), rel=1e-12)
    assert stdev([0.1] * 5) == stdev([BIGGEST] * 2) == 0.0
    assert stdev([BIGGEST, -BIGGEST]) == math.inf  # sqrt(2) times the largest float


@pytest.mark.parametrize("at_once", [1_000_000, 3], ids=["at once", "in chunks"])
def test_summing_up_stored_points_again_gives_the_rows_ingest_kept(
    db: Database, yanex_home: Path, monkeypatch: pytest.MonkeyPatch, at_once: int
) -> None:
    """``summarise_stored`` (what `yanex import` sums up imported points with) writes, column for
    column, what folding them chunk by chunk at ingest wrote: NaN, infinities, booleans, text,
    lists, ints beyond a float, ties for the best (the first step wins), -0.0, a declared goal,
    sums beyond float range, and a metric of one point."""
    from yanex.store import summary as summaries

    monkeypatch.setattr(summaries, "STORED_AT_ONCE", at_once)
    experiment_id = experiment(db, goals={"loss": "min"})
    calls: list[tuple[int, dict[str, Any]]] = [
        (0, {"loss": 2.0, "acc": 0.5, "text": "start", "big": BIGGEST, "one": 7}),
        (1, {"loss": float("nan"), "acc": True, "text": [1, "NaN"], "big": BIGGEST}),
        (2, {"loss": 1.0, "acc": 0.75, "text": 3, "big": -BIGGEST}),
        (3, {"loss": float("-inf"), "acc": 0.75, "big": BIGGEST}),
        (4, {"loss": 1.0, "acc": -0.0, "text": 2**80}),
        (2, {"loss": 0.0, "acc": 0.0, "text": False}),
        (5, {"loss": -0.0, "acc": 0.75, "text": {"a": 1}}),
    ]
    for call in calls:  # one ingest per call: the stored sums are folded chunk by chunk
        log(db, experiment_id, call)
    query = f"SELECT key, {SUMMARY}, sum_error, last_logged_at FROM metric_summary ORDER BY key"
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        folded = conn.execute(query).fetchall()
    with db.write() as conn:
        summaries.summarise_stored(conn, experiment_id)
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        again = conn.execute(query).fetchall()
    assert [row[0] for row in folded] == ["acc", "big", "loss", "one", "text"]
    assert [repr(row) for row in again] == [repr(row) for row in folded]  # -0.0 is not 0.0 here
