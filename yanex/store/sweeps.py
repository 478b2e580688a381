"""What ``yanex sweep resume`` reads: a batch's stored sweep, and the experiments of its points.

A point is identified as ``run_multiple(skip_completed=True)`` identifies a spec: script, config
and arguments (``spec_sha256``), whichever batch ran it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import select

from yanex.db.engine import Database
from yanex.db.models import BatchRow, ExperimentRow
from yanex.errors import AmbiguousReferenceError, NotFoundError, UsageError
from yanex.status import OPEN_STATUSES


class StoredSweep(NamedTuple):
    batch_id: str
    spec: dict[str, Any]


def batch_sweep(db: Database, reference: str) -> StoredSweep:
    """The sweep of the batch with id (or unique id prefix) ``reference``."""
    pattern = reference.lower().replace("\\", "").replace("%", "").replace("_", "")
    with db.read() as session:
        rows = session.execute(
            select(BatchRow.id, BatchRow.spec).where(BatchRow.id.like(f"{pattern}%")).limit(10)
        ).all()
    exact = [row for row in rows if row.id == reference]
    rows = exact or rows
    if not rows or not pattern:
        raise NotFoundError(
            f"no batch with id {reference!r}", hint="see `yanex list` for batch ids (--format json)"
        )
    if len(rows) > 1:
        raise AmbiguousReferenceError(
            f"{reference!r} matches batches {', '.join(row.id for row in rows)}", hint="give more of the id"
        )
    [row] = rows
    if row.spec is None:
        raise UsageError(
            f"batch {row.id} was not started as a sweep, so it has no points to resume",
            hint=f"re-run its failures with `yanex rerun --batch {row.id} --status failed`",
        )
    return StoredSweep(row.id, dict(row.spec))


def active_points(db: Database, fingerprints: Sequence[str]) -> list[str]:
    """Ids of queued or running experiments with one of these identities (read after reconciling)."""
    with db.read() as session:
        return list(
            session.scalars(
                select(ExperimentRow.id).where(
                    ExperimentRow.spec_sha256.in_(set(fingerprints)), ExperimentRow.status.in_(OPEN_STATUSES)
                )
            )
        )
