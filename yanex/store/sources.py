"""What ``yanex import`` reads: a source, and the ``yanex`` kind of source (``yanex.importers``
holds the registry of every kind, other trackers' among them).

A kind recognises its sources and opens one as a yanex database at this yanex's schema revision
plus the files of its home (``yanex.store.bundle``), which ``yanex.store.importing`` then imports.
The ``yanex`` kind is an export file, another store's folder, or a database file; another
tracker's store is converted into a yanex home in the scratch folder (``yanex.store.foreign``).

A source is only read: its database is opened with ``mode=ro`` (an export file's is copied out of
the tar first), and one at another schema revision is refused, never upgraded in place. Upgrading
a copy is no answer for a store made before revision 0013: the upgrade extends each 8-digit id
with random digits, so each copy would give the same experiment another id.
"""

from __future__ import annotations

import sqlite3
import tarfile
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from yanex.errors import DatabaseError, UsageError
from yanex.store.bundle import (
    BLOBS,
    DATABASE,
    EXPERIMENTS,
    FolderHome,
    HomeFiles,
    TarHome,
    extract_database,
    first_member,
)

_SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Source:
    """An opened source: its database (at this yanex's revision) and its home's files, None when
    a database file came without them."""

    path: Path  # as the user named it
    what: str  # "export file", "store folder", "database file"
    database: Path
    files: HomeFiles | None
    # Nothing else reads or writes ``database``: a copy made for this import (an export file's)
    still: bool = False


@dataclass(frozen=True)
class Kind:
    """A kind of source: whether a path is one, and how to open it (in a scratch folder that
    lives as long as the import)."""

    detect: Callable[[Path], bool]
    open: Callable[[Path, Path], Source]


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER


def _is_yanex(path: Path) -> bool:
    if path.is_dir():
        return (path / DATABASE).is_file()
    return path.is_file() and (first_member(path) == DATABASE or _is_sqlite(path))


def _open_yanex(path: Path, scratch: Path) -> Source:
    if path.is_dir():
        if not (path / DATABASE).is_file():
            raise UsageError(
                f"{path} holds no {DATABASE}, so it is no yanex home",
                hint="pass the folder YANEX_HOME named on the other machine, or an export file",
            )
        source = Source(path, "store folder", path / DATABASE, FolderHome(path))
    elif first_member(path) == DATABASE:
        source = _open_export(path, scratch)
    elif _is_sqlite(path):
        folder = path.parent
        # A database file in a yanex home (a YANEX_DATABASE_URL may name one anywhere else).
        in_home = (folder / EXPERIMENTS).is_dir() or (folder / BLOBS).is_dir()
        source = Source(path, "database file", path, FolderHome(folder) if in_home else None)
    else:
        raise UsageError(
            f"{path} is no yanex export file, yanex home or yanex database",
            hint="pass a file `yanex export` wrote, another store's YANEX_HOME folder, or its yanex.db",
        )
    try:
        _check_revision(source)
    except BaseException:
        if source.files is not None:
            source.files.close()
        raise
    return source


def _open_export(path: Path, scratch: Path) -> Source:
    """An export file, its members indexed (which reads every header: a file cut short by an
    interrupted copy is refused here, before anything is imported)."""
    try:
        home = TarHome(path)
    except (tarfile.TarError, EOFError) as error:
        raise UsageError(
            f"the export file {path} is cut short or damaged ({error}); nothing was imported",
            hint="copy it again (an interrupted scp or rsync leaves part of it), or export it again",
        ) from None
    try:
        member = home.database()
        assert member is not None  # its first member
        return Source(path, "export file", extract_database(home, member, scratch), home, still=True)
    except BaseException:
        home.close()
        raise


def _check_revision(source: Source) -> None:
    from yanex.db.connections import open_read_only
    from yanex.db.schema import head_revision, revision_of

    with closing(open_read_only(source.database)) as conn:
        try:
            revision = revision_of(conn, source.database)
        except DatabaseError as error:  # another program's, or a newer yanex's
            raise DatabaseError(
                f"cannot import the {source.what} {source.path}: {error.message}", error.hint
            ) from None
        except sqlite3.DatabaseError as error:
            raise DatabaseError(
                f"the {source.what} {source.path} holds a damaged database ({error}); nothing was imported",
                hint="export it again, or copy it again from the other machine",
            ) from None
    head = head_revision()
    if revision is None:
        raise UsageError(f"the {source.what} {source.path} holds an empty database: nothing to import")
    if revision < head:
        how = (
            f"upgrade that store first with `YANEX_HOME={source.path} yanex db upgrade`"
            if source.what == "store folder"
            else "upgrade its store first (`yanex db upgrade` there), then export again"
        )
        raise DatabaseError(
            f"the {source.what} {source.path} has schema revision {revision}, older than this yanex's "
            f"{head}; nothing was imported",
            hint=f"{how}: its ids are extended once, there, so that every store knows its experiments "
            "by the same ids",
        )


YANEX = Kind(_is_yanex, _open_yanex)
