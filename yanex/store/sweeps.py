"""What ``yanex sweep resume`` reads: a batch's stored sweep, and the experiments of its points.

A point is identified as ``run_multiple(skip_completed=True)`` identifies a spec: script, config
and arguments (``spec_sha256``), whichever batch ran it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from yanex.db.engine import Database
from yanex.errors import AmbiguousReferenceError, NotFoundError, UsageError
from yanex.store.dialect import marks
from yanex.store.experiments import OPEN_SQL


class StoredSweep(NamedTuple):
    batch_id: str
    spec: dict[str, Any]


def batch_sweep(db: Database, reference: str) -> StoredSweep:
    """The sweep of the batch with id (or unique id prefix) ``reference``."""
    pattern = reference.lower().replace("\\", "").replace("%", "").replace("_", "")
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT id, spec FROM batches WHERE id LIKE ? ORDER BY id LIMIT 10", (f"{pattern}%",)
        ).fetchall()
    exact = [row for row in rows if row[0] == reference]
    rows = exact or rows
    if not rows or not pattern:
        raise NotFoundError(
            f"no batch with id {reference!r}", hint="see `yanex list` for batch ids (--format json)"
        )
    if len(rows) > 1:
        raise AmbiguousReferenceError(
            f"{reference!r} matches batches {', '.join(row[0] for row in rows)}", hint="give more of the id"
        )
    [(batch_id, spec)] = rows
    if spec is None:
        raise UsageError(
            f"batch {batch_id} was not started as a sweep, so it has no points to resume",
            hint=f"re-run its failures with `yanex rerun --batch {batch_id} --status failed`",
        )
    return StoredSweep(batch_id, json.loads(spec))


def active_points(db: Database, fingerprints: Sequence[str]) -> list[str]:
    """Ids of queued or running experiments with one of these identities (read after reconciling)."""
    wanted = set(fingerprints)
    with db.connect() as conn:
        found = conn.execute(
            f"SELECT id FROM experiments WHERE spec_sha256 IN ({marks(len(wanted))}) "
            f"AND status IN {OPEN_SQL}",
            [*wanted],
        )
        return [row[0] for row in found]
