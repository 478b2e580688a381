"""Opening SQLite connections: yanex's pragmas, IMMEDIATE write transactions, fork safety.

Every statement yanex runs is SQL text with bound parameters on the DB-API driver (``sqlite3``):
read-only connections for reads (``open_read_only``), one writing connection per process for
writes (``open_writer``, used by ``yanex.db.engine.Database``). SQLAlchemy declares the schema
(``yanex.db.models``) and alembic migrates it; they load only when a file needs creating or
upgrading (``create_sqlite_engine``), so neither a query command nor a batch's orchestrator pays
their import (0.15 s).

Writers begin with ``BEGIN IMMEDIATE`` so that two processes never both hold a read snapshot and then
race to upgrade it to a write lock (the source of "database is locked" under a busy timeout).
Readers begin a deferred transaction and, in WAL mode, never block writers.

In WAL mode only writers conflict, and only at that ``BEGIN IMMEDIATE``: once it succeeds, no other
process can make the transaction fail. So that is where a writer waits out another process's lock,
however long it is held (a ``sqlite3`` shell left inside ``BEGIN EXCLUSIVE``): it retries, says so
once on stderr, and goes on when the lock is released.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from yanex import config
from yanex.errors import DatabaseBusyError, NoDatabaseError

if TYPE_CHECKING:  # SQLAlchemy loads only to create or upgrade the schema (yanex.db.schema)
    from sqlalchemy import Engine

# How long any other statement waits for a lock. In WAL mode a reader waits only for rare,
# short events (recovery after a crash), never for a writer.
BUSY_TIMEOUT_MS = 60_000

# No fork while a thread of this process is inside a transaction: the child would inherit SQLite's
# in-memory view of the file's locks, and its own connections could then wait for locks that no
# process holds until the busy timeout says "database is locked" (seen when a batch started a
# replacement worker while its main thread was writing). Every transaction holds this lock, and
# os.fork (so multiprocessing's fork too) takes it first.
NO_FORK_MID_TRANSACTION = threading.RLock()
os.register_at_fork(
    before=NO_FORK_MID_TRANSACTION.acquire,
    after_in_parent=NO_FORK_MID_TRANSACTION.release,
    after_in_child=NO_FORK_MID_TRANSACTION.release,
)


def missing_database(path: Path) -> NoDatabaseError:
    from yanex import file_yanex

    experiments = config.experiments_root()
    if count := file_yanex.count(experiments):  # the file-based yanex 0.x's home
        return NoDatabaseError(
            f"no yanex database yet, but {file_yanex.found(experiments, count)}",
            hint=f"import them (only read): {file_yanex.import_command(experiments)}",
        )
    return NoDatabaseError(
        f"there is no yanex database at {path} yet",
        hint="it is created when the first experiment runs; check YANEX_HOME or YANEX_DATABASE_URL",
    )


def sqlite_file(url: str) -> Path:
    """The database file of a yanex URL (``yanex.config.sqlite_path`` refuses any other URL)."""
    return config.sqlite_path(url)


class _LockNotice:
    """One line on stderr when writes start waiting for another process's lock, one when they go on.

    Batch workers stay quiet: their orchestrator waits for the same lock and says it once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None

    def _quiet(self) -> bool:
        multiprocessing = sys.modules.get("multiprocessing")
        return multiprocessing is not None and multiprocessing.parent_process() is not None

    def waiting(self, path: str, since: float) -> None:
        with self._lock:
            if self._since is not None:
                return
            self._since = since
        if not self._quiet():
            print(
                f"yanex: waiting for another process's write lock on {path} ... "
                "(nothing is lost; yanex goes on once it is released)",
                file=sys.stderr,
                flush=True,
            )

    def resumed(self, path: str) -> None:
        with self._lock:
            since, self._since = self._since, None
        if since is not None and not self._quiet():
            print(
                f"yanex: got the write lock on {path} after {time.monotonic() - since:.0f} s; going on",
                file=sys.stderr,
                flush=True,
            )


_LOCK_NOTICE = _LockNotice()


def begin_immediate(dbapi_connection: Any, path: str, patience: float | None) -> None:
    """``BEGIN IMMEDIATE``, retried for as long as another process holds the write lock.

    With ``patience`` (seconds), gives up after that long with ``DatabaseBusyError`` instead.
    """
    attempt = patience if patience is not None else config.lock_notice_after()
    started = time.monotonic()
    waited = False
    dbapi_connection.execute(f"PRAGMA busy_timeout = {int(attempt * 1000)}")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
            if patience is not None:
                raise DatabaseBusyError(
                    f"another process held the write lock on {path} for over {patience:g} s",
                    hint="try again once it is released",
                )
            waited = True
            _LOCK_NOTICE.waiting(path, started)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if waited:
        _LOCK_NOTICE.resumed(path)


def _unshareable(path: Path) -> bool:
    """True for a database in a folder nobody may write, without its -wal and -shm files.

    SQLite cannot then set up the shared memory a WAL database needs, even to read; it can read
    the file as immutable, which is exact as long as no writer can change it (none can: a
    writer would need those files too).
    """
    return not os.access(path.parent, os.W_OK) and not any(
        path.with_name(path.name + suffix).exists() for suffix in ("-wal", "-shm")
    )


def read_only_uri(path: Path) -> str:
    """The URI that opens (or ATTACHes) ``path`` so that nothing can write it."""
    return f"{path.resolve().as_uri()}?mode=ro{'&immutable=1' if _unshareable(path) else ''}"


def open_read_only(path: Path) -> sqlite3.Connection:
    """A plain connection to a SQLite file that cannot write it (``mode=ro``, so no upgrade runs
    either) and waits out a writer's lock as long as the engine's connections do."""
    return sqlite3.connect(read_only_uri(path), uri=True, timeout=BUSY_TIMEOUT_MS / 1000)


def _on_connect(dbapi_connection: sqlite3.Connection, *, foreign_keys: bool = True) -> None:
    """yanex's pragmas, and transaction control taken from pysqlite: BEGIN is ours to emit."""
    dbapi_connection.isolation_level = None
    dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    dbapi_connection.execute("PRAGMA journal_mode = WAL")
    dbapi_connection.execute("PRAGMA synchronous = NORMAL")
    dbapi_connection.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")


def open_writer(path: Path) -> sqlite3.Connection:
    """A connection that writes, for ``Database.write`` (transactions of one process take turns on
    it: each holds ``NO_FORK_MID_TRANSACTION``)."""
    # A file that only reads can serve (see `_unshareable`) opens read-only: writes then fail as
    # "read-only", which readers may skip, instead of "cannot open". Opened by URI either way, so
    # that an ATTACH on it reads URIs too (``Database.attached``) where SQLite's build does not.
    target = read_only_uri(path) if _unshareable(path) else path.resolve().as_uri()
    connection = sqlite3.connect(target, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    _on_connect(connection)
    connection.row_factory = sqlite3.Row
    return connection


def create_sqlite_engine(url: str, *, foreign_keys: bool = True) -> Engine:
    """An SQLAlchemy engine with yanex's pragmas, for alembic's migrations (``yanex.db.schema``)."""
    import logging

    from sqlalchemy import create_engine, event

    from yanex import interrupts

    path = sqlite_file(url)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    # The pool logs a KeyboardInterrupt that lands while it closes a connection, then raises it on.
    pool_logger = engine.pool.logger
    cast(logging.Logger, getattr(pool_logger, "logger", pool_logger)).addFilter(interrupts.not_interrupted)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        _on_connect(dbapi_connection, foreign_keys=foreign_keys)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        begin_immediate(connection.connection.driver_connection, str(path), None)

    return engine
