"""Recording artifacts in the database, as their journal lines are ingested."""

from __future__ import annotations

from collections.abc import Sequence
from sqlite3 import Connection

from yanex.artifacts.lines import ArtifactLine
from yanex.store.dialect import sqlite_value


def record_artifacts(conn: Connection, experiment_id: str, artifacts: Sequence[ArtifactLine]) -> None:
    """Insert each artifact; a name saved again takes its newer content (journal order)."""
    conn.executemany(
        "INSERT INTO artifacts (experiment_id, name, sha256, size, media_type, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (experiment_id, name) DO UPDATE SET "
        "sha256 = excluded.sha256, size = excluded.size, media_type = excluded.media_type, "
        "created_at = excluded.created_at",
        [
            (
                experiment_id,
                artifact.name,
                artifact.sha256,
                artifact.size,
                artifact.media_type,
                sqlite_value(artifact.created_at),
            )
            for artifact in artifacts
        ],
    )
