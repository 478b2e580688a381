"""The write side of the store against a real SQLite file: rows, transitions, metrics, orphans."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.stored import get_experiment, get_metrics
from yanex import config
from yanex.db.engine import Database
from yanex.errors import UsageError
from yanex.runner.environment import this_process
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
from yanex.store.experiments import (
    MetricRecord,
    Owner,
    cancel_active,
    create_batch,
    create_experiments,
    finish,
    ingest_metrics,
    mark_running,
)
from yanex.store.manage import delete_with_files
from yanex.store.reconcile import DIED, NEVER_STARTED, reconcile_orphans


def create(db: Database, *specs: ExperimentSpec, status: Status = Status.CREATED, **kwargs) -> list[str]:
    return create_experiments(
        db,
        list(specs),
        status=status,
        owner=kwargs.pop("owner", this_process()),
        git=kwargs.pop("git", GitInfo()),
        environment=EnvironmentInfo(),
        **kwargs,
    )


def sql(yanex_home: Path, query: str, *args: object) -> list[tuple[object, ...]]:
    """What a user's sqlite3 shell sees."""
    conn = sqlite3.connect(yanex_home / "yanex.db")
    try:
        return conn.execute(query, args).fetchall()
    finally:
        conn.close()


def spec(**fields) -> ExperimentSpec:
    return ExperimentSpec(script_path=Path("train.py"), **fields)


def test_rows_tags_and_flattened_params(db: Database, yanex_home: Path) -> None:
    config = {"lr": 0.01, "epochs": 10, "model": {"act": "relu", "layers": [64, 32], "opt": {"beta": 0.9}}}
    ids = create(db, spec(config=config, tags=["a", "b", "a"], name="one"), spec(config={"lr": 0.1}))
    assert len(set(ids)) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    view = get_experiment(db, ids[0])
    assert (view.status, view.name, view.tags, view.config) == (Status.CREATED, "one", ["a", "b"], config)
    assert view.script_path == str(Path("train.py").resolve())
    assert sql(yanex_home, "SELECT key, value FROM params WHERE experiment_id = ? ORDER BY key", ids[0]) == [
        ("epochs", "10"),
        ("lr", "0.01"),
        ("model.act", '"relu"'),
        ("model.layers", "[64, 32]"),
        ("model.opt.beta", "0.9"),
    ]
    # Numeric params compare as numbers in SQL, not as text ("0.1" > "0.01" > "10" as strings).
    assert sql(yanex_home, "SELECT value FROM params WHERE key = 'lr' AND value_number > 0.05") == [("0.1",)]
    assert sql(yanex_home, "SELECT experiment_id FROM params WHERE value_text = 'relu'") == [(ids[0],)]


def test_transitions_record_their_times(db: Database) -> None:
    [experiment_id] = create(db, spec())
    created = get_experiment(db, experiment_id)
    assert created.started_at is None and created.ended_at is None and created.duration is None
    mark_running(db, experiment_id, 4242, this_process())
    running = get_experiment(db, experiment_id)
    assert (running.status, running.pid) == (Status.RUNNING, 4242)
    assert running.started_at is not None and running.started_at >= created.created_at
    duration = finish(db, experiment_id, Status.FAILED, exit_code=2, error_message="ValueError: x").duration
    done = get_experiment(db, experiment_id)
    assert (done.status, done.exit_code, done.error_message) == (Status.FAILED, 2, "ValueError: x")
    assert done.ended_at is not None and done.duration == duration
    assert duration == pytest.approx((done.ended_at - running.started_at).total_seconds())
    assert done.created_at.tzinfo is UTC


def test_cancel_touches_only_active_rows(db: Database) -> None:
    queued, running, completed = create(db, spec(), spec(), spec(), status=Status.QUEUED)
    mark_running(db, running, 1, this_process())
    finish(db, completed, Status.COMPLETED, exit_code=0)
    cancel_active(db, [queued, running, completed], "batch interrupted")
    assert [get_experiment(db, i).status for i in (queued, running, completed)] == [
        Status.CANCELLED,
        Status.CANCELLED,
        Status.COMPLETED,
    ]
    assert get_experiment(db, queued).error_message == "batch interrupted"
    assert get_experiment(db, completed).error_message is None


def test_ingest_keeps_every_point_and_the_latest_value(db: Database, yanex_home: Path) -> None:
    [experiment_id] = create(db, spec())
    t0 = datetime(2026, 1, 1)
    ingest_metrics(
        db,
        experiment_id,
        [MetricRecord(s, t0 + timedelta(seconds=s), {"loss": 1 / (s + 1), "tag": "x"}) for s in range(3)],
    )
    ingest_metrics(db, experiment_id, [MetricRecord(3, t0 + timedelta(seconds=3), {"loss": 0.1})])
    assert [(p.step, p.value) for p in get_metrics(db, experiment_id, "loss")] == [
        (0, 1.0),
        (1, 0.5),
        (2, pytest.approx(1 / 3)),
        (3, 0.1),
    ]
    assert sql(yanex_home, "SELECT key, step, value, value_json, count FROM latest_metrics ORDER BY key") == [
        ("loss", 3, 0.1, None, 4),
        ("tag", 2, None, '"x"', 3),
    ]
    assert sql(yanex_home, "SELECT logged_at FROM metrics WHERE step = 3") == [
        ("2026-01-01 00:00:03.000000",)
    ]  # the format SQLAlchemy writes everywhere


def test_an_int_beyond_any_float_is_kept_exactly(db: Database, yanex_home: Path) -> None:
    """A huge int param or metric must not crash the writer; it is kept as JSON, with no number."""
    huge = 10**400
    [experiment_id] = create(db, ExperimentSpec(script_path=Path("train.py"), config={"seed": huge}))
    ingest_metrics(db, experiment_id, [MetricRecord(0, datetime(2026, 1, 1), {"count": huge})])
    assert sql(yanex_home, "SELECT value, value_number FROM params WHERE key = 'seed'") == [(str(huge), None)]
    [point] = get_metrics(db, experiment_id, "count")
    assert (point.value, point.raw) == (None, huge)


def test_identical_patches_are_stored_once(db: Database, yanex_home: Path) -> None:
    git = GitInfo(commit="a" * 40, branch="main", dirty=True, patch="diff --git a/x b/x\n+1\n")
    first = create(db, spec(), git=git)
    second = create(db, spec(), git=git)
    assert sql(yanex_home, "SELECT count(*) FROM git_patches") == [(1,)]
    assert get_experiment(db, first[0]).git == get_experiment(db, second[0]).git == git


def test_delete_removes_tags_params_and_metrics(db: Database, yanex_home: Path) -> None:
    doomed, kept = create(db, spec(tags=["t"], config={"a": 1}), spec(tags=["t"], config={"a": 2}))
    for experiment_id in (doomed, kept):
        ingest_metrics(db, experiment_id, [MetricRecord(0, datetime(2026, 1, 1), {"m": 1})])
    with pytest.raises(UsageError, match="whose process may still be running"):  # its owner is alive
        delete_with_files(db, [doomed])
    finish(db, doomed, Status.COMPLETED, exit_code=0)
    delete_with_files(db, [doomed])
    for table in ("tags", "params", "latest_metrics"):
        assert sql(yanex_home, f"SELECT DISTINCT experiment_id FROM {table}") == [(kept,)], table
    joined = "SELECT DISTINCT e.id FROM metrics JOIN experiments AS e ON e.local_id = experiment_local_id"
    assert sql(yanex_home, joined) == [(kept,)]


def test_batch_rows_link_their_experiments(db: Database, yanex_home: Path) -> None:
    batch_id = create_batch(db, total=2, parallel=2, owner=this_process())
    ids = create(db, spec(), spec(), status=Status.QUEUED, batch_id=batch_id)
    assert sql(yanex_home, "SELECT total, parallel FROM batches WHERE id = ?", batch_id) == [(2, 2)]
    assert {get_experiment(db, i).batch_id for i in ids} == {batch_id}


def dead_owner() -> Owner:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return Owner(this_process().host, int(finished.stdout))


def test_rows_of_a_dead_owner_fail_if_they_ran_and_are_cancelled_if_they_never_did(db: Database) -> None:
    dead = dead_owner()
    ran, never_ran = create(db, spec(), spec(), status=Status.QUEUED, owner=dead)
    assert mark_running(db, ran, dead_owner().pid, dead)  # its script: another (dead) process
    [alive] = create(db, spec(), status=Status.QUEUED)
    assert sorted(reconcile_orphans(db)) == sorted([ran, never_ran])
    view = get_experiment(db, ran)
    assert (view.status, view.error_message) == (Status.FAILED, DIED) and view.ended_at is not None
    view = get_experiment(db, never_ran)
    assert (view.status, view.error_message) == (
        Status.CANCELLED,
        NEVER_STARTED,
    ) and view.ended_at is not None
    assert get_experiment(db, alive).status is Status.QUEUED


def test_created_rows_of_a_dead_owner_are_settled_and_their_half_written_config_removed(
    db: Database,
) -> None:
    """`yanex run` that died between writing the row and starting the script (disk full, an
    unwritable experiments folder, a kill) must not leave the row `created` forever."""
    [orphan] = create(db, spec(), owner=dead_owner())
    [alive] = create(db, spec())
    folder = config.experiment_dir(orphan)
    folder.mkdir(parents=True)
    half_written = [folder / "config.json.tmp", folder / "config.marshal.tmp"]
    for path in half_written:
        path.write_bytes(b'{"lr": 0.')
    assert reconcile_orphans(db) == [orphan]
    assert get_experiment(db, orphan).status is Status.CANCELLED  # its script never started
    assert not any(path.exists() for path in half_written)
    assert get_experiment(db, alive).status is Status.CREATED


def test_a_batch_whose_orchestrator_died_is_ended(db: Database, yanex_home: Path) -> None:
    dead = create_batch(db, total=1, parallel=None, owner=dead_owner())
    alive = create_batch(db, total=1, parallel=None, owner=this_process())
    reconcile_orphans(db)
    ended = sql(yanex_home, "SELECT id, ended_at IS NOT NULL FROM batches ORDER BY ended_at IS NULL")
    assert ended == [(dead, 1), (alive, 0)]


def test_a_final_status_is_never_changed_by_a_late_writer(db: Database) -> None:
    [experiment_id] = create(db, spec(), status=Status.QUEUED)
    mark_running(db, experiment_id, 1, this_process())
    first = finish(db, experiment_id, Status.FAILED, error_message="presumed dead")
    assert not first.late
    late = finish(db, experiment_id, Status.COMPLETED, exit_code=0)
    assert late.late and late.status is Status.FAILED and late.error_message == "presumed dead"
    assert not mark_running(db, experiment_id, 2, this_process())
    cancel_active(db, [experiment_id], "too late")
    view = get_experiment(db, experiment_id)
    assert (view.status, view.error_message, view.pid) == (Status.FAILED, "presumed dead", 1)


def test_a_pid_reused_by_a_newer_process_is_not_the_owner(db: Database, yanex_home: Path) -> None:
    """The owner died long ago and its pid now belongs to a process started after the row."""
    newer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        [orphan] = create(db, spec(), status=Status.QUEUED, owner=Owner(this_process().host, newer.pid))
        [owned] = create(db, spec(), status=Status.QUEUED, owner=Owner(this_process().host, newer.pid))
        conn = sqlite3.connect(yanex_home / "yanex.db")
        with conn:
            conn.execute(
                "UPDATE experiments SET created_at = datetime('now', '-1 hour') WHERE id = ?", (orphan,)
            )
        conn.close()
        assert reconcile_orphans(db) == [orphan]
        assert get_experiment(db, owned).status is Status.QUEUED  # created after its owner started
    finally:
        newer.kill()
        newer.wait()


def test_the_fixtures_live_row_outlasts_the_staleness_window(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The query fixtures keep one row `running` with a heartbeat never refreshed: a test that runs
    # past the staleness window must still see it running (its owner, this process, is alive).
    from tests.query_fixtures import populate

    live = populate(db, tmp_path)["live"]
    with sqlite3.connect(config.yanex_home() / "yanex.db") as conn:
        conn.execute("UPDATE experiments SET heartbeat_at = '2000-01-01 00:00:00' WHERE id = ?", (live,))
    monkeypatch.setenv(config.STALE_AFTER_ENV, "0.001")
    assert reconcile_orphans(db) == []
    assert get_experiment(db, live).status == "running"
