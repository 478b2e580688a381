"""``yanex db``: where the database is, which schema revision it has, and whether it is sound."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from yanex.db.engine import BUSY_TIMEOUT_MS, Database, open_read_only, sqlite_file
from yanex.db.models import ExperimentRow
from yanex.db.schema import current_revision, ensure_schema, head_revision, server_revision
from yanex.errors import UsageError
from yanex.specs import ACTIVE_STATUSES


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


class VacuumResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    bytes_before: int  # the database file and its write-ahead log
    bytes_after: int


def _file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def vacuum_database(db: Database) -> VacuumResult:
    """Rewrite the SQLite file without its free pages, and turn on ``auto_vacuum=INCREMENTAL`` so
    that from then on every delete gives its pages back at once (databases yanex creates have it).

    Refuses while an experiment is queued or running: their writes would wait for the rewrite.
    """
    path = sqlite_file(db.url)
    if path is None:
        raise UsageError("vacuum works on SQLite databases only", hint="use your database server's own tools")
    with db.read() as session:  # creates or upgrades the schema first, as every use does
        active = session.scalar(
            select(func.count())
            .select_from(ExperimentRow)
            .where(ExperimentRow.status.in_([s.value for s in ACTIVE_STATUSES]))
        )
    if active:
        raise UsageError(
            f"{active} experiment(s) are queued or running; their writes would wait for the vacuum",
            hint="vacuum when they have finished",
        )
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = _file_bytes(path)
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # takes effect through the VACUUM
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return VacuumResult(path=str(path), bytes_before=before, bytes_after=_file_bytes(path))
