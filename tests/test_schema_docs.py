"""docs/schema.md stays true: every example query runs (tests/test_tables.py holds its tables and
columns equal to the declaration)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import JsonValue

from tests.conftest import REPO_ROOT
from yanex.artifacts.lines import ArtifactLine
from yanex.db.engine import Database
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
from yanex.store.artifacts import record_artifacts
from yanex.store.experiments import (
    MetricRecord,
    Owner,
    create_batch,
    create_experiments,
    end_batch,
    finish,
    ingest_metrics,
    mark_running,
)

DOC = REPO_ROOT / "docs" / "schema.md"
TEXT = DOC.read_text()
SQL_BLOCKS = re.findall(r"```sql\n(.*?)```", TEXT, flags=re.DOTALL)
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.DOTALL)


def populate(db: Database) -> None:
    """A small but realistic history: a grid-search batch with a failure, a baseline, a live run."""
    owner = Owner("docs-host", os.getpid())
    env = EnvironmentInfo(python_version="3.11", platform="Linux", hostname="docs-host", yanex_version="0")
    git = GitInfo(commit="c" * 40, branch="main", dirty=True, patch="diff --git a/a.py b/a.py\n+x = 1\n")
    start = datetime(2026, 1, 1)

    def run(spec: ExperimentSpec, accuracy: float | None, batch_id: str | None = None) -> str:
        [experiment_id] = create_experiments(
            db, [spec], status=Status.QUEUED, owner=owner, git=git, environment=env, batch_id=batch_id
        )
        mark_running(db, experiment_id, 1000, owner)
        if accuracy is not None:
            curve = [
                MetricRecord(
                    s, start + timedelta(seconds=s), {"loss": 1 / (s + 1), "accuracy": accuracy * s / 4}
                )
                for s in range(5)
            ]
            ingest_metrics(db, experiment_id, curve)
        return experiment_id

    def model(activation: str) -> dict[str, JsonValue]:
        return {"layers": [64, 32], "activation": activation}

    batch_id = create_batch(db, total=6, parallel=2, owner=owner)
    for i, (lr, bs) in enumerate((lr, bs) for lr in (0.001, 0.01, 0.1) for bs in (16, 32)):
        config = {"learning_rate": lr, "batch_size": bs, "model": model("relu")}
        spec = ExperimentSpec(
            script_path=Path("train.py"), config=config, name=f"grid-{i}", tags=["grid-search"]
        )
        experiment_id = run(spec, 0.5 + i / 20, batch_id)
        if lr == 0.1 and bs == 32:
            finish(db, experiment_id, Status.FAILED, exit_code=1, error_message="ValueError: loss diverged")
        else:
            finish(db, experiment_id, Status.COMPLETED, exit_code=0)
    end_batch(db, batch_id)
    train = run(ExperimentSpec(script_path=Path("train.py"), name="train"), 0.8)
    finish(db, train, Status.COMPLETED, exit_code=0)
    [evaluate] = create_experiments(
        db,
        [ExperimentSpec(script_path=Path("evaluate.py"), name="evaluate", depends_on=[train])],
        status=Status.QUEUED,
        owner=owner,
        git=git,
        environment=env,
        depends_on=[[train]],
    )
    finish(db, evaluate, Status.COMPLETED, exit_code=0)
    baseline = ExperimentSpec(
        script_path=Path("train.py"),
        config={"learning_rate": 0.05, "batch_size": 64, "model": model("gelu")},
        name="baseline",
        tags=["baseline"],
    )
    baseline_id = run(baseline, 0.7)
    finish(db, baseline_id, Status.COMPLETED, exit_code=0)
    saved = [
        ArtifactLine("model.pt", "a" * 64, 4_000_000, "application/x-pytorch", start),
        ArtifactLine("plots/loss.png", "b" * 64, 20_000, "image/png", start),
    ]
    with db.write() as conn:  # as ingesting the script's journal records them
        record_artifacts(conn, baseline_id, saved)
    live = ExperimentSpec(
        script_path=Path("train.py"), config={"learning_rate": 0.02}, name="live", tags=["live"]
    )
    run(live, 0.6)  # still running


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("docs-home") / ".yanex" / "yanex.db"
    path.parent.mkdir()
    db = Database(f"sqlite:///{path}")
    populate(db)
    db.dispose()
    yield path


def test_the_doc_has_examples() -> None:
    assert len(SQL_BLOCKS) >= 4 and PYTHON_BLOCKS


@pytest.mark.parametrize("query", SQL_BLOCKS, ids=[f"sql-{i}" for i in range(len(SQL_BLOCKS))])
def test_every_sql_example_runs_and_returns_rows(query: str, database: Path) -> None:
    conn = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(query).fetchall()
    finally:
        conn.close()
    assert rows, f"the example returned nothing:\n{query}"


def test_python_example_runs(database: Path) -> None:
    home = database.parent.parent
    for block in PYTHON_BLOCKS:
        result = subprocess.run(
            [sys.executable, "-c", block],
            env={**os.environ, "HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip()
