"""Write side of the store: every state change is one short IMMEDIATE transaction.

No transaction stays open while an experiment runs; callers hold ids, never rows or sessions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from sqlite3 import Connection
from typing import NamedTuple

from pydantic import JsonValue

from yanex import config
from yanex.db.engine import Database
from yanex.errors import UsageError
from yanex.owners import owner_may_be_alive
from yanex.specs import INTERACTIVE, ExperimentSpec, Status
from yanex.status import OPEN_STATUSES
from yanex.store.convert import (
    flatten_config,
    json_text,
    metric_value,
    now_utc,
    spec_fingerprint,
)
from yanex.store.dependencies import insert_edges
from yanex.store.dialect import chunks, marks, sqlite_value, stored_time
from yanex.store.ids import new_ids, shown
from yanex.store.summary import PointRow, fold_points, set_goals
from yanex.store.tables import (
    EXPERIMENTS,
    EnvironmentInfo,
    ExperimentBookkeeping,
    ExperimentRecord,
    GitInfo,
)

# The open statuses as an SQL list: ``status IN OPEN_SQL`` (constants of ours, never user input).
OPEN_SQL = "(" + ", ".join(f"'{status}'" for status in OPEN_STATUSES) + ")"


class Owner(NamedTuple):
    """The process answerable for queued or running rows (see ``yanex.store.reconcile``)."""

    host: str
    pid: int


class MetricRecord(NamedTuple):
    """One ``log_metrics`` call, for ``ingest_metrics``."""

    step: int
    logged_at: datetime
    values: dict[str, JsonValue]


def _store_patch(conn: Connection, patch: str | None) -> str | None:
    if not patch:
        return None
    sha = hashlib.sha256(patch.encode("utf-8", "surrogateescape")).hexdigest()
    conn.execute(
        "INSERT INTO git_patches (sha256, patch, size) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
        (sha, patch, len(patch)),
    )
    return sha


def create_batch(
    db: Database,
    total: int,
    parallel: int | None,
    owner: Owner,
    spec: dict[str, JsonValue] | None = None,
    executor: str | None = None,
) -> str:
    """A ``batches`` row; ``spec`` is the sweep it runs (``yanex.sweep.plan``), if it is one;
    ``executor`` where it runs, if not on this machine."""
    with db.write() as conn:
        return _insert_batch(
            conn, total, parallel, owner, None if spec is None else json_text(spec), executor
        )


def _insert_batch(
    conn: Connection, total: int, parallel: int | None, owner: Owner, spec: str | None, executor: str | None
) -> str:
    now = sqlite_value(now_utc())
    [batch_id] = new_ids(conn, "batches", 1)
    conn.execute(
        "INSERT INTO batches (id, created_at, parallel, total, owner_host, owner_pid, heartbeat_at, "
        "spec, executor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (batch_id, now, parallel, total, owner.host, owner.pid, now, spec, executor),
    )
    return batch_id


def claim_sweep(
    db: Database, sweep_of: str, spec: dict[str, JsonValue], parallel: int | None, owner: Owner
) -> str:
    """A new batch row for running what is left of the sweep ``spec`` (of batch ``sweep_of``),
    written only if no live process runs a batch of the same sweep, in the same transaction: of
    two resumes started at once, the second is refused. ``total`` is 0 until ``set_batch_total``.

    Raises ``UsageError`` naming the process that runs it."""
    text = json_text(spec)
    now = now_utc()
    fresh = timedelta(seconds=config.stale_after())
    with db.write() as conn:
        running = conn.execute(
            "SELECT id, owner_host, owner_pid, heartbeat_at, created_at FROM batches "
            "WHERE ended_at IS NULL AND spec = ?",
            (text,),
        ).fetchall()
        for batch_id, host, pid, beat, created in running:
            if owner_may_be_alive(host, pid, stored_time(beat), stored_time(created), now, fresh):
                raise UsageError(
                    f"the sweep of batch {shown(sweep_of)} is being run by pid {pid} on {host} "
                    f"(batch {shown(batch_id)})",
                    hint="wait for it to end, or stop it, then resume again",
                )
        return _insert_batch(conn, 0, parallel, owner, text, None)


def set_batch_total(db: Database, batch_id: str, total: int) -> None:
    with db.write() as conn:
        conn.execute("UPDATE batches SET total = ? WHERE id = ?", (total, batch_id))


def drop_batch(db: Database, batch_id: str) -> None:
    """Delete a batch row no experiment was written under (a claim that ran nothing)."""
    with db.write() as conn:
        conn.execute(
            "DELETE FROM batches WHERE id = ? AND NOT EXISTS (SELECT 1 FROM experiments WHERE batch_id = ?)",
            (batch_id, batch_id),
        )


def end_batch(db: Database, batch_id: str) -> None:
    with db.write() as conn:
        conn.execute("UPDATE batches SET ended_at = ? WHERE id = ?", (sqlite_value(now_utc()), batch_id))


def create_experiments(
    db: Database,
    specs: Sequence[ExperimentSpec],
    *,
    status: Status,
    owner: Owner,
    git: GitInfo,
    environment: EnvironmentInfo,
    batch_id: str | None = None,
    retry_of: Sequence[str | None] | None = None,
    working_dirs: Sequence[str | None] | None = None,
    depends_on: Sequence[Sequence[str | int]] | None = None,
) -> list[str]:
    """Insert one row per spec (with tags and params) in one transaction; ids in spec order.

    Each row records the current directory as its working dir unless ``working_dirs`` gives one
    (a re-run goes back to where the original ran). ``depends_on`` gives each spec's parents in
    the ``dependencies`` table: a stored experiment's id, or the index of another spec of this call.
    """
    now = now_utc()
    with db.write() as conn:
        ids = new_ids(conn, "experiments", len(specs))
        patch_sha = _store_patch(conn, git.patch)
        cwd = str(Path.cwd())
        rows = []
        resolved: dict[Path, str] = {}  # a sweep's 10,000 specs share one script: one realpath
        for index, (experiment_id, spec) in enumerate(zip(ids, specs, strict=True)):
            script_path = resolved.get(spec.script_path) or resolved.setdefault(
                spec.script_path,
                str(spec.script_path if spec.script_path == INTERACTIVE else spec.script_path.resolve()),
            )
            record = ExperimentRecord(
                id=experiment_id,
                name=spec.name,
                description=spec.description,
                status=status,
                script_path=script_path,
                working_dir=(working_dirs[index] if working_dirs else None) or cwd,
                script_args=list(spec.script_args),
                config=spec.config,
                tags=spec.tags,
                created_at=now,
                started_at=None,
                ended_at=None,
                duration=None,
                exit_code=None,
                error_message=None,
                batch_id=batch_id,
                retry_of=retry_of[index] if retry_of else None,
                archived=False,
                pid=None,
                imported_at=None,
                total_steps=None,
                imported_from=None,
                git=git,
                environment=environment,
            )
            bookkeeping = ExperimentBookkeeping(
                local_id=None,  # the table numbers it
                spec_sha256=spec_fingerprint(script_path, spec.config, list(spec.script_args)),
                git_patch_sha256=patch_sha,
                owner_host=owner.host,
                owner_pid=owner.pid,
                heartbeat_at=now,
                metrics_offset=0,
            )
            rows.append(EXPERIMENTS.row(record, bookkeeping))
        conn.executemany(EXPERIMENTS.insert(), rows)
        conn.executemany(
            "INSERT INTO tags (experiment_id, tag) VALUES (?, ?)",
            [(eid, tag) for eid, spec in zip(ids, specs, strict=True) for tag in dict.fromkeys(spec.tags)],
        )
        conn.executemany(
            "INSERT INTO params (experiment_id, key, value, value_number, value_text) VALUES (?, ?, ?, ?, ?)",
            [
                (eid, *leaf)
                for eid, spec in zip(ids, specs, strict=True)
                for leaf in flatten_config(spec.config)
            ],
        )
        if depends_on:
            insert_edges(
                conn,
                [
                    (eid, ids[parent] if isinstance(parent, int) else parent)
                    for eid, parents in zip(ids, depends_on, strict=True)
                    for parent in parents
                ],
            )
        for eid, spec in zip(ids, specs, strict=True):
            set_goals(conn, eid, spec.goals)
    return ids


def mark_running(
    db: Database,
    experiment_id: str,
    pid: int,
    owner: Owner,
    *,
    started_at: datetime | None = None,
    hostname: str | None = None,
) -> bool:
    """Record the script started; False if the row was already final (or deleted) and stays so.

    ``started_at`` and ``hostname``: when and where a cluster worker started it (its clock, like
    its end; the host the script runs on, not the orchestrator's ``pid`` is on that host).
    """
    now = sqlite_value(now_utc())
    with db.write() as conn:
        changed = conn.execute(
            f"UPDATE experiments SET status = ?, started_at = ?, pid = ?, owner_host = ?, owner_pid = ?, "
            f"heartbeat_at = ?, hostname = COALESCE(?, hostname) WHERE id = ? AND status IN {OPEN_SQL}",
            (
                Status.RUNNING.value,
                sqlite_value(started_at) if started_at else now,
                pid,
                owner.host,
                owner.pid,
                now,
                hostname,
                experiment_id,
            ),
        ).rowcount
    return changed == 1


class Finished(NamedTuple):
    """What ``finish`` found: ``late`` when the row was already final (then the other fields are
    what had been recorded) or deleted (then ``status`` is None)."""

    status: Status | None
    duration: float | None
    exit_code: int | None
    error_message: str | None
    late: bool


def finish(
    db: Database,
    experiment_id: str,
    status: Status,
    *,
    exit_code: int | None = None,
    error_message: str | None = None,
    ended_at: datetime | None = None,
    expect_owner: tuple[int | None, datetime | None] | None = None,
) -> Finished:
    """Record a final status, unless the row is already final: a final status is never changed
    (a reconciler may have recorded one while its owner was thought dead).

    ``ended_at`` (naive UTC) is when the script exited, if known; recording may come a bit later.
    With ``expect_owner`` (owner pid, heartbeat), a row whose owner or heartbeat changed since the
    caller looked (it was handed on, or its owner is alive after all) is left as it is.
    """
    now = ended_at or now_utc()
    with db.write() as conn:
        row = conn.execute(
            "SELECT status, started_at, duration, exit_code, error_message, owner_pid, heartbeat_at "
            "FROM experiments WHERE id = ?",
            (experiment_id,),
        ).fetchone()
        if row is None:
            return Finished(None, None, exit_code, error_message, late=True)
        if row["status"] not in OPEN_STATUSES:
            recorded = Status(row["status"])
            return Finished(recorded, row["duration"], row["exit_code"], row["error_message"], late=True)
        if (
            expect_owner is not None
            and (
                row["owner_pid"],
                stored_time(row["heartbeat_at"]),
            )
            != expect_owner
        ):
            return Finished(Status(row["status"]), None, None, None, late=True)
        started_at = stored_time(row["started_at"])
        duration = (now - started_at).total_seconds() if started_at is not None else None
        conn.execute(
            "UPDATE experiments SET status = ?, ended_at = ?, duration = ?, exit_code = ?, "
            "error_message = ?, owner_host = NULL, owner_pid = NULL WHERE id = ?",
            (status.value, sqlite_value(now), duration, exit_code, error_message, experiment_id),
        )
    return Finished(status, duration, exit_code, error_message, late=False)


def cancel_active(db: Database, experiment_ids: Sequence[str], reason: str) -> None:
    """Mark whichever of these rows are still queued or running as cancelled."""
    with db.write() as conn:
        for chunk in chunks(conn, experiment_ids, 3):
            conn.execute(
                "UPDATE experiments SET status = ?, ended_at = ?, error_message = ?, owner_host = NULL, "
                f"owner_pid = NULL WHERE id IN ({marks(len(chunk))}) AND status IN {OPEN_SQL}",
                [Status.CANCELLED.value, sqlite_value(now_utc()), reason, *chunk],
            )


def cancel_batch(db: Database, batch_id: str, reason: str) -> None:
    """Mark whichever rows of batch ``batch_id`` are still queued or running as cancelled."""
    with db.write() as conn:
        conn.execute(
            "UPDATE experiments SET status = ?, ended_at = ?, error_message = ?, owner_host = NULL, "
            f"owner_pid = NULL WHERE batch_id = ? AND status IN {OPEN_SQL}",
            [Status.CANCELLED.value, sqlite_value(now_utc()), reason, batch_id],
        )


def heartbeat(db: Database, experiment_ids: Sequence[str] = (), batch_id: str | None = None) -> None:
    now = sqlite_value(now_utc())
    with db.write() as conn:
        for chunk in chunks(conn, experiment_ids, 1):
            conn.execute(
                f"UPDATE experiments SET heartbeat_at = ? WHERE id IN ({marks(len(chunk))}) "
                f"AND status IN {OPEN_SQL}",
                [now, *chunk],
            )
        if batch_id is not None:
            conn.execute("UPDATE batches SET heartbeat_at = ? WHERE id = ?", (now, batch_id))


def ingest_metrics(db: Database, experiment_id: str, records: Sequence[MetricRecord]) -> None:
    """Append points logged other than through a journal, and refresh ``metric_summary``, in one
    transaction (journals go through ``yanex.store.ingest``)."""
    points: list[PointRow] = []
    for record in records:
        logged_at = record.logged_at.isoformat(sep=" ", timespec="microseconds")
        for key, raw in record.values.items():
            points.append((experiment_id, key, record.step, *metric_value(raw), logged_at))
    if points:
        with db.write() as conn:
            insert_points(conn, points)


def insert_points(conn: Connection, points: Sequence[PointRow]) -> None:
    """Insert metric rows (in logging order) and fold them into ``metric_summary``."""
    if not points:
        return
    # Plain executemany: at 10^5 points per flush the ORM's bookkeeping would dominate.
    conn.executemany(
        "INSERT INTO metrics (experiment_local_id, key, step, value, value_json, logged_at) "
        "VALUES ((SELECT local_id FROM experiments WHERE id = ?), ?, ?, ?, ?, ?)",
        points,
    )
    fold_points(conn, points)


__all__ = [
    "OPEN_SQL",
    "OPEN_STATUSES",
    "Finished",
    "MetricRecord",
    "Owner",
    "cancel_active",
    "cancel_batch",
    "claim_sweep",
    "create_batch",
    "create_experiments",
    "drop_batch",
    "end_batch",
    "finish",
    "heartbeat",
    "ingest_metrics",
    "insert_points",
    "mark_running",
    "set_batch_total",
]
