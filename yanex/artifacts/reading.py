"""Recorded artifacts, read through the read-only sqlite3 path (scripts and the CLI alike)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from yanex import config
from yanex.artifacts import blobs
from yanex.errors import NotFoundError
from yanex.store.tables import ARTIFACTS, ArtifactRecord

if TYPE_CHECKING:
    from yanex.db.engine import Database

_ROW = ARTIFACTS.shapes[0]


def records(conn: sqlite3.Connection, experiment_id: str) -> list[ArtifactRecord]:
    """The experiment's artifacts by name."""
    rows = conn.execute(
        f"SELECT {ARTIFACTS.names()} FROM artifacts WHERE experiment_id = ? ORDER BY name", (experiment_id,)
    )
    return [_ROW.decode(row) for row in rows]


def artifacts_of(reference: str, db: Database | None = None) -> tuple[str, list[ArtifactRecord]]:
    """The id of the experiment ``reference`` names (id, id prefix or name) and its artifacts."""
    from yanex.db.engine import Database
    from yanex.store.reading import reading
    from yanex.store.references import resolve_reference

    with reading(db or Database()) as conn:
        experiment_id = resolve_reference(conn, reference)
        return experiment_id, records(conn, experiment_id)


def _missing(name: str, experiment_id: str, found: list[ArtifactRecord]) -> NotFoundError:
    listed = ", ".join(record.name for record in found[:10]) + (", ..." if len(found) > 10 else "")
    return NotFoundError(
        f"experiment {experiment_id} has no artifact {name!r}"
        + (f" (it has {listed})" if found else " (it has none)"),
        hint=f"list them with `yanex artifacts {experiment_id}`",
    )


def _view(record: ArtifactRecord) -> Path:
    """The artifact in its experiment's view, linked again from its blob if the link is missing
    (the script was killed before making it); the blob itself if the view cannot be written."""
    view = config.artifacts_view(record.experiment_id) / record.name
    try:
        if view.is_file() and view.stat().st_size == record.size:
            return view
        blobs.link_view(config.blobs_root(), record.sha256, view, config.experiment_dir(record.experiment_id))
    except OSError:
        blob = blobs.blob_path(config.blobs_root(), record.sha256)
        if not blob.is_file():
            raise NotFoundError(
                f"the content of artifact {record.name!r} of experiment {record.experiment_id} is "
                f"missing from {config.blobs_root()}",
                hint="it was deleted outside yanex; save it again",
            ) from None
        return blob
    return view


def selected(name: str, experiment_id: str, found: list[ArtifactRecord]) -> list[ArtifactRecord]:
    """The artifact ``name``, or every artifact in the folder ``name``; ``NotFoundError`` if none."""
    exact = [record for record in found if record.name == name]
    inside = [record for record in found if record.name.startswith(name + "/")]
    if not exact and not inside:
        raise _missing(name, experiment_id, found)
    return exact or inside


def artifact_file(reference: str, name: str) -> Path:
    """A local read-only path of the artifact (or folder of artifacts) ``name`` of another experiment."""
    experiment_id, found = artifacts_of(reference)
    chosen = selected(name, experiment_id, found)
    paths = [_view(record) for record in chosen]
    if chosen[0].name == name:
        return paths[0]
    return config.artifacts_view(experiment_id) / name
