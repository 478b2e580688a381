"""The one engine factory: SQLite pragmas, IMMEDIATE write transactions, fork safety.

Writers begin with ``BEGIN IMMEDIATE`` so that two processes never both hold a read snapshot and then
race to upgrade it to a write lock (the source of "database is locked" under a busy timeout).
Readers begin a deferred transaction and, in WAL mode, never block writers.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from yanex import config

BUSY_TIMEOUT_MS = 60_000

# No fork while a thread of this process is inside a transaction: the child would inherit SQLite's
# in-memory view of the file's locks, and its own connections could then wait for locks that no
# process holds until the busy timeout says "database is locked" (seen when a batch started a
# replacement worker while its main thread was writing). Every transaction holds this lock, and
# os.fork (so multiprocessing's fork too) takes it first.
_NO_FORK_MID_TRANSACTION = threading.RLock()
os.register_at_fork(
    before=_NO_FORK_MID_TRANSACTION.acquire,
    after_in_parent=_NO_FORK_MID_TRANSACTION.release,
    after_in_child=_NO_FORK_MID_TRANSACTION.release,
)
_BEGIN_OPTION = "yanex_sqlite_begin"


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL, or None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser()


def open_read_only(path: Path) -> sqlite3.Connection:
    """A plain connection to a SQLite file that cannot write it (``mode=ro``, so no upgrade runs
    either) and waits out a writer's lock as long as the engine's connections do."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)


def create_sqlite_engine(url: str, *, foreign_keys: bool = True) -> Engine:
    """An engine whose connections carry yanex's pragmas and emit their own BEGIN."""
    # SQLAlchemy's default pool for a file keeps connections open between transactions: a batch
    # worker's few writes per experiment then cost ~0.4 ms each instead of ~2 ms (connect + pragmas).
    # An idle pooled connection holds no lock, and `Database` re-creates the engine after fork.
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that BEGIN IMMEDIATE is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def immediate(engine: Engine) -> Engine:
    """The same engine, but every transaction it begins takes the write lock at once."""
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


class Database:
    """A lazily opened store. Cheap to construct; opens, checks and upgrades on first use.

    The engine is re-created in a forked child: a connection never crosses ``fork``.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url or config.database_url()
        self._engine: Engine | None = None
        self._writer: Engine | None = None  # the engine, beginning every transaction IMMEDIATE
        self._owner_pid = -1

    @property
    def engine(self) -> Engine:
        return self._open()[0]

    def _open(self) -> tuple[Engine, Engine]:
        """The engine and its IMMEDIATE-writing twin, made on first use in each process."""
        if self._engine is None or self._writer is None or self._owner_pid != os.getpid():
            if self._engine is not None:
                self._engine.dispose(close=False)  # the parent's connections stay the parent's
            from yanex.db.schema import ensure_schema

            ensure_schema(self.url)
            self._engine = self._make_engine()
            self._writer = immediate(self._engine)
            self._owner_pid = os.getpid()
        return self._engine, self._writer

    def _make_engine(self) -> Engine:
        if make_url(self.url).get_backend_name() == "sqlite":
            return create_sqlite_engine(self.url)
        return create_engine(self.url, pool_pre_ping=True)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A short write transaction holding the SQLite write lock from its first statement.

        A Core connection, not an ORM session: writes are plain statements, and every state change
        of every experiment goes through here (measured: 0.2 ms per transaction against 0.5 ms
        through a Session).
        """
        writer = self._open()[1]
        with _NO_FORK_MID_TRANSACTION, writer.begin() as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A consistent read snapshot that never blocks writers."""
        engine = self.engine
        with _NO_FORK_MID_TRANSACTION, Session(engine) as session, session.begin():
            yield session

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = self._writer = None
