"""Runs of another tracker written as a yanex home (yanex.store.foreign), then imported by the one
import path: every field kept, ids derived from the tracker's, a re-import adds nothing and a run
that logged more adds only its new points."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from yanex.cli.app import app
from yanex.status import Status
from yanex.store.foreign import ForeignFile, ForeignPoint, ForeignRun, foreign_id, write_home

runner = CliRunner()
START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _run(tmp_path: Path, steps: int, status: Status = Status.FAILED) -> ForeignRun:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\x00\x01" * 1000)
    output = tmp_path / "stdout.txt"
    output.write_text("epoch 1\nepoch 2\n")
    return ForeignRun(
        kind="mlflow",
        source_id="0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        created_at=START,
        started_at=START,
        ended_at=START + timedelta(seconds=90) if status.is_final else None,
        status=status,
        error_message="diverged" if status is Status.FAILED else None,
        name="lr-sweep-3",
        description="imported from mlflow",
        tags=("mlflow", "sweep"),
        config={"lr": 0.01, "model": {"layers": [64, 32]}},
        script_path="train.py",
        points=[
            ForeignPoint("loss", step, 1 / (step + 1), START + timedelta(seconds=step))
            for step in range(steps)
        ],
        files=(ForeignFile("model/weights.bin", weights), ForeignFile("stdout.log", output, artifact=False)),
    )


def test_a_foreign_run_imports_with_every_field_and_again_only_what_is_new(
    tmp_path: Path, yanex_home: Path
) -> None:
    home = tmp_path / "converted"
    write_home([_run(tmp_path, 5, Status.RUNNING)], home)
    first = runner.invoke(app, ["import", str(home)])
    assert first.exit_code == 0, first.output
    experiment_id = foreign_id("mlflow", "0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    again = runner.invoke(app, ["import", str(home)])
    assert again.exit_code == 0, again.output
    # The run went on in its tracker: 3 more points, then it failed.
    later = tmp_path / "converted-later"
    write_home([_run(tmp_path, 8)], later)
    assert runner.invoke(app, ["import", str(later)]).exit_code == 0
    assert runner.invoke(app, ["import", str(later)]).exit_code == 0

    shown = runner.invoke(app, ["show", experiment_id, "--format", "json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["name"] == "lr-sweep-3" and data["status"] == "failed" and data["error_message"] == "diverged"
    assert data["imported_from"] == "mlflow:0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert data["params"] == {"lr": 0.01, "model": {"layers": [64, 32]}}
    assert data["tags"] == ["mlflow", "sweep"] and data["duration"] == 90.0
    assert data["git"]["commit"] is None  # nothing invented
    history = runner.invoke(app, ["get", "metrics.loss", experiment_id, "--history", "--format", "json"])
    assert [p["value"] for p in json.loads(history.stdout)] == [1 / (s + 1) for s in range(8)]
    fetched = tmp_path / "out.bin"
    got = runner.invoke(app, ["artifacts", "get", experiment_id, "model/weights.bin", "-o", str(fetched)])
    assert got.exit_code == 0, got.output
    assert fetched.read_bytes() == b"\x00\x01" * 1000
    assert (yanex_home / "experiments" / experiment_id / "stdout.log").read_text() == "epoch 1\nepoch 2\n"

    with closing(sqlite3.connect(yanex_home / "yanex.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM experiments").fetchone() == (1,)
        assert conn.execute("SELECT COUNT(*) FROM metrics").fetchone() == (8,)


def test_an_id_keeps_the_prefix_a_run_had_and_is_the_same_everywhere() -> None:
    assert foreign_id("yanex-files", "a1b2c3d4", "a1b2c3d4").startswith("a1b2c3d4")
    assert foreign_id("mlflow", "x") == foreign_id("mlflow", "x") != foreign_id("tensorboard", "x")
    assert len(foreign_id("mlflow", "x")) == 32 and int(foreign_id("mlflow", "x"), 16) >= 0
    assert os.sep not in foreign_id("tensorboard", "runs/a")
