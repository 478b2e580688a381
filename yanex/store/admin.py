"""``yanex db``: where the database is, which schema revision it has, and whether it is sound."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from yanex.db.connections import BUSY_TIMEOUT_MS, open_read_only
from yanex.db.engine import Database
from yanex.db.schema import current_revision, ensure_schema, head_revision
from yanex.errors import UsageError
from yanex.specs import ACTIVE_STATUSES
from yanex.store.reading import reading


class DatabaseStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    url: str
    path: str
    revision: str | None  # None: not created yet
    head: str
    problems: list[str] = []


def _damage(error: sqlite3.DatabaseError) -> str:
    """The problem line for a file SQLite finds damaged; re-raises any other error."""
    if getattr(error, "sqlite_errorcode", 0) & 0xFF not in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        raise error
    return f"the file is damaged: {error}"


def database_status(db: Database) -> DatabaseStatus:
    """Location and revision, without creating or upgrading anything."""
    return DatabaseStatus(
        url=db.url, path=str(db.path), revision=current_revision(db.path), head=head_revision()
    )


def upgrade_database(db: Database) -> DatabaseStatus:
    """Create the database or bring it to the newest revision (a no-op when it is current)."""
    ensure_schema(db.url)
    return database_status(db)


def check_database(db: Database) -> DatabaseStatus:
    """Status plus every problem found: damage, dangling references, an outdated schema.

    A damaged file is reported as a problem, not raised: this is the command that looks at it.
    """
    try:
        status = database_status(db)
    except sqlite3.DatabaseError as error:
        damaged = _damage(error)
        return DatabaseStatus(
            url=db.url, path=str(db.path), revision=None, head=head_revision(), problems=[damaged]
        )
    if status.revision is None:
        return status.model_copy(update={"problems": ["no database yet (it is created on first use)"]})
    problems: list[str] = []
    if status.revision != status.head:
        problems.append(f"schema revision {status.revision} is behind {status.head}: run `yanex db upgrade`")
    # A plain read-only connection: checking must not upgrade the schema as Database would.
    conn = open_read_only(db.path)
    try:
        integrity = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            problems += [f"integrity: {line}" for line in integrity]
        dangling = conn.execute("PRAGMA foreign_key_check").fetchall()
        if dangling:
            problems.append(f"{len(dangling)} rows refer to missing rows (PRAGMA foreign_key_check)")
    except sqlite3.DatabaseError as error:
        problems.append(_damage(error))
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
    path = db.path
    ensure_schema(db.url)  # creates or upgrades it first, as every use does
    active_sql = ", ".join(f"'{status.value}'" for status in ACTIVE_STATUSES)
    with reading(db, settle=False) as read:
        (active,) = read.execute(
            f"SELECT count(*) FROM experiments WHERE status IN ({active_sql})"
        ).fetchone()
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
