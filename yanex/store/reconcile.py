"""Rows whose owning process is gone must not stay queued or running forever.

Every reader and writer calls ``reconcile_orphans`` first. It is one indexed query on the (few)
active rows; a write happens only when an owner is found dead.
"""

from __future__ import annotations

import os
import socket
import sys
from datetime import timedelta

from sqlalchemy import or_, select, update

from yanex.db.engine import Database
from yanex.db.models import ExperimentRow
from yanex.specs import ACTIVE_STATUSES, Status
from yanex.store.convert import now_utc

# Owners beat every few seconds; one silent for this long is dead even if its pid was reused.
STALE_AFTER = timedelta(minutes=2)


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie counts as dead (an orphan's zombie may never be reaped
    when PID 1 does not reap, as in many containers)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:  # gone since the kill above, or no /proc at all (macOS)
        return sys.platform != "linux"


def reconcile_orphans(db: Database) -> list[str]:
    """Mark active rows of dead owners failed; returns their ids."""
    host = socket.gethostname()
    now = now_utc()
    active = [s.value for s in ACTIVE_STATUSES]
    with db.read() as session:
        rows = session.execute(
            select(
                ExperimentRow.id,
                ExperimentRow.status,
                ExperimentRow.owner_host,
                ExperimentRow.owner_pid,
                ExperimentRow.heartbeat_at,
            ).where(ExperimentRow.status.in_(active))
        ).all()
    dead: list[str] = []
    for row in rows:
        stale = row.heartbeat_at is None or now - row.heartbeat_at > STALE_AFTER
        gone = row.owner_host == host and (row.owner_pid is None or not process_alive(row.owner_pid))
        if stale or gone:
            dead.append(row.id)
    if not dead:
        return []
    with db.write() as conn:
        # Re-check inside the write lock: the owner may have finished the row meanwhile.
        conn.execute(
            update(ExperimentRow)
            .where(
                ExperimentRow.id.in_(dead),
                ExperimentRow.status.in_(active),
                or_(ExperimentRow.heartbeat_at.is_(None), ExperimentRow.heartbeat_at <= now),
            )
            .values(
                status=Status.FAILED.value,
                ended_at=now,
                error_message=(
                    "the process running this experiment died (orchestrator or supervisor "
                    "killed) before recording an outcome"
                ),
                owner_host=None,
                owner_pid=None,
            )
        )
    return dead
