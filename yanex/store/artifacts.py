"""Recording artifacts in the database, as their journal lines are ingested."""

from __future__ import annotations

from collections.abc import Sequence
from sqlite3 import Connection

from yanex.artifacts.lines import ArtifactLine
from yanex.store.tables import ARTIFACTS, ArtifactRecord

_KEY = ("experiment_id", "name")


def record_artifacts(conn: Connection, experiment_id: str, artifacts: Sequence[ArtifactLine]) -> None:
    """Insert each artifact; a name saved again takes its newer content (journal order)."""
    newer = ", ".join(f"{c.name} = excluded.{c.name}" for c in ARTIFACTS.columns if c.name not in _KEY)
    conn.executemany(
        f"{ARTIFACTS.insert()} ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {newer}",
        [
            ARTIFACTS.row(
                ArtifactRecord(
                    experiment_id=experiment_id,
                    name=artifact.name,
                    sha256=artifact.sha256,
                    size=artifact.size,
                    media_type=artifact.media_type,
                    created_at=artifact.created_at,
                )
            )
            for artifact in artifacts
        ],
    )
