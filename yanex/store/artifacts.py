"""Recording artifacts in the database, as their journal lines are ingested."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection
from sqlalchemy.dialects.sqlite import insert

from yanex.artifacts.lines import ArtifactLine
from yanex.db.models import ArtifactRow


def record_artifacts(conn: Connection, experiment_id: str, artifacts: Sequence[ArtifactLine]) -> None:
    """Insert each artifact; a name saved again takes its newer content (journal order)."""
    for artifact in artifacts:
        statement = insert(ArtifactRow).values(
            experiment_id=experiment_id,
            name=artifact.name,
            sha256=artifact.sha256,
            size=artifact.size,
            media_type=artifact.media_type,
            created_at=artifact.created_at,
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[ArtifactRow.experiment_id, ArtifactRow.name],
                set_={
                    "sha256": statement.excluded.sha256,
                    "size": statement.excluded.size,
                    "media_type": statement.excluded.media_type,
                    "created_at": statement.excluded.created_at,
                },
            )
        )
