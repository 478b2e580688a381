"""Recorded artifacts, read through the read-only sqlite3 path (scripts and the CLI alike).

The artifacts of the running script's own experiment are read from its journal instead
(``yanex.artifacts.script``): the database may not have them yet."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from yanex import config
from yanex.artifacts import views
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


def selected(name: str, experiment_id: str, found: list[ArtifactRecord]) -> list[ArtifactRecord]:
    """The artifact ``name``, or every artifact in the folder ``name``; ``NotFoundError`` if none."""
    chosen = views.select(name, found)
    if not chosen:
        raise _missing(name, experiment_id, found)
    return chosen


def artifact_file(reference: str, name: str) -> Path:
    """A local path of the artifact (or folder of artifacts) ``name`` of another experiment: its
    view, a private copy (see ``yanex.artifacts.views``)."""
    experiment_id, found = artifacts_of(reference)
    chosen = selected(name, experiment_id, found)
    directory = config.experiment_dir(experiment_id)
    paths = [views.view(record, experiment_id, directory) for record in chosen]
    if chosen[0].name == name:
        return paths[0]
    return config.artifacts_view(experiment_id) / name


def artifact_content(reference: str, name: str) -> Path:
    """The blob of the artifact ``name`` of another experiment, its size checked, to read."""
    experiment_id, found = artifacts_of(reference)
    chosen = selected(name, experiment_id, found)
    if chosen[0].name != name:
        raise views.folder_error(name)
    return views.content(chosen[0], experiment_id)
