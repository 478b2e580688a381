"""A small, known population for the query tests, written through the store in-process.

The six grid experiments mirror the batch-execution spec (learning_rate x batch_size, tag
grid-search); accuracy rises with the learning rate, and grid-lr0_01-bs16 failed.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from yanex.db.engine import Database
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
from yanex.store.experiments import (
    MetricRecord,
    Owner,
    create_experiments,
    finish,
    ingest_metrics,
    mark_running,
)

PATCH = "diff --git a/train.py b/train.py\n+print('changed')\n"
GRID = [(lr, bs) for lr in (0.001, 0.01, 0.1) for bs in (16, 32)]


def grid_name(lr: float, bs: int) -> str:
    return f"grid-lr{str(lr).replace('.', '_')}-bs{bs}"


def populate(db: Database, scripts: Path) -> dict[str, str]:
    """Write the population; returns experiment ids by name."""
    owner = Owner(socket.gethostname(), os.getpid())
    git = GitInfo(commit="a" * 40, branch="main", dirty=True, patch=PATCH)
    env = EnvironmentInfo(python_version="3.11.7", platform="Linux", hostname="box", yanex_version="0.1.0")
    specs = [
        ExperimentSpec(
            script_path=scripts / "train.py",
            config={"learning_rate": lr, "batch_size": bs, "optimizer": "adam" if bs == 16 else "sgd"},
            name=grid_name(lr, bs),
            tags=["grid-search"],
        )
        for lr, bs in GRID
    ]
    ids = create_experiments(db, specs, status=Status.QUEUED, owner=owner, git=git, environment=env)
    names = {spec.name: i for spec, i in zip(specs, ids, strict=True) if spec.name}
    start = datetime(2026, 1, 1, 12, 0, 0)
    for n, ((lr, _bs), experiment_id) in enumerate(zip(GRID, ids, strict=True)):
        mark_running(db, experiment_id, 4242, owner)
        accuracy = round(0.5 + 4 * lr + n * 0.01, 4)
        records = [
            MetricRecord(
                step,
                start + timedelta(seconds=step),
                {"accuracy": accuracy - (2 - step) * 0.1, "loss": 1 - accuracy},
            )
            for step in range(3)
        ]
        ingest_metrics(db, experiment_id, records)
        failed = grid_name(lr, _bs) == "grid-lr0_01-bs16"
        finish(
            db,
            experiment_id,
            Status.FAILED if failed else Status.COMPLETED,
            exit_code=1 if failed else 0,
            error_message="ValueError: diverged" if failed else None,
        )
    (other,) = create_experiments(
        db,
        [
            ExperimentSpec(
                script_path=scripts / "eval.py",
                config={"model": {"depth": 12, "name": "resnet"}, "augment": True, "seed": 7},
                script_args=["--fast"],
                name="baseline",
                description="the reference run",
                tags=["baseline", "eval"],
            )
        ],
        status=Status.QUEUED,
        owner=owner,
        git=GitInfo(commit="b" * 40, branch="dev", dirty=False),
        environment=env,
    )
    mark_running(db, other, 4243, owner)
    ingest_metrics(db, other, [MetricRecord(0, start, {"accuracy": 0.7, "phase": "done", "converged": True})])
    finish(db, other, Status.COMPLETED, exit_code=0)
    (running,) = create_experiments(
        db,
        [
            ExperimentSpec(
                script_path=scripts / "train.py",
                name="live",
                tags=["grid-search"],
                config={"learning_rate": 0.5},
            )
        ],
        status=Status.QUEUED,
        owner=owner,
        git=git,
        environment=env,
    )
    # Owned by this (pytest) process on this host: reconcile checks such an owner by its process,
    # never by its heartbeat, so the row stays running however long a test takes (guarded in
    # tests/test_store.py::test_the_fixtures_live_row_outlasts_the_staleness_window).
    mark_running(db, running, os.getpid(), owner)
    return {**names, "baseline": other, "live": running}


def set_times(db: Database, experiment_id: str, **values: Any) -> None:
    """Move an experiment's timestamps (naive UTC) so time filters have something to tell apart."""
    from yanex.store.dialect import sqlite_value

    assignments = ", ".join(f"{column} = :{column}" for column in values)
    with db.write() as conn:
        conn.execute(
            f"UPDATE experiments SET {assignments} WHERE id = :id",
            {**{column: sqlite_value(value) for column, value in values.items()}, "id": experiment_id},
        )
