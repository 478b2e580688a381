"""The one way in for reads: settle dead owners once, then one read-only snapshot.

Every read (the query commands, ``yanex.find`` and friends, the runner's look-ups) goes through
``reading``, which hands a plain sqlite3 connection that cannot write to read functions that take
only that connection. The one write a read may cause happens here, before the snapshot, and only
when an open row's owner looks dead: marking such rows failed (``yanex.store.reconcile``), if the
database can be written at once. One query finds the (few) open rows and their owners; the write
path loads only when one is dead.

A read opens one connection (and the settling writer, when there is something to settle): the
schema revision is checked on it, the owners are checked on it, and its snapshot serves every read
of the command.
"""

from __future__ import annotations

import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from yanex.errors import DatabaseBusyError, DatabaseError, ReadOnlyDatabaseError, YanexWarning
from yanex.status import OPEN_STATUSES
from yanex.store.dialect import marks
from yanex.store.owned import BATCH_OWNED_HERE, EXPERIMENT_OWNED_HERE

if TYPE_CHECKING:
    from yanex.db.engine import Database

# Seconds a reader's settling may wait for the write lock: a reader never waits behind a writer.
READER_PATIENCE = 0.5


@contextmanager
def reading(db: Database, *, settle: bool = True) -> Iterator[sqlite3.Connection]:
    """A read-only connection holding one snapshot, for the read functions of ``yanex.store``.

    With ``settle`` (readers that show statuses), open rows whose owner is dead are settled first;
    when that write cannot be made (a read-only or busy database, a full disk) the rows are read as
    recorded and a ``YanexWarning`` names them. Without it, nothing is written (``yanex watch``, and
    writers that settle rows themselves). Reads never create a database (``NoDatabaseError``).
    """
    conn = db.read_connection()
    try:
        if settle and _dead_owner(conn):
            _settle(db, conn)
        conn.execute("BEGIN")
        yield conn
    finally:
        conn.close()


def _dead_owner(conn: sqlite3.Connection) -> bool:
    """Whether an open row or an unended batch has an owner that looks dead (``yanex.owners``)."""
    from yanex import config

    fresh = timedelta(seconds=config.stale_after())  # a bad setting is an error, running or not
    owners = conn.execute(
        "SELECT owner_host, owner_pid, heartbeat_at, COALESCE(started_at, created_at) "
        f"FROM experiments WHERE status IN ({marks(len(OPEN_STATUSES))}) AND {EXPERIMENT_OWNED_HERE} "
        "UNION ALL SELECT owner_host, owner_pid, heartbeat_at, created_at FROM batches "
        f"WHERE ended_at IS NULL AND {BATCH_OWNED_HERE}",
        OPEN_STATUSES,
    ).fetchall()
    if not owners:  # nothing is running: no owner to look up (nor its socket module to import)
        return False
    from yanex.owners import owner_may_be_alive

    def moment(text: str | None) -> datetime | None:
        return datetime.fromisoformat(text) if text else None

    now = datetime.now(UTC).replace(tzinfo=None)
    return any(
        not owner_may_be_alive(host, pid, moment(beat), moment(since), now, fresh)
        for host, pid, beat, since in owners
    )


def _settle(db: Database, conn: sqlite3.Connection) -> None:
    """Settle the rows of dead owners if the database can be written within ``READER_PATIENCE``;
    else warn that the open rows may be stale."""
    from yanex.store.reconcile import reconcile_orphans

    try:
        with db.impatient(READER_PATIENCE):
            reconcile_orphans(db)
    except DatabaseError as error:
        query = (
            f"SELECT id FROM experiments WHERE status IN ({marks(len(OPEN_STATUSES))}) "
            f"AND {EXPERIMENT_OWNED_HERE} ORDER BY id"
        )
        active = [row[0] for row in conn.execute(query, OPEN_STATUSES)]
        if active:
            why = {
                ReadOnlyDatabaseError: "the database is read-only",
                DatabaseBusyError: "the database is locked by another writer",
            }.get(type(error), error.message)
            shown = ", ".join(active[:10]) + (", ..." if len(active) > 10 else "")
            warnings.warn(
                YanexWarning(
                    f"{why}, so rows of experiments whose process died could not be marked "
                    f"failed; these {len(active)} queued or running row(s) are shown as recorded "
                    f"and may be stale: {shown}"
                ),
                stacklevel=4,
            )


__all__ = ["READER_PATIENCE", "reading"]
