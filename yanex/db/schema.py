"""Bring a database to the newest schema revision on first use, safely under concurrency.

The fast path is one read-only query. Only a database that needs an upgrade takes the file lock,
so the 16 jobs of a sweep that start together run the migration once, not 16 times.
"""

from __future__ import annotations

import fcntl
import importlib.util
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from yanex import config
from yanex.db.engine import create_sqlite_engine, immediate, open_read_only, sqlite_file
from yanex.errors import DatabaseError

SQLITE_HEADER = b"SQLite format 3\x00"
_REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")


def migrations_dir() -> Path:
    """The alembic scripts, shipped inside the package as ``yanex._migrations``."""
    spec = importlib.util.find_spec("yanex._migrations")
    if spec is None or not spec.submodule_search_locations:
        raise DatabaseError(
            "yanex's schema migrations are missing from this installation",
            hint="reinstall yanex from its source checkout with `pip install -e .`",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def known_revisions() -> list[str]:
    """Revision ids in order; each revision file is named ``NNNN_slug.py`` with id ``NNNN``."""
    names = (_REVISION_FILE.match(p.name) for p in (migrations_dir() / "versions").iterdir())
    return sorted(m.group(1) for m in names if m)


def head_revision() -> str:
    return known_revisions()[-1]


def current_revision(path: Path) -> str | None:
    """The revision of a yanex SQLite file, None for a missing or empty one.

    Raises for anything that is not a yanex database, or a newer one, without writing to it.
    """
    if not path.exists() or path.stat().st_size == 0:
        return None
    with path.open("rb") as handle:
        if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise DatabaseError(
                f"{path} is not a SQLite database, so yanex will not use it (it was left untouched)",
                hint="set YANEX_HOME or YANEX_DATABASE_URL to a different location",
            )
    conn = open_read_only(path)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = None
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            version = row[0] if row else None
    finally:
        conn.close()
    if version is None:
        foreign = sorted(tables - {"alembic_version"})
        if foreign:
            raise DatabaseError(
                f"{path} is not a yanex database (it has tables {', '.join(foreign[:5])}); "
                "it was left untouched",
                hint="set YANEX_HOME or YANEX_DATABASE_URL to a different location",
            )
        return None
    _check_known(version, str(path))
    return str(version)


def _check_known(version: str, where: str) -> None:
    if version in known_revisions():
        return
    # Another project's alembic database has revision ids that are not ours at all.
    if re.fullmatch(r"\d{4}", version) and version > head_revision():
        raise DatabaseError(
            f"the database at {where} has schema revision {version}, newer than this yanex "
            f"knows (newest: {head_revision()})",
            hint="upgrade yanex (`pip install --upgrade yanex`) to the version that wrote this database",
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
    """Create or upgrade the database at ``url`` to the newest revision."""
    path = sqlite_file(url)
    if path is None:
        _ensure_other(url)
        return
    head = head_revision()
    if current_revision(path) == head:
        return
    with _file_lock(path.with_name(path.name + ".lock")):
        if current_revision(path) != head:
            upgrade(url)


def _create_sqlite_file(path: Path) -> None:
    """A new database that gives the pages of deleted rows back to the file system (see
    ``store.manage``): auto_vacuum can only be chosen before the first page is written, so here,
    before the engine's first connection writes the file in WAL mode."""
    import sqlite3

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
    if path is None:
        from sqlalchemy import create_engine

        engine = create_engine(url)
    else:
        if not path.exists() or path.stat().st_size == 0:
            _create_sqlite_file(path)
        engine = immediate(create_sqlite_engine(url, foreign_keys=False))
    try:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
            if engine.dialect.name == "sqlite":
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise DatabaseError(
                        f"schema upgrade would leave {len(broken)} dangling references; nothing was changed",
                        hint="run `yanex db check` and report the output",
                    )
    finally:
        engine.dispose()


def server_revision(url: str) -> str | None:
    """The revision of a database server other than SQLite, None before yanex created its tables."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            return None if found is None else str(found)
    finally:
        engine.dispose()


def _ensure_other(url: str) -> None:
    """Servers other than SQLite: same contract, locked through a file in YANEX_HOME."""
    head = head_revision()
    found = server_revision(url)
    if found == head:
        return
    if found is not None:
        _check_known(found, url)
    with _file_lock(config.yanex_home() / "schema.lock"):
        if server_revision(url) != head:
            upgrade(url)
