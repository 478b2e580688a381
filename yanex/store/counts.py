"""How many experiments a filter selects, remembered while the store does not change.

Counting a filter's selection is the one read of a page of 100,000 experiments that walks them
all (38 ms for the whole table, 330 ms for a ``where`` on a param matching a quarter of them),
while the page itself reads 100 rows from an index. A reader that asks again and again (the web
view paging or re-sorting one filter) keeps the count it made, and keys it by the file's identity
(``st_dev``, ``st_ino``: a replaced database recounts) and ``PRAGMA data_version`` read on one
connection of its own, which changes whenever another connection commits. A count is only ever
shown for a snapshot that sees exactly the store it was made on:

- the version is read *before* the snapshot a count is made in begins, so a commit landing
  between the two makes the stored key older than the count: the next look finds a newer
  version and counts again;
- a kept count is used only if the version read *after* the asking snapshot began equals its key,
  so no commit lies between the snapshot the count was made in and the one asking.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from pathlib import Path

from yanex.store.dialect import Sql

KEPT = 64  # filters remembered; each is a few hundred bytes

Identity = tuple[int, int]
Version = tuple[Identity, int]  # the file's identity, and data_version on the watching connection
Key = tuple[str, tuple[tuple[str, object], ...]]  # a selection's SQL text and parameters


class SelectionCounts:
    """Counts of filters' selections on the SQLite file at ``path``, for one process's threads."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._watcher: sqlite3.Connection | None = None
        self._watched: Identity | None = None
        self._kept: OrderedDict[Key, tuple[Version, int]] = OrderedDict()

    def version(self) -> Version | None:
        """The store's version now; None when there is no file (nothing is then kept)."""
        from yanex.db.connections import read_only_uri

        try:
            status = os.stat(self._path)
        except FileNotFoundError:
            return None
        identity = (status.st_dev, status.st_ino)
        with self._lock:
            if self._watcher is None or self._watched != identity:
                if self._watcher is not None:
                    self._watcher.close()
                # Autocommit, so it never holds a snapshot; shared by the server's threads.
                self._watcher = sqlite3.connect(read_only_uri(self._path), uri=True, check_same_thread=False)
                self._watcher.isolation_level = None
                self._watched = identity
                self._kept.clear()
            (number,) = self._watcher.execute("PRAGMA data_version").fetchone()
        return identity, int(number)

    def count(self, conn: sqlite3.Connection, selection: Sql, before: Version | None) -> int:
        """``SELECT COUNT(*)`` of ``selection`` in ``conn``'s snapshot, or the count kept for it.

        ``before`` is ``version()`` read before ``conn``'s transaction began (see the module's
        docstring); ``conn`` must be inside that transaction (``yanex.store.reading``).
        """
        params = selection.sqlite_params()
        key: Key = (selection.text, tuple(sorted(params.items())))
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # the snapshot begins here
        now = self.version()
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and now is not None and kept[0] == now:
            return kept[1]
        (total,) = conn.execute(f"SELECT COUNT(*) FROM ({selection.text})", params).fetchone()
        if before is not None:
            with self._lock:
                self._kept[key] = (before, int(total))
                self._kept.move_to_end(key)
                while len(self._kept) > KEPT:
                    self._kept.popitem(last=False)
        return int(total)

    def close(self) -> None:
        with self._lock:
            if self._watcher is not None:
                self._watcher.close()
            self._watcher = None
