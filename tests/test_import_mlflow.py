"""`yanex import` of MLflow stores written by MLflow itself (tests/data/mlflow/make_stores.py): the
SQLite database and the mlruns file store each round-trip every run, point, param, status, time
and artifact, compared with what the fixture's tables and files hold when read directly."""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import yanex
from yanex.cli.app import app
from yanex.importers.mlflow import _param, detect
from yanex.store.foreign import foreign_id

runner = CliRunner()
FIXTURES = Path(__file__).parent / "data" / "mlflow"
STATUSES = {"FINISHED": "completed", "FAILED": "failed", "KILLED": "cancelled", "RUNNING": "running"}
NUMBERED = {1: "RUNNING", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


@dataclass
class Truth:
    """One active MLflow run as its store holds it, read without the importer."""

    name: str
    experiment: str
    status: str  # MLflow's word
    start_time: int
    end_time: int | None
    params: dict[str, str]
    tags: dict[str, str]
    points: list[tuple[str, int, float, int]]  # key, step, value, timestamp (ms)
    artifacts: Path  # the run's artifact folder in the store
    recorded: str  # where MLflow says it is


def _value(value: float) -> float | str:
    """As `yanex metrics --format json` shows a float."""
    return value if math.isfinite(value) else json.dumps(value)


def database_truth(store: Path) -> dict[str, Truth]:
    with closing(sqlite3.connect(store)) as conn:
        runs = conn.execute(
            "SELECT r.run_uuid, r.name, e.name, r.status, r.start_time, r.end_time, r.experiment_id, "
            "r.artifact_uri "
            "FROM runs AS r JOIN experiments AS e USING (experiment_id) WHERE r.lifecycle_stage = 'active'"
        ).fetchall()
        truth = {}
        for run_id, name, experiment, status, start, end, experiment_id, recorded in runs:
            points = [
                # MLflow's SQL store writes NaN as 0 with is_nan, an infinity as the largest float
                (
                    key,
                    step,
                    math.nan if is_nan else value * math.inf if abs(value) == sys.float_info.max else value,
                    timestamp,
                )
                for key, step, value, is_nan, timestamp in conn.execute(
                    "SELECT key, step, value, is_nan, timestamp FROM metrics WHERE run_uuid = ?", (run_id,)
                )
            ]
            truth[run_id] = Truth(
                name,
                experiment,
                status,
                start,
                end,
                dict(conn.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,)).fetchall()),
                dict(conn.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,)).fetchall()),
                points,
                store.parent / "mlruns" / str(experiment_id) / run_id / "artifacts",
                recorded,
            )
    return truth


def file_store_truth(store: Path) -> dict[str, Truth]:
    truth = {}
    for meta_file in store.glob("*/*/meta.yaml"):
        meta = yaml.safe_load(meta_file.read_text())
        if meta["lifecycle_stage"] != "active":
            continue
        run = meta_file.parent
        points = []
        for metric in sorted((run / "metrics").glob("*")):
            for line in metric.read_text().splitlines():
                timestamp, value, step = line.split()
                points.append((metric.name, int(step), float(value), int(timestamp)))
        truth[meta["run_id"]] = Truth(
            meta["run_name"],
            yaml.safe_load((run.parent / "meta.yaml").read_text())["name"],
            NUMBERED[meta["status"]],
            meta["start_time"],
            meta["end_time"],
            {file.name: file.read_text() for file in (run / "params").glob("*")},
            {file.name: file.read_text() for file in (run / "tags").glob("*")},
            points,
            run / "artifacts",
            meta["artifact_uri"],
        )
    return truth


LAYOUTS: dict[str, tuple[str, Callable[[Path], dict[str, Truth]]]] = {
    "sqlite": ("sqlite/mlflow.db", database_truth),
    "mlruns": ("mlruns", file_store_truth),
}


def _copy(tmp_path: Path, layout: str) -> Path:
    """The fixture copied away from where it was made and from the repository: the absolute
    artifact paths MLflow recorded point nowhere, so the artifacts must be found beside it."""
    target = tmp_path / "copied"
    shutil.copytree(FIXTURES / ("sqlite" if layout == "sqlite" else "mlruns"), target / layout)
    return target / LAYOUTS[layout][0]


def _moment(milliseconds: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=milliseconds)).isoformat()


def _json(args: list[str]) -> object:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_an_mlflow_store_imports_every_run_point_param_status_time_and_artifact(
    tmp_path: Path, layout: str
) -> None:
    store = _copy(tmp_path, layout)
    truth = LAYOUTS[layout][1](store)
    assert len(truth) == 5  # the deleted run is not among them
    first = runner.invoke(app, ["import", str(store), "--from", "mlflow"])
    assert first.exit_code == 0, first.output
    points = sum(len(run.points) for run in truth.values())
    assert f"added 5 experiments, {points} points, 3 artifacts" in first.output

    listed = _json(["list", "--format", "json"])
    assert isinstance(listed, list)
    assert {row["id"] for row in listed} == {foreign_id("mlflow", run_id) for run_id in truth}
    exported = _json(["metrics", "--format", "json"])
    assert isinstance(exported, list)
    for run_id, run in truth.items():
        experiment_id = foreign_id("mlflow", run_id)
        shown = _json(["show", experiment_id, "--format", "json"])
        assert isinstance(shown, dict)
        assert shown["name"] == run.name and shown["imported_from"] == f"mlflow:{run_id}"
        assert shown["status"] == STATUSES[run.status]
        assert shown["started_at"] == _moment(run.start_time)
        assert shown["ended_at"] == (
            _moment(run.end_time) if run.end_time and run.status != "RUNNING" else None
        )
        assert shown["script_path"] == run.tags.get("mlflow.source.name", "")
        assert shown["git"]["commit"] == run.tags.get("mlflow.source.git.commit")
        assert shown["description"] == run.tags.get("mlflow.note.content")
        user_tags = {f"{k}={v}" if v else k for k, v in run.tags.items() if not k.startswith("mlflow.")}
        parent = (
            {f"parent={foreign_id('mlflow', run.tags['mlflow.parentRunId'])[:8]}"}
            if "mlflow.parentRunId" in run.tags
            else set()
        )
        assert set(shown["tags"]) == {run.experiment, *user_tags, *parent}
        assert set(shown["params"]) == set(run.params)
        for key, text in run.params.items():
            value = shown["params"][key]
            assert str(value) == text if isinstance(value, int | float) else value == text
        got = sorted(
            (p["key"], p["step"], p["value"], p["logged_at"])
            for p in exported
            if p["experiment_id"] == experiment_id
        )
        want = sorted((key, step, _value(value), _moment(ms)) for key, step, value, ms in run.points)
        assert got == want
        assert not Path(run.recorded.removeprefix("file://")).exists()
        files = sorted(path for path in run.artifacts.rglob("*") if path.is_file())
        for file in files:
            name = file.relative_to(run.artifacts).as_posix()
            out = tmp_path / "fetched" / run_id / name
            fetched = runner.invoke(app, ["artifacts", "get", experiment_id, name, "-o", str(out)])
            assert fetched.exit_code == 0, fetched.output
            assert out.read_bytes() == file.read_bytes()

    again = runner.invoke(app, ["import", str(store)])  # detected, not named
    assert again.exit_code == 0, again.output
    assert "added 0 experiments, 0 points, 0 artifacts" in again.output
    assert "skipped 5 experiments: already here, identical" in again.output


def test_params_are_typed_statuses_mapped_and_nan_and_infinity_kept(tmp_path: Path) -> None:
    runner.invoke(app, ["import", str(FIXTURES / "sqlite" / "mlflow.db")])
    shown = _json(["show", "lr-0.01", "--format", "json"])
    assert isinstance(shown, dict)
    assert shown["params"] == {
        "lr": 0.01,
        "batch_size": 32,
        "optimizer": "adam",
        "layers": "[64, 32]",
        "model.dropout": 0.25,
    }
    assert set(shown["tags"]) == {"mnist-sweep", "team=vision", "reviewed"}
    children = _json(["list", "--tag", f"parent={shown['id'][:8]}", "--format", "json"])  # nested runs
    assert isinstance(children, list) and [row["name"] for row in children] == ["eval"]
    history = _json(["get", "metrics.grad_norm", "lr-0.01", "--history", "--format", "json"])
    assert history == [
        {"step": 0, "value": 1.5},
        {"step": 1, "value": "NaN"},
        {"step": 2, "value": "Infinity"},  # MLflow's SQL store holds it as the largest float
        {"step": 3, "value": 0.75},
    ]
    statuses = _json(["list", "--format", "json"])
    assert isinstance(statuses, list)
    assert {row["name"]: row["status"] for row in statuses} == {
        "lr-0.01": "completed",
        "eval": "completed",
        "lr-0.1": "failed",
        "lr-1.0": "cancelled",
        "still-running": "running",
    }
    compared = runner.invoke(app, ["compare", "--tag", "mnist-sweep", "-m", "loss.min", "-m", "loss.count"])
    assert compared.exit_code == 0 and "500" in compared.output
    plotted = runner.invoke(app, ["plot", "loss", "--tag", "mnist-sweep"])
    assert plotted.exit_code == 0, plotted.output


def test_a_run_that_went_on_adds_only_its_new_points_and_its_end(tmp_path: Path) -> None:
    store = _copy(tmp_path, "mlruns")
    (run_id,) = [run_id for run_id, run in file_store_truth(store).items() if run.status == "RUNNING"]
    assert runner.invoke(app, ["import", str(store)]).exit_code == 0
    # MLflow goes on logging into the open run (these are the lines it appends), then ends it.
    (run,) = store.glob(f"*/{run_id}")
    (timestamp, _, _) = (run / "metrics" / "loss").read_text().splitlines()[-1].split()
    with (run / "metrics" / "loss").open("a") as loss:
        loss.writelines(f"{int(timestamp) + step} {1 / (step + 1)} {step}\n" for step in range(3, 6))
    meta = yaml.safe_load((run / "meta.yaml").read_text())
    meta.update(status=3, end_time=int(timestamp) + 10)
    (run / "meta.yaml").write_text(yaml.safe_dump(meta))

    later = runner.invoke(app, ["import", str(store)])
    assert later.exit_code == 0, later.output
    assert "added 0 experiments, 3 points" in later.output and "updated" in later.output
    history = _json(["get", "metrics.loss", foreign_id("mlflow", run_id), "--history", "--format", "json"])
    assert history == [{"step": step, "value": 1 / (step + 1)} for step in range(6)]
    status = runner.invoke(app, ["get", "status", foreign_id("mlflow", run_id)])
    assert status.stdout.strip() == "completed"


def test_only_mlflow_stores_are_taken_for_mlflow_and_other_paths_keep_their_errors(
    tmp_path: Path, yanex_home: Path
) -> None:
    assert detect(FIXTURES / "mlruns") and detect(FIXTURES / "sqlite" / "mlflow.db")
    # The SQLite store's artifact folder is no store; nor is a yanex database, which is SQLite too.
    assert not detect(FIXTURES / "sqlite" / "mlruns") and not detect(FIXTURES / "sqlite")
    assert runner.invoke(app, ["import", str(FIXTURES / "mlruns")]).exit_code == 0
    assert not detect(yanex_home / "yanex.db") and not detect(yanex_home)

    neither = tmp_path / "notes"
    neither.mkdir()
    (neither / "readme.txt").write_text("no store here\n")
    for path in (neither, neither / "readme.txt"):
        result = runner.invoke(app, ["import", str(path)])
        assert result.exit_code != 0
        assert result.output.startswith(f"Error: cannot tell what {path} is"), result.output
    named = runner.invoke(app, ["import", str(neither), "--from", "mlflow"])
    assert named.exit_code != 0 and "Traceback" not in named.output
    assert named.output.splitlines()[0] == (
        f"Error: {neither} is no MLflow store: neither an mlruns folder nor an MLflow SQLite database"
    )
    assert named.output.splitlines()[1].startswith("Hint: pass the folder or the .db file")


def test_yanex_import_of_an_mlflow_database_in_a_real_process(tmp_path: Path, yanex_home: Path) -> None:
    store = _copy(tmp_path, "sqlite")
    yanex = [sys.executable, "-m", "yanex"]
    env = {**os.environ, "YANEX_HOME": str(yanex_home)}
    done = subprocess.run(
        [*yanex, "import", str(store)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Imported from MLflow database {store}:")
    listed = subprocess.run(
        [*yanex, "list", "--tag", "mnist-sweep", "--format", "json"], env=env, capture_output=True, text=True
    )
    assert sorted(row["name"] for row in json.loads(listed.stdout)) == ["eval", "lr-0.01", "lr-0.1", "lr-1.0"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        *[("0.01", 0.01), ("32", 32), ("-3", -3), ("1e-3", 0.001), (".5", 0.5), ("1.", 1.0)],
        *[("adam", "adam"), ("[64, 32]", "[64, 32]"), ("007", "007"), ("nan", "nan"), ("inf", "inf")],
        *[("1e999", "1e999"), ("1_000", "1_000"), ("", "")],
    ],
)
def test_a_param_is_a_number_only_where_its_text_is_one(text: str, value: object) -> None:
    typed = _param(text)
    assert typed == value and type(typed) is type(value)


def test_the_python_api_imports_an_mlflow_store(tmp_path: Path) -> None:
    done = yanex.import_(_copy(tmp_path, "mlruns"), kind="mlflow")
    assert len(done.decisions) == 5 and done.points == 524
