"""Rows whose owning process is gone must not stay open forever, nor lose what their script logged.

Every writer calls ``reconcile_orphans`` first, and so does a reader's way in
(``yanex.store.reading``) when it finds an owner dead. It is one indexed query on the (few) open
rows; a write happens only when an owner is found dead. A row whose script never started is
``cancelled`` (all of a dead owner's at once: a killed sweep leaves thousands). For one that
started, whatever of its process tree still runs on this machine (its owner ran here) is killed
first, then the rest of its metrics journal is ingested, then the outcome marker's status is
recorded if the supervisor left one (the script had ended), else ``failed``.

Whether an owner is alive is ``yanex.owners.owner_may_be_alive``. Rows and batches ``yanex import``
brought are left alone (``yanex.store.owned``): their owners are processes of another store.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from yanex import config
from yanex.db.engine import Database
from yanex.owners import owner_may_be_alive
from yanex.processes import kill_leftovers
from yanex.specs import Status
from yanex.store.convert import now_utc
from yanex.store.dialect import chunks, marks, sqlite_value, stored_time
from yanex.store.experiments import OPEN_SQL, Finished, Owner, finish
from yanex.store.ingest import JournalIngest
from yanex.store.outcome import read_marker
from yanex.store.owned import BATCH_OWNED_HERE, EXPERIMENT_OWNED_HERE

DIED = (
    "the process running this experiment died (orchestrator or supervisor killed) before recording an outcome"
)
# A row whose script was its owner's own interpreter (``yanex.start``: a notebook's kernel, a REPL).
DIED_IN_PROCESS = (
    "the Python process that tracked this experiment with yanex.start() died (killed, or its kernel "
    "crashed or was shut down hard) before recording an outcome"
)
NEVER_STARTED = "never started: the process that queued it died (orchestrator or supervisor killed)"


class _Owned(NamedTuple):
    """An open row (or unended batch) and who answers for it."""

    id: str
    status: str | None
    started: bool  # its script was started (it has a pid)
    in_process: bool  # its script was its owner itself (yanex.start)
    remote: bool  # run by a cluster executor: its job may run on without its orchestrator
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
    query = (
        "SELECT id, status, pid, owner_host, owner_pid, heartbeat_at, COALESCE(started_at, created_at), "
        "batch_id IN (SELECT id FROM batches WHERE executor IS NOT NULL) "
        f"FROM experiments WHERE status IN {OPEN_SQL} AND {EXPERIMENT_OWNED_HERE}"
    )
    # Read on the writer (this is the write path): a reader that found a dead owner then opens
    # no third connection.
    with db.write() as conn:
        statements = (
            [(query, [])]
            if ids is None
            else [(f"{query} AND id IN ({marks(len(chunk))})", chunk) for chunk in chunks(conn, ids)]
        )
        rows = [
            _Owned(
                row[0],
                row[1],
                row[2] is not None,
                row[2] is not None and row[2] == row[4],
                bool(row[7]),
                row[3],
                row[4],
                stored_time(row[5]),
                stored_time(row[6]),
            )
            for statement, args in statements
            for row in conn.execute(statement, args)
        ]
        batches = [
            _Owned(
                row[0], None, False, False, False, row[1], row[2], stored_time(row[3]), stored_time(row[4])
            )
            for row in conn.execute(
                "SELECT id, owner_host, owner_pid, heartbeat_at, created_at FROM batches "
                f"WHERE ended_at IS NULL AND {BATCH_OWNED_HERE}"
            )
        ]
    dead = [
        row
        for row in rows
        if not owner_may_be_alive(
            row.owner_host, row.owner_pid, row.heartbeat_at, row.owned_since, now, fresh
        )
    ]
    # A cluster job's start reaches the database through its spool, which `yanex ingest` reads
    # after its orchestrator died: without a pid it may have run all the same.
    unstarted = [row for row in dead if not row.started and not row.remote]
    for row in unstarted:
        if row.status == Status.CREATED.value:  # its config may have been half written
            for name in (config.CONFIG_FILE, config.PARAMS_FILE):
                with contextlib.suppress(OSError):
                    (config.experiment_dir(row.id) / f"{name}.tmp").unlink(missing_ok=True)
    if unstarted:
        _cancel_unstarted(db, unstarted, now)
    started = [row for row in dead if row.started or row.remote]
    here = socket.gethostname()
    # An owner elsewhere had its scripts elsewhere, and a cluster job is meant to run on without
    # its orchestrator (`yanex ingest` records it): neither is ours to stop.
    if ours := [row.id for row in started if row.owner_host == here and not row.remote]:
        kill_leftovers(ours)
    for row in started:
        settle(
            db,
            row.id,
            DIED_IN_PROCESS if row.in_process else DIED,
            expect_owner=(row.owner_pid, row.heartbeat_at),
        )
    ended = [
        b.id
        for b in batches
        if not owner_may_be_alive(b.owner_host, b.owner_pid, b.heartbeat_at, b.owned_since, now, fresh)
    ]
    if ended:
        with db.write() as conn:
            for chunk in chunks(conn, ended, 1):
                conn.execute(
                    f"UPDATE batches SET ended_at = ? WHERE id IN ({marks(len(chunk))}) AND ended_at IS NULL",
                    [sqlite_value(now), *chunk],
                )
    return [row.id for row in dead]


def _cancel_unstarted(db: Database, rows: Sequence[_Owned], now: datetime) -> None:
    """Record ``cancelled`` for rows whose dead owner never started their script, in one
    transaction (a statement per owner and slice of ids); a row handed on meanwhile to another
    owner is left alone."""
    by_owner: dict[tuple[str | None, int | None], list[str]] = {}
    for row in rows:
        by_owner.setdefault((row.owner_host, row.owner_pid), []).append(row.id)
    with db.write() as conn:
        for (host, pid), owned in by_owner.items():
            for ids in chunks(conn, owned, 6):
                conn.execute(
                    "UPDATE experiments SET status = ?, ended_at = ?, error_message = ?, owner_host = NULL, "
                    f"owner_pid = NULL WHERE id IN ({marks(len(ids))}) AND owner_host IS ? "
                    f"AND owner_pid IS ? AND pid IS NULL AND status IN {OPEN_SQL}",
                    [Status.CANCELLED.value, sqlite_value(now), NEVER_STARTED, *ids, host, pid],
                )


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
    "DIED_IN_PROCESS",
    "NEVER_STARTED",
    "RepairReport",
    "live_owners",
    "reconcile_orphans",
    "repair",
    "settle",
]
