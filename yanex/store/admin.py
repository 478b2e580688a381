"""``yanex db``: where the database is, which schema revision it has, and whether it is sound."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from yanex.db.engine import Database, open_read_only, sqlite_file
from yanex.db.schema import current_revision, ensure_schema, head_revision, server_revision


class DatabaseStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    url: str
    path: str | None  # the SQLite file, None for other databases
    revision: str | None  # None: not created yet
    head: str
    problems: list[str] = []


def _revision(url: str) -> str | None:
    path = sqlite_file(url)
    return server_revision(url) if path is None else current_revision(path)


def database_status(db: Database) -> DatabaseStatus:
    """Location and revision, without creating or upgrading anything."""
    path = sqlite_file(db.url)
    return DatabaseStatus(
        url=db.url, path=None if path is None else str(path), revision=_revision(db.url), head=head_revision()
    )


def upgrade_database(db: Database) -> DatabaseStatus:
    """Create the database or bring it to the newest revision (a no-op when it is current)."""
    ensure_schema(db.url)
    return database_status(db)


def check_database(db: Database) -> DatabaseStatus:
    """Status plus every problem found: integrity, dangling references, an outdated schema."""
    status = database_status(db)
    problems: list[str] = []
    if status.revision is None:
        return status.model_copy(update={"problems": ["no database yet (it is created on first use)"]})
    if status.revision != status.head:
        problems.append(f"schema revision {status.revision} is behind {status.head}: run `yanex db upgrade`")
    path = sqlite_file(db.url)
    if path is not None:
        # A plain read-only connection: checking must not upgrade the schema as Database would.
        conn = open_read_only(path)
        try:
            integrity = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
            if integrity != ["ok"]:
                problems += [f"integrity: {line}" for line in integrity]
            dangling = conn.execute("PRAGMA foreign_key_check").fetchall()
            if dangling:
                problems.append(f"{len(dangling)} rows refer to missing rows (PRAGMA foreign_key_check)")
        finally:
            conn.close()
    return status.model_copy(update={"problems": problems})
