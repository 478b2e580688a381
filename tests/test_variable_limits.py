"""Statements that bind a list of ids, keys or values stay within the connection's limit on bound
parameters, however long the list: SQLite builds set it from 999 to 250,000, and a sweep of more
points than the limit once crashed with ``too many SQL variables`` while creating its rows.

The limit is lowered with ``sqlite3.Connection.setlimit`` on the very connections the store uses
(the process's writer, a reader's snapshot), so a list of a few hundred ids is past it.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from yanex.db.engine import Database
from yanex.runner.environment import this_process
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
from yanex.store.compare import compare
from yanex.store.dependencies import dependents_outside, retarget
from yanex.store.experiments import (
    MetricRecord,
    Owner,
    cancel_active,
    create_experiments,
    heartbeat,
    ingest_metrics,
)
from yanex.store.filters import ExperimentFilter
from yanex.store.history import points, progress
from yanex.store.manage import delete_with_files, set_archived, update_experiments
from yanex.store.metric_values import latest_of
from yanex.store.reading import reading
from yanex.store.reconcile import reconcile_orphans
from yanex.store.records import field_values, find_records, load_records
from yanex.store.selection import select_ids
from yanex.store.sweeps import active_points, find_completed, fingerprint
from yanex.store.where import parse_where

LIMIT = 64  # bound parameters per statement (one experiments row takes 43): every list below is longer
COUNT = 200


def lowered(conn: sqlite3.Connection) -> sqlite3.Connection:
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, LIMIT)
    assert conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) == LIMIT
    return conn


def lower(db: Database) -> None:
    """From now on the process's writing connection binds at most ``LIMIT`` parameters."""
    with db.write() as conn:
        lowered(conn)


def specs(count: int = COUNT, **fields: object) -> list[ExperimentSpec]:
    return [
        ExperimentSpec(script_path=Path("train.py"), config={"x": x}, name=f"p{x}", **fields)  # type: ignore[arg-type]
        for x in range(count)
    ]


def create(db: Database, made: list[ExperimentSpec], status: Status = Status.COMPLETED) -> list[str]:
    return create_experiments(
        db, made, status=status, owner=this_process(), git=GitInfo(), environment=EnvironmentInfo()
    )


@pytest.fixture
def ids(db: Database) -> list[str]:
    """Experiments created under the default limit; then the writer's limit is lowered."""
    created = create(db, specs(tags=["t"]))
    lower(db)
    return created


@pytest.fixture
def reader(db: Database) -> Iterator[sqlite3.Connection]:
    with reading(db, settle=False) as conn:
        yield lowered(conn)


def stored(db: Database, query: str, *args: object) -> list[tuple[object, ...]]:
    """What is stored now (a reader keeps the snapshot of its first read)."""
    with reading(db, settle=False) as conn:
        return conn.execute(query, args).fetchall()


def test_more_rows_than_the_limit_are_created_in_one_call(db: Database) -> None:
    lower(db)
    created = create(db, specs(3 * COUNT))
    assert len(set(created)) == 3 * COUNT
    assert stored(db, "SELECT count(*) FROM experiments") == [(3 * COUNT,)]


def test_writes_over_many_ids(db: Database, ids: list[str]) -> None:
    heartbeat(db, ids, None)
    assert set_archived(db, ids, True) == COUNT
    update_experiments(db, ids, description="d", add_tags=["u"], remove_tags=["t"])
    reconcile_orphans(db, ids)
    queued = create(db, specs(2 * COUNT, script_args=["q"]), Status.QUEUED)
    cancel_active(db, queued, "stopped")
    statuses = stored(db, "SELECT status, count(*) FROM experiments GROUP BY status ORDER BY status")
    assert statuses == [("cancelled", 2 * COUNT), ("completed", COUNT)]
    assert stored(db, "SELECT tag, count(*) FROM tags GROUP BY tag") == [("u", COUNT)]
    assert stored(db, "SELECT count(*) FROM experiments WHERE archived") == [(COUNT,)]
    delete_with_files(db, ids)
    assert stored(db, "SELECT count(*) FROM experiments") == [(2 * COUNT,)]


def test_dependencies_over_many_ids(db: Database, ids: list[str]) -> None:
    [parent, other] = create(db, specs(2, script_args=["p"]))
    children = create_experiments(
        db,
        specs(script_args=["c"]),
        status=Status.QUEUED,
        owner=this_process(),
        git=GitInfo(),
        environment=EnvironmentInfo(),
        depends_on=[[parent]] * COUNT,
    )
    retarget(db, children, parent, other)
    assert stored(db, "SELECT depends_on_id, count(*) FROM dependencies GROUP BY 1") == [(other, COUNT)]
    with reading(db, settle=False) as conn:
        assert dependents_outside(lowered(conn), [*ids, other]) == sorted(children)


def test_reads_over_many_ids(db: Database, ids: list[str], reader: sqlite3.Connection) -> None:
    ingest_metrics(db, ids[0], [MetricRecord(0, datetime.now(), {f"m{k}": k for k in range(2 * LIMIT)})])
    assert [record.id for record in load_records(reader, ids)] == ids
    assert len(find_records(reader, ExperimentFilter(ids=tuple(ids)))) == COUNT
    assert len(field_values(reader, ids, "params.x")) == COUNT
    assert len(latest_of(reader, ids)[ids[0]]) == 2 * LIMIT
    assert len(progress(reader, ids, None, 1)) == COUNT
    keys = [f"m{k}" for k in range(2 * LIMIT)]
    assert [point.key for point in points(reader, [ids[0]], keys)] == sorted(keys)
    assert len(compare(reader, ExperimentFilter(ids=tuple(ids))).rows) == COUNT
    where = parse_where("x in (" + ", ".join(str(x) for x in range(0, 2 * COUNT, 2)) + ")")
    assert len(select_ids(reader, ExperimentFilter(where=where))) == COUNT // 2


def test_earlier_runs_of_many_specs(db: Database, ids: list[str], reader: sqlite3.Connection) -> None:
    made = specs(2 * COUNT)
    fingerprints = [fingerprint(spec) for spec in made]
    found = find_completed(reader, fingerprints, [[]] * len(made))
    assert [run is not None for run in found] == [True] * COUNT + [False] * COUNT
    queued = create(db, made[COUNT:], Status.QUEUED)
    with reading(db, settle=False) as conn:
        assert sorted(active_points(lowered(conn), fingerprints)) == sorted(queued)


def test_settling_many_rows_of_a_dead_owner(db: Database, ids: list[str]) -> None:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead = Owner(socket.gethostname(), int(ended.stdout))  # its process has exited
    create_experiments(
        db,
        specs(script_args=["q"]),
        status=Status.QUEUED,
        owner=dead,
        git=GitInfo(),
        environment=EnvironmentInfo(),
    )
    reconcile_orphans(db)
    assert stored(db, "SELECT status, count(*) FROM experiments GROUP BY 1 ORDER BY 1") == [
        ("cancelled", COUNT),
        ("completed", COUNT),
    ]
