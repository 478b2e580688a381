"""Rows whose owning process is gone must not stay open forever, nor lose what their script logged.

Every writer calls ``reconcile_orphans`` first, and so does a reader's way in
(``yanex.store.reading``) when it finds an owner dead. It is one indexed query on the (few) open
rows; a write happens only when an owner is found dead. Reconciling a row first ingests the
rest of its metrics journal, then records the outcome marker's status if the supervisor left one
(the script had ended), else ``failed``.

Whether an owner is alive is ``yanex.owners.owner_may_be_alive``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from yanex import config
from yanex.db.engine import Database
from yanex.owners import owner_may_be_alive
from yanex.specs import Status
from yanex.store.convert import now_utc
from yanex.store.dialect import marks, sqlite_value, stored_time
from yanex.store.experiments import OPEN_SQL, Finished, Owner, finish
from yanex.store.ingest import JournalIngest
from yanex.store.outcome import read_marker

DIED = (
    "the process running this experiment died (orchestrator or supervisor killed) before recording an outcome"
)


class _Owned(NamedTuple):
    """An open row (or unended batch) and who answers for it."""

    id: str
    status: str | None
    owner_host: str | None
    owner_pid: int | None
    heartbeat_at: datetime | None
    owned_since: datetime | None


def settle(
    db: Database,
    experiment_id: str,
    message: str,
    *,
    expect_owner: tuple[int | None, datetime | None] | None = None,
) -> Finished:
    """Ingest the rest of a row's journal, then record the outcome marker (or ``failed`` with
    ``message``); a row already final keeps its status (``late`` in the result).

    ``expect_owner`` (owner pid, heartbeat) records nothing if the row changed hands meanwhile.
    """
    JournalIngest(db, experiment_id).drain()
    marker = read_marker(experiment_id)
    if marker is None:
        return finish(db, experiment_id, Status.FAILED, error_message=message, expect_owner=expect_owner)
    return finish(
        db,
        experiment_id,
        marker.status,
        exit_code=marker.exit_code,
        error_message=marker.error_message,
        ended_at=marker.ended_at,
        expect_owner=expect_owner,
    )


def reconcile_orphans(db: Database, ids: Sequence[str] | None = None) -> list[str]:
    """Settle open rows (of ``ids``, or all) whose owner is dead; end batches whose orchestrator
    is dead. Returns the ids of the settled experiments."""
    now = now_utc()
    fresh = timedelta(seconds=config.stale_after())  # read up front: a bad setting is an error at once
    if not db.exists():
        return []
    only = f" AND id IN ({marks(len(ids))})" if ids is not None else ""
    # Read on the writer (this is the write path): a reader that found a dead owner then opens
    # no third connection.
    with db.write() as conn:
        rows = [
            _Owned(row[0], row[1], row[2], row[3], stored_time(row[4]), stored_time(row[5]))
            for row in conn.execute(
                "SELECT id, status, owner_host, owner_pid, heartbeat_at, COALESCE(started_at, created_at) "
                f"FROM experiments WHERE status IN {OPEN_SQL}{only}",
                [*(ids or ())],
            )
        ]
        batches = [
            _Owned(row[0], None, row[1], row[2], stored_time(row[3]), stored_time(row[4]))
            for row in conn.execute(
                "SELECT id, owner_host, owner_pid, heartbeat_at, created_at FROM batches "
                "WHERE ended_at IS NULL"
            )
        ]
    dead = [
        row
        for row in rows
        if not owner_may_be_alive(
            row.owner_host, row.owner_pid, row.heartbeat_at, row.owned_since, now, fresh
        )
    ]
    for row in dead:
        if row.status == Status.CREATED.value:  # its config may have been half written
            for name in (config.CONFIG_FILE, config.PARAMS_FILE):
                with contextlib.suppress(OSError):
                    (config.experiment_dir(row.id) / f"{name}.tmp").unlink(missing_ok=True)
        settle(db, row.id, DIED, expect_owner=(row.owner_pid, row.heartbeat_at))
    ended = [
        b.id
        for b in batches
        if not owner_may_be_alive(b.owner_host, b.owner_pid, b.heartbeat_at, b.owned_since, now, fresh)
    ]
    if ended:
        with db.write() as conn:
            conn.execute(
                f"UPDATE batches SET ended_at = ? WHERE id IN ({marks(len(ended))}) AND ended_at IS NULL",
                [sqlite_value(now), *ended],
            )
    return [row.id for row in dead]


def live_owners(db: Database, ids: Collection[str]) -> dict[str, Owner]:
    """The owner of each row of ``ids`` still open after ``reconcile_orphans`` (called first):
    a live process that may write to the row, its journal and its folder at any moment."""
    reconcile_orphans(db)
    wanted = set(ids)
    with db.write() as conn:  # read on the writer, which the caller opens next anyway
        rows = conn.execute(f"SELECT id, owner_host, owner_pid FROM experiments WHERE status IN {OPEN_SQL}")
        return {
            row[0]: Owner(row[1], row[2])
            for row in rows
            if row[0] in wanted and row[1] is not None and row[2] is not None
        }


class RepairReport(NamedTuple):
    settled: int  # open rows of dead owners, now final
    experiments: int  # experiments whose journal was ahead of the database
    points: int  # points ingested
    skipped: int  # journal lines that could not be stored


def repair(db: Database) -> RepairReport:
    """Settle orphans, then ingest every journal that is ahead of its experiment's offset, final
    rows included (a supervisor may die between recording the status and the last ingest)."""
    settled = reconcile_orphans(db)
    with db.write() as conn:
        rows = conn.execute(
            "SELECT id, metrics_offset FROM experiments "
            f"WHERE metrics_offset IS NOT NULL AND status NOT IN {OPEN_SQL}"
        ).fetchall()
    experiments = points = skipped = 0
    for experiment_id, offset in rows:
        path = config.experiment_dir(experiment_id) / config.METRICS_FILE
        try:
            ahead = path.stat().st_size > offset
        except OSError:
            continue
        if ahead:
            ingest = JournalIngest(db, experiment_id)
            ingest.drain()
            if ingest.points or ingest.skipped:
                experiments += 1
                points += ingest.points
                skipped += ingest.skipped
    return RepairReport(len(settled), experiments, points, skipped)


__all__ = [
    "DIED",
    "RepairReport",
    "live_owners",
    "reconcile_orphans",
    "repair",
    "settle",
]
