"""Write side of the store: every state change is one short IMMEDIATE transaction.

No transaction stays open while an experiment runs; callers hold ids, never rows or sessions.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from pydantic import JsonValue
from sqlalchemy import Connection, insert, select, update

from yanex.db.engine import Database
from yanex.db.models import (
    BatchRow,
    ExperimentRow,
    GitPatchRow,
    MetricRow,
    ParamRow,
    TagRow,
)
from yanex.errors import NotFoundError
from yanex.specs import (
    EnvironmentInfo,
    ExperimentSpec,
    ExperimentView,
    GitInfo,
    MetricPoint,
    Status,
)
from yanex.status import OPEN_STATUSES
from yanex.store.convert import (
    flatten_config,
    metric_value,
    now_utc,
    spec_fingerprint,
)
from yanex.store.reads import utc


class Owner(NamedTuple):
    """The process answerable for queued or running rows (see ``yanex.store.reconcile``)."""

    host: str
    pid: int


class MetricRecord(NamedTuple):
    """One ``log_metrics`` call, for ``ingest_metrics``."""

    step: int
    logged_at: datetime
    values: dict[str, JsonValue]


# One metrics row: (experiment_id, key, step, value, value_json, logged_at as text).
PointRow = tuple[str, str, int, float | None, str | None, str]


def _free_ids(conn: Connection, count: int) -> list[str]:
    """Random 8-hex ids not yet in the table (collisions are rare but real at 10^5 rows)."""
    ids: set[str] = set()
    while len(ids) < count:
        wanted = {secrets.token_hex(4) for _ in range(count - len(ids))} - ids
        taken = set(conn.scalars(select(ExperimentRow.id).where(ExperimentRow.id.in_(wanted))))
        ids |= wanted - taken
    return list(ids)


def _store_patch(conn: Connection, patch: str | None) -> str | None:
    if not patch:
        return None
    sha = hashlib.sha256(patch.encode("utf-8", "surrogateescape")).hexdigest()
    if conn.scalar(select(GitPatchRow.sha256).where(GitPatchRow.sha256 == sha)) is None:
        conn.execute(insert(GitPatchRow).values(sha256=sha, patch=patch, size=len(patch)))
    return sha


def create_batch(db: Database, total: int, parallel: int | None, owner: Owner) -> str:
    with db.write() as conn:
        while True:
            batch_id = secrets.token_hex(4)
            if conn.scalar(select(BatchRow.id).where(BatchRow.id == batch_id)) is None:
                break
        conn.execute(
            insert(BatchRow).values(
                id=batch_id,
                created_at=now_utc(),
                parallel=parallel,
                total=total,
                owner_host=owner.host,
                owner_pid=owner.pid,
                heartbeat_at=now_utc(),
            )
        )
    return batch_id


def end_batch(db: Database, batch_id: str) -> None:
    with db.write() as conn:
        conn.execute(update(BatchRow).where(BatchRow.id == batch_id).values(ended_at=now_utc()))


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
) -> list[str]:
    """Insert one row per spec (with tags and params) in one transaction; ids in spec order.

    Each row records the current directory as its working dir unless ``working_dirs`` gives one
    (a re-run goes back to where the original ran).
    """
    now = now_utc()
    with db.write() as conn:
        ids = _free_ids(conn, len(specs))
        patch_sha = _store_patch(conn, git.patch)
        cwd = str(Path.cwd())
        rows = []
        for index, (experiment_id, spec) in enumerate(zip(ids, specs, strict=True)):
            script_path = str(spec.script_path.resolve())
            rows.append(
                {
                    "id": experiment_id,
                    "name": spec.name,
                    "description": spec.description,
                    "status": status.value,
                    "script_path": script_path,
                    "working_dir": (working_dirs[index] if working_dirs else None) or cwd,
                    "script_args": list(spec.script_args),
                    "config": spec.config,
                    "spec_sha256": spec_fingerprint(script_path, spec.config, list(spec.script_args)),
                    "created_at": now,
                    "batch_id": batch_id,
                    "retry_of": retry_of[index] if retry_of else None,
                    "archived": False,
                    "git_commit": git.commit,
                    "git_branch": git.branch,
                    "git_dirty": git.dirty,
                    "git_patch_sha256": patch_sha,
                    "git_patch_omitted": [o.model_dump() for o in git.omitted] or None,
                    "git_commit_message": git.commit_message,
                    "git_author_name": git.author_name,
                    "git_author_email": git.author_email,
                    "git_remotes": git.remotes or None,
                    "git_commit_on_remote": git.commit_on_remote,
                    "python_version": environment.python_version,
                    "platform": environment.platform,
                    "hostname": environment.hostname,
                    "yanex_version": environment.yanex_version,
                    "owner_host": owner.host,
                    "owner_pid": owner.pid,
                    "heartbeat_at": now,
                    "metrics_offset": 0,
                }
            )
        conn.execute(insert(ExperimentRow), rows)
        tags = [
            {"experiment_id": eid, "tag": tag}
            for eid, spec in zip(ids, specs, strict=True)
            for tag in dict.fromkeys(spec.tags)
        ]
        if tags:
            conn.execute(insert(TagRow), tags)
        params = [
            {"experiment_id": eid, **leaf._asdict()}
            for eid, spec in zip(ids, specs, strict=True)
            for leaf in flatten_config(spec.config)
        ]
        if params:
            conn.execute(insert(ParamRow), params)
    return ids


class CompletedRun(NamedTuple):
    """An earlier completed experiment of the same spec (see ``find_completed``)."""

    id: str
    name: str | None
    duration: float | None


def find_completed(db: Database, specs: Sequence[ExperimentSpec]) -> list[CompletedRun | None]:
    """For each spec, the newest completed experiment with the same script, config and args."""
    fingerprints = [
        spec_fingerprint(str(spec.script_path.resolve()), spec.config, list(spec.script_args))
        for spec in specs
    ]
    with db.read() as session:
        rows = session.execute(
            select(ExperimentRow.spec_sha256, ExperimentRow.id, ExperimentRow.name, ExperimentRow.duration)
            .where(
                ExperimentRow.spec_sha256.in_(set(fingerprints)),
                ExperimentRow.status == Status.COMPLETED.value,
            )
            .order_by(ExperimentRow.ended_at)
        ).all()
    newest = {row.spec_sha256: CompletedRun(row.id, row.name, row.duration) for row in rows}
    return [newest.get(fingerprint) for fingerprint in fingerprints]


def mark_running(
    db: Database, experiment_id: str, pid: int, owner: Owner, *, started_at: datetime | None = None
) -> bool:
    """Record the script started; False if the row was already final (or deleted) and stays so.

    ``started_at``: when a cluster worker started it, on the worker's clock like its end.
    """
    now = now_utc()
    with db.write() as conn:
        changed = conn.execute(
            update(ExperimentRow)
            .where(ExperimentRow.id == experiment_id, ExperimentRow.status.in_(OPEN_STATUSES))
            .values(
                status=Status.RUNNING.value,
                started_at=started_at or now,
                pid=pid,
                owner_host=owner.host,
                owner_pid=owner.pid,
                heartbeat_at=now,
            )
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
            select(
                ExperimentRow.status,
                ExperimentRow.started_at,
                ExperimentRow.duration,
                ExperimentRow.exit_code,
                ExperimentRow.error_message,
                ExperimentRow.owner_pid,
                ExperimentRow.heartbeat_at,
            ).where(ExperimentRow.id == experiment_id)
        ).one_or_none()
        if row is None:
            return Finished(None, None, exit_code, error_message, late=True)
        if row.status not in OPEN_STATUSES:
            return Finished(Status(row.status), row.duration, row.exit_code, row.error_message, late=True)
        if expect_owner is not None and (row.owner_pid, row.heartbeat_at) != expect_owner:
            return Finished(Status(row.status), None, None, None, late=True)
        duration = (now - row.started_at).total_seconds() if row.started_at is not None else None
        conn.execute(
            update(ExperimentRow)
            .where(ExperimentRow.id == experiment_id)
            .values(
                status=status.value,
                ended_at=now,
                duration=duration,
                exit_code=exit_code,
                error_message=error_message,
                owner_host=None,
                owner_pid=None,
            )
        )
    return Finished(status, duration, exit_code, error_message, late=False)


def cancel_active(db: Database, experiment_ids: Sequence[str], reason: str) -> None:
    """Mark whichever of these rows are still queued or running as cancelled."""
    now = now_utc()
    with db.write() as conn:
        conn.execute(
            update(ExperimentRow)
            .where(
                ExperimentRow.id.in_(experiment_ids),
                ExperimentRow.status.in_(OPEN_STATUSES),
            )
            .values(
                status=Status.CANCELLED.value,
                ended_at=now,
                error_message=reason,
                owner_host=None,
                owner_pid=None,
            )
        )


def heartbeat(db: Database, experiment_ids: Sequence[str] = (), batch_id: str | None = None) -> None:
    now = now_utc()
    with db.write() as conn:
        if experiment_ids:
            conn.execute(
                update(ExperimentRow)
                .where(ExperimentRow.id.in_(experiment_ids), ExperimentRow.status.in_(OPEN_STATUSES))
                .values(heartbeat_at=now)
            )
        if batch_id is not None:
            conn.execute(update(BatchRow).where(BatchRow.id == batch_id).values(heartbeat_at=now))


def ingest_metrics(db: Database, experiment_id: str, records: Sequence[MetricRecord]) -> None:
    """Append points logged other than through a journal, and refresh ``latest_metrics``, in one
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
    """Insert metric rows (in logging order) and fold them into ``latest_metrics``."""
    if not points:
        return
    # Plain executemany: at 10^5 points per flush the ORM's bookkeeping would dominate.
    conn.exec_driver_sql(
        "INSERT INTO metrics (experiment_id, key, step, value, value_json, logged_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        points,
    )
    # Comprehension and Counter over itemgetter run at C speed: this is per point, per ingest.
    ident = itemgetter(0, 1)
    last_point = {ident(point): point for point in points}
    counts = Counter(map(ident, points))
    conn.exec_driver_sql(
        "INSERT INTO latest_metrics "
        "(experiment_id, key, step, value, value_json, logged_at, count) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (experiment_id, key) DO UPDATE SET "
        "step = excluded.step, value = excluded.value, value_json = excluded.value_json, "
        "logged_at = excluded.logged_at, count = latest_metrics.count + excluded.count",
        [(*point, counts[group]) for group, point in last_point.items()],
    )


def get_experiment(db: Database, experiment_id: str) -> ExperimentView:
    """One experiment by its full id, read as ``yanex.find`` reads it (``yanex.store.reads``)."""
    from yanex.store.query import view
    from yanex.store.reads import load_records

    with db.connect() as conn:
        records = load_records(conn, [experiment_id])
    if not records:
        raise NotFoundError(f"no experiment with id {experiment_id}", hint="see `yanex list` for ids")
    return view(records[0])


def get_metrics(db: Database, experiment_id: str, key: str | None = None) -> list[MetricPoint]:
    """Every logged point of one experiment in logging order, optionally of one key."""
    import json

    query = select(MetricRow).where(MetricRow.experiment_id == experiment_id)
    if key is not None:
        query = query.where(MetricRow.key == key)
    with db.read() as session:
        points = []
        for row in session.scalars(query.order_by(MetricRow.id)):
            logged_at = utc(row.logged_at)
            assert logged_at is not None
            raw = json.loads(row.value_json) if row.value_json is not None else row.value
            points.append(
                MetricPoint(key=row.key, step=row.step, value=row.value, raw=raw, logged_at=logged_at)
            )
        return points


__all__ = [
    "OPEN_STATUSES",
    "CompletedRun",
    "Finished",
    "MetricRecord",
    "Owner",
    "PointRow",
    "cancel_active",
    "create_batch",
    "create_experiments",
    "end_batch",
    "find_completed",
    "finish",
    "get_experiment",
    "get_metrics",
    "heartbeat",
    "ingest_metrics",
    "insert_points",
    "mark_running",
]
