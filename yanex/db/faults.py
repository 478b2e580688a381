"""The one translation of storage faults (SQLite, SQLAlchemy, the operating system) into the error
tree, each with a hint; ``Database`` applies it to every transaction and the CLI edge to the rest.

Only faults of the storage are translated: an error this module does not recognise (a bug, a
constraint violated by yanex's own code) is returned as None and keeps its traceback.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
from pathlib import Path

from yanex import config
from yanex.errors import DatabaseBusyError, DatabaseError, ReadOnlyDatabaseError, YanexError

_MOVE_HINT = "or point YANEX_HOME (or YANEX_DATABASE_URL) at another location"


def _where(path: Path | None) -> str:
    return str(path) if path is not None else "the yanex database"


def _sqlite(error: sqlite3.Error, path: Path | None) -> DatabaseError | None:
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
    where = _where(path)
    if code == sqlite3.SQLITE_READONLY:
        return ReadOnlyDatabaseError(
            f"the database {where} is read-only here (the file, its folder or its mount), so yanex "
            "could not write to it",
            hint=f"make the file and its folder writable (yanex also writes the -wal and -shm files "
            f"beside it), {_MOVE_HINT}",
        )
    if code == sqlite3.SQLITE_FULL:
        return DatabaseError(
            f"the disk holding {where} is full; the write was rolled back",
            hint="free some space, then run the command again",
        )
    if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return DatabaseError(
            f"the database file {where} is damaged ({error})",
            hint="see what `yanex db check` reports; restore the file from a backup or move it "
            f"aside to start a new database, {_MOVE_HINT}",
        )
    if code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
        return DatabaseError(
            f"cannot open the database {where} ({error})",
            hint=f"check that its folder exists and that you may read and write it, {_MOVE_HINT}",
        )
    if code == sqlite3.SQLITE_IOERR:
        return DatabaseError(
            f"the disk holding {where} reported an I/O error ({error})",
            hint="check the disk and its free space, then run `yanex db check`",
        )
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return DatabaseBusyError(
            f"the database {where} stayed locked by another process ({error})",
            hint="see which process holds it with `fuser` or `lsof`, then try again",
        )
    return None


def _os(error: OSError) -> DatabaseError | None:
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        # A write to an open file (the output, a log) names no file.
        target = error.filename or "yanex's output or one of its files"
        return DatabaseError(
            f"no space left writing {target}: {error.strerror}",
            hint="free some space (or send the output where there is room), then run the command again",
        )
    target = error.filename or "a file yanex needed"
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return ReadOnlyDatabaseError(
            f"yanex may not use {target}: {error.strerror}",
            hint=f"make it (and its folder) writable, {_MOVE_HINT}",
        )
    if error.errno in (errno.ENOTDIR, errno.EEXIST) and error.filename is not None:
        return DatabaseError(
            f"cannot create {target}: part of that path is a file, not a folder",
            hint=f"move that file away, {_MOVE_HINT}",
        )
    if error.errno == errno.ENOENT:
        try:
            os.getcwd()
        except FileNotFoundError:
            return DatabaseError(
                "the current directory no longer exists (it was deleted after this shell entered it)",
                hint="cd to an existing directory and run the command again",
            )
    return None


def storage_error(error: BaseException, path: Path | None = None) -> DatabaseError | None:
    """``error`` as the ``DatabaseError`` a user can act on, or None if it is not a storage fault.

    ``path`` is the database file when known; SQLAlchemy's wrapper (and its "Background on this
    error" link) is dropped for the SQLite error inside it.
    """
    if "sqlalchemy" in sys.modules:
        from sqlalchemy.exc import DBAPIError

        if isinstance(error, DBAPIError) and isinstance(error.orig, BaseException):
            error = error.orig
    if isinstance(error, sqlite3.Error):
        return _sqlite(error, path)
    if isinstance(error, OSError):
        return _os(error)
    return None


def default_database() -> Path | None:
    """The database file in use, for messages; None when the settings themselves are invalid."""
    try:
        return config.sqlite_path(config.database_url())
    except YanexError:
        return None
