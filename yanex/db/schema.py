"""Bring a database to the newest schema revision on first use, safely under concurrency.

The fast path is one read-only query. Only a database that needs an upgrade takes the file lock,
so the 16 jobs of a sweep that start together run the migration once, not 16 times.
"""

from __future__ import annotations

import fcntl
import importlib.util
import re
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from yanex import config
from yanex.db.connections import create_sqlite_engine, missing_database, open_read_only, sqlite_file
from yanex.errors import ConfigError, DatabaseError, reinstall_hint

SQLITE_HEADER = b"SQLite format 3\x00"
_REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")


def migrations_dir() -> Path:
    """The alembic scripts, shipped inside the package as ``yanex._migrations``."""
    spec = importlib.util.find_spec("yanex._migrations")
    if spec is None or not spec.submodule_search_locations:
        raise DatabaseError(
            "yanex's schema migrations are missing from this installation",
            hint=reinstall_hint(),
        )
    return Path(next(iter(spec.submodule_search_locations)))


def known_revisions() -> list[str]:
    """Revision ids in order; each revision file is named ``NNNN_slug.py`` with id ``NNNN``."""
    names = (_REVISION_FILE.match(p.name) for p in (migrations_dir() / "versions").iterdir())
    return sorted(m.group(1) for m in names if m)


def head_revision() -> str:
    return known_revisions()[-1]


def _has_sqlite_header(path: Path) -> bool:
    """Read only once SQLite has refused the file (see ``current_revision``)."""
    with path.open("rb") as handle:
        return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def current_revision(path: Path) -> str | None:
    """The revision of a yanex SQLite file, None for a missing or empty one.

    Raises for anything that is not a yanex database, or a newer one, without writing to it.
    """
    if not path.exists() or path.stat().st_size == 0:
        return None
    # The file is read through SQLite only: closing any other descriptor of it would drop the
    # POSIX locks this process's connections hold (then another process, believing itself the
    # last user, deletes the write-ahead log under them).
    conn = open_read_only(path)
    try:
        return revision_of(conn, path)
    finally:
        conn.close()


def revision_of(conn: sqlite3.Connection, path: Path) -> str | None:
    """``current_revision`` of the file ``conn`` has open (read-only): a reader checks the schema
    on the connection it then reads with."""
    # Every object, not only tables: a file holding only views is someone else's too.
    try:
        listed = conn.execute(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
        ).fetchall()
    except sqlite3.DatabaseError as error:
        if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_NOTADB or _has_sqlite_header(path):
            raise  # a damaged database: the storage-fault translation says so
        raise DatabaseError(
            f"{path} is not a SQLite database, so yanex will not use it (it was left untouched)",
            hint="set YANEX_HOME or YANEX_DATABASE_URL to a different location",
        ) from None
    foreign: dict[str, list[str]] = {}
    versioned = False
    for kind, name in listed:
        if (kind, name) == ("table", "alembic_version"):
            versioned = True
        else:
            foreign.setdefault(kind, []).append(name)
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone() if versioned else None
    if row is None:
        if foreign or versioned:  # yanex writes alembic_version and its row in one transaction
            found = "; ".join(f"{kind}s {', '.join(names[:5])}" for kind, names in foreign.items())
            found = f"it has {found}" if foreign else "its alembic_version table is empty"
            raise DatabaseError(
                f"{path} is not a yanex database ({found}); it was left untouched",
                hint="set YANEX_HOME or YANEX_DATABASE_URL to a different location",
            )
        return None
    _check_known(str(row[0]), str(path))
    return str(row[0])


def require_current(path: Path) -> None:
    """For readers that must not change the file: it exists and has the newest revision."""
    revision = current_revision(path)
    if revision is None:
        raise missing_database(path)
    if revision != head_revision():
        raise DatabaseError(
            f"the database {path} has schema revision {revision}, older than this yanex's "
            f"{head_revision()}; reading it as it is would not match the documented tables",
            hint="upgrade it with `yanex db upgrade` (any command that writes also does)",
        )


def _check_known(version: str, where: str) -> None:
    if version in known_revisions():
        return
    # Another project's alembic database has revision ids that are not ours at all.
    if re.fullmatch(r"\d{4}", version) and version > head_revision():
        raise DatabaseError(
            f"the database at {where} has schema revision {version}, newer than this yanex "
            f"knows (newest: {head_revision()})",
            hint=reinstall_hint(update=True),
        )
    raise DatabaseError(
        f"{where} is not a yanex database (its schema revision {version!r} is not yanex's); "
        "it was left untouched",
        hint="set YANEX_HOME or YANEX_DATABASE_URL to a different location",
    )


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_schema(url: str) -> None:
    """Create or upgrade the SQLite database at ``url`` to the newest revision."""
    path = sqlite_file(url)
    head = head_revision()
    if current_revision(path) == head:
        return
    if not path.parent.is_dir() and path.parent.resolve() != config.yanex_home().resolve():
        # Only YANEX_HOME is created: a mistyped URL must not leave a stray folder behind.
        raise ConfigError(
            f"the database {path} would be in {path.parent}, which is not an existing folder",
            hint="create the folder first, or fix the database URL",
        )
    with _file_lock(path.with_name(path.name + ".lock")):
        if current_revision(path) != head:
            upgrade(url)


def _create_sqlite_file(path: Path) -> None:
    """A new database that gives the pages of deleted rows back to the file system (see
    ``store.manage``): auto_vacuum can only be chosen before the first page is written, so here,
    before the engine's first connection writes the file in WAL mode."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()


def upgrade(url: str) -> None:
    """Run every pending alembic revision in one IMMEDIATE transaction.

    SQLite migrations run with foreign keys off: a batch rebuild of a parent table with them on
    would cascade-delete every child row. The foreign keys are checked before commit instead.
    """
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    path = sqlite_file(url)
    if not path.exists() or path.stat().st_size == 0:
        _create_sqlite_file(path)
        _notice_file_yanex()
    before = current_revision(path)
    engine = create_sqlite_engine(url, foreign_keys=False)
    try:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise DatabaseError(
                    f"schema upgrade would leave {len(broken)} dangling references; nothing was changed",
                    hint="run `yanex db check` and report the output",
                )
    finally:
        engine.dispose()
    if before is not None and before < GLOBAL_IDS:
        _rename_short_id_folders(path)


def _notice_file_yanex() -> None:
    """A new database in a home where the file-based yanex 0.x keeps experiments: say how to import
    them, once (they stay in their folders, which this yanex never writes to)."""
    from yanex import file_yanex

    experiments = config.experiments_root()
    if count := file_yanex.count(experiments):
        print(
            f"yanex: {file_yanex.found(experiments, count)}; import them with "
            f"{file_yanex.import_command(experiments)}",
            file=sys.stderr,
            flush=True,
        )


GLOBAL_IDS = "0013"  # the revision that made ids 32 digits long, extending each 8-digit one


def _rename_short_id_folders(path: Path) -> None:
    """Experiment folders named by 8-digit ids take their experiment's new 32-digit id.

    After the upgrade commits, not inside it: a rename would outlive a rolled-back transaction.
    """
    conn = open_read_only(path)
    try:
        ids = [str(row[0]) for row in conn.execute("SELECT id FROM experiments")]
    finally:
        conn.close()
    folders = config.experiments_root()
    for full in ids:
        short, target = folders / full[:8], folders / full
        if short.is_dir() and not target.exists():
            short.rename(target)
