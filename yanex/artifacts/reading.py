"""Recorded artifacts, read through the read-only sqlite3 path (scripts and the CLI alike).

The artifacts of the running script's own experiment are read from its journal instead
(``yanex.artifacts.script``): the database may not have them yet."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from yanex import config
from yanex.artifacts import blobs
from yanex.artifacts.inputs import ParentArtifacts
from yanex.artifacts.lines import ArtifactLine
from yanex.artifacts.views import Recorded
from yanex.store.tables import ARTIFACTS, ArtifactRecord

if TYPE_CHECKING:
    from yanex.db.engine import Database
    from yanex.store.dependencies import Parent

_ROW = ARTIFACTS.shapes[0]


def records(conn: sqlite3.Connection, experiment_id: str) -> list[ArtifactRecord]:
    """The experiment's artifacts by name."""
    rows = conn.execute(
        f"SELECT {ARTIFACTS.names()} FROM artifacts WHERE experiment_id = ? ORDER BY name", (experiment_id,)
    )
    return [_ROW.decode(row) for row in rows]


def ran_remotely(executor: str) -> tuple[str, str]:
    """Why the content of an artifact that an experiment run by ``executor`` saved may be missing."""
    return (
        f"it was saved on a cluster worker ({executor}) and did not come back to this store with "
        "the experiment's result (the worker, or this orchestrator, went away first)",
        "`yanex ingest` of the worker's spool brings it home: $YANEX_SPOOL on a Dask worker, else "
        "its ~/.yanex-spool; a Slurm batch's folder (docs/cluster.md)",
    )


def _executor(conn: sqlite3.Connection, experiment_id: str) -> str | None:
    """Where the experiment's batch ran when that was not this machine (``batches.executor``)."""
    row = conn.execute(
        "SELECT executor FROM batches WHERE id = (SELECT batch_id FROM experiments WHERE id = ?)",
        (experiment_id,),
    ).fetchone()
    return None if row is None else row[0]


def artifacts_of(
    reference: str, db: Database | None = None, *, settle: bool = True
) -> Recorded[ArtifactRecord]:
    """The experiment ``reference`` names (id, id prefix or name): its id and artifacts
    (``settle``: as for ``reading``; the web view writes nothing)."""
    from yanex.db.engine import Database
    from yanex.store.reading import reading
    from yanex.store.references import resolve_reference

    with reading(db or Database(), settle=settle) as conn:
        experiment_id = resolve_reference(conn, reference)
        executor = _executor(conn, experiment_id)
        found = records(conn, experiment_id)
    return Recorded(experiment_id, found, blobs.DELETED if executor is None else ran_remotely(executor))


def dependency_artifacts(db: Database, parents: Sequence[Parent]) -> tuple[ParentArtifacts, ...]:
    """What ``parents`` saved, for an experiment that depends on them to read on a cluster worker;
    ``missing``: the contents this store lacks (``yanex artifacts get`` here says why)."""
    from yanex.store.reading import reading

    root = config.blobs_root()
    with reading(db, settle=False) as conn:
        found = {parent.id: records(conn, parent.id) for parent in parents}
    return tuple(
        ParentArtifacts(
            parent.id,
            parent.name,
            tuple(
                ArtifactLine(r.name, r.sha256, r.size, r.media_type, r.created_at.replace(tzinfo=None))
                for r in found[parent.id]
            ),
            {
                r.sha256: lacking(root, r.sha256)
                for r in found[parent.id]
                if not blobs.present(root, r.sha256, r.size)
            },
        )
        for parent in parents
    )


def lacking(root: Path, sha256: str) -> str:
    """Why a dependency's content cannot be sent to a worker: this store lacks it."""
    return f"the orchestrator's store lacks it too ({blobs.blob_path(root, sha256)})"
