"""The store as a process sees it: one lazily opened database, its write transactions, and its
read connections (which ``yanex.store.reading`` hands out).

A connection never crosses ``fork``; every write first checks that the file is still the one
opened; storage faults become ``DatabaseError``s (``yanex.db.faults``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from yanex import config
from yanex.db.connections import (
    NO_FORK_MID_TRANSACTION,
    begin_immediate,
    missing_database,
    open_read_only,
    open_writer,
    read_only_uri,
)
from yanex.errors import DatabaseReplacedError, YanexError


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the file, None when there is none."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return (status.st_dev, status.st_ino)


class Database:
    """A lazily opened store. Cheap to construct; opens, checks and upgrades on first use.

    Each process opens its own connection: a connection never crosses ``fork``. Every
    transaction translates storage faults into ``DatabaseError``s (``yanex.db.faults``), and every
    write first checks that the file is still the one opened: a database deleted or replaced under
    a running batch stops it with ``DatabaseReplacedError`` instead of writing into a lost file.
    """

    def __init__(self, url: str | None = None, *, identity: tuple[int, int] | None = None) -> None:
        """``identity`` is the (st_dev, st_ino) of the file another process of the same batch
        opened: this one then never creates a database, and refuses any other file."""
        self.url = url or config.database_url()
        self.path = config.sqlite_path(self.url, "database_url" if url else config.DATABASE_URL_ENV)
        self._writer: sqlite3.Connection | None = None
        self._owner_pid = -1
        self._inherited: list[sqlite3.Connection] = []  # a parent's connections, never used or closed
        self._identity = identity  # (st_dev, st_ino) of the file opened
        self._local = threading.local()  # this thread's write patience (see `impatient`)
        # The file a reader of this process found at the newest revision: opening it to write
        # then skips the check (``ensure_schema``), which would open one more connection.
        self._current: tuple[int, int] | None = None

    def exists(self) -> bool:
        """Whether there is a database file yet (reads never create one)."""
        return self.path.is_file() and self.path.stat().st_size > 0

    @property
    def identity(self) -> tuple[int, int]:
        """(st_dev, st_ino) of the database file, opening (and creating) it if need be."""
        self._open()
        assert self._identity is not None
        return self._identity

    def _open(self) -> sqlite3.Connection:
        """The writing connection, made on first use in each process.

        Once the file is known (opened before a fork, or handed over as ``identity``), a process
        re-opening it never creates a new one in its place. A connection made before a fork stays
        open, unused, in the child: closing it there could checkpoint or remove the WAL file the
        parent is using.
        """
        if self._writer is None or self._owner_pid != os.getpid():
            if self._writer is not None:
                self._inherited.append(self._writer)
                self._writer = None
            if self._identity is not None and self._replaced():
                raise self._replaced_error()
            from yanex.db.schema import ensure_schema

            try:
                if self._current is None or self._current != _file_identity(self.path):
                    ensure_schema(self.url)
                opened = os.stat(self.path)
                writer = open_writer(self.path)
            except YanexError:
                raise
            except Exception as error:
                raise self._translated(error) from error
            if self._identity is None:
                self._identity = (opened.st_dev, opened.st_ino)
            self._writer = writer
            self._owner_pid = os.getpid()
        return self._writer

    def _replaced(self) -> bool:
        found = _file_identity(self.path)
        return found is None or (self._identity is not None and found != self._identity)

    def _replaced_error(self) -> DatabaseReplacedError:
        return DatabaseReplacedError(
            f"the database file {self.path} was deleted or replaced while yanex was using it; "
            f"the metrics journals in {config.experiments_root()} are kept",
            hint="restore the database file (from a backup), then run `yanex db repair`: it reads what the "
            "journals hold beyond it",
        )

    def _translated(self, error: BaseException) -> BaseException:
        """The error a user can act on; ``error`` itself when it is no storage fault."""
        from yanex.db.faults import storage_error

        if self._identity is not None and self._replaced():
            return self._replaced_error()
        return storage_error(error, self.path) or error

    @contextmanager
    def _translating(self) -> Iterator[None]:
        try:
            yield
        except YanexError:
            raise
        except Exception as error:
            translated = self._translated(error)
            if translated is error:
                raise
            raise translated from error

    @contextmanager
    def impatient(self, seconds: float) -> Iterator[None]:
        """Writes of this thread inside the block wait at most ``seconds`` for another process's
        lock, then raise ``DatabaseBusyError`` (for writes a reader may skip)."""
        self._local.patience = seconds
        try:
            yield
        finally:
            self._local.patience = None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction holding the SQLite write lock from its first statement;
        committed when the block ends, rolled back if it raises. Rows come back as ``sqlite3.Row``.

        Statements are SQL text with ``?`` or ``:name`` parameters; times are bound as
        ``yanex.store.dialect.sqlite_value`` writes them.
        """
        with self._translating(), NO_FORK_MID_TRANSACTION:
            connection = self._open()
            begin_immediate(connection, str(self.path), getattr(self._local, "patience", None))
            try:
                if self._replaced():
                    raise self._replaced_error()
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                # SQLite has already rolled back after some errors (a full disk, an I/O error);
                # a failing ROLLBACK must not hide the error that caused it.
                if connection.in_transaction:
                    with suppress(sqlite3.Error):
                        connection.execute("ROLLBACK")
                raise

    @contextmanager
    def attached(self, path: Path, schema: str) -> Iterator[None]:
        """Another SQLite file, read-only (``mode=ro``), as ``schema`` in this process's write
        transactions while the block runs: ``yanex import`` copies from it with INSERT ... SELECT,
        in one transaction that reads one snapshot of it. ``schema`` is a name of ours, never
        user input."""
        with self._translating(), NO_FORK_MID_TRANSACTION:
            connection = self._open()
            connection.execute(f"ATTACH DATABASE ? AS {schema}", (read_only_uri(path),))
        try:
            yield
        finally:
            with NO_FORK_MID_TRANSACTION:
                connection.execute(f"DETACH DATABASE {schema}")

    def read_connection(self) -> sqlite3.Connection:
        """A new connection that cannot write (``mode=ro``), in autocommit mode, to the file at the
        newest schema revision: the read path's way in (``yanex.store.reading``), which closes it.

        The revision is checked on this connection, unless this process opened the file to write
        (which upgraded it); an older file is upgraded first, as by any first use. Reads never
        create a database.
        """
        from yanex.db.schema import head_revision, revision_of

        with self._translating():
            if self._identity is not None and self._replaced():
                raise self._replaced_error()
            if not self.exists():
                raise missing_database(self.path)
            connection = open_read_only(self.path)
            try:
                if not self._writing_here() and revision_of(connection, self.path) != head_revision():
                    connection.close()
                    self._open()  # upgrades it
                    connection = open_read_only(self.path)
                self._current = _file_identity(self.path)
                connection.isolation_level = None
            except BaseException:
                connection.close()
                raise
            return connection

    def _writing_here(self) -> bool:
        """Whether this process has the file open to write (opening it upgraded it)."""
        return self._writer is not None and self._owner_pid == os.getpid()

    def dispose(self) -> None:
        if self._writer is not None and self._owner_pid == os.getpid():
            self._writer.close()
        self._writer = None
