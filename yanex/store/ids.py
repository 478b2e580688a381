"""Global ids: 128 random bits, shown as the shortest prefix of at least 8 hex digits that no
other id of the store shares, as git shows commits.

An id is the same in every store an experiment is imported into, so ids from many machines meet
in one table. Not a UUIDv7 or ULID: their leading digits are a timestamp, and a sweep made in one
second would share the 8 digits users read and type.

A new id is drawn again while its first 8 digits start another id of its table (one draw in about
40,000 at 100,000 experiments), so ids made in one store always show as 8 digits; only experiments
imported from other stores can share a prefix, and then they show as many digits as it takes.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Literal

from yanex.store.dialect import chunks, marks

SHORTEST = 8  # hex digits of the shortest prefix shown
LENGTH = 32  # hex digits of an id: 128 bits

IdTable = Literal["experiments", "batches"]

# The ``metrics`` rows of the experiment whose id is bound: ``WHERE {POINTS_OF} AND key = ?``.
POINTS_OF = "experiment_local_id = (SELECT local_id FROM experiments WHERE id = ?)"


def local_ids(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[int, str]:
    """Each experiment's ``local_id`` (what its ``metrics`` rows carry) to its id, for ``ids``
    (ids not in the store are left out)."""
    found: dict[int, str] = {}
    for chunk in chunks(conn, ids):
        query = f"SELECT local_id, id FROM experiments WHERE id IN ({marks(len(chunk))})"
        found.update(conn.execute(query, list(chunk)).fetchall())
    return found


def _prefix_taken(conn: sqlite3.Connection, table: IdTable, prefix: str) -> bool:
    # A range, not LIKE or substr(): it walks the id index.
    query = f"SELECT 1 FROM {table} WHERE id >= ? AND id < ? LIMIT 1"
    return conn.execute(query, (prefix, prefix + "g")).fetchone() is not None


def _random_id() -> str:
    """128 bits from the operating system's generator (``os``: ``secrets`` would cost every command
    that only shows ids its import)."""
    return os.urandom(LENGTH // 2).hex()


def new_ids(conn: sqlite3.Connection, table: IdTable, count: int) -> list[str]:
    """``count`` random ids whose 8-digit prefixes no id of ``table`` (nor another of these) has;
    called inside the write transaction that inserts them, so no other writer can take one."""
    ids: list[str] = []
    prefixes: set[str] = set()
    while len(ids) < count:
        candidate = _random_id()
        prefix = candidate[:SHORTEST]
        if prefix not in prefixes and not _prefix_taken(conn, table, prefix):
            prefixes.add(prefix)
            ids.append(candidate)
    return ids


def shown(full: str) -> str:
    """How an id this store made is shown: its first 8 digits, which no other id of its table
    started with when it was drawn (``new_ids``)."""
    return full[:SHORTEST]


def short_ids(conn: sqlite3.Connection, ids: Iterable[str], table: IdTable = "experiments") -> dict[str, str]:
    """Each id's shortest unique prefix (at least 8 digits) among the ids of ``table``.

    One indexed range probe per id finds the few 8-digit prefixes that another id shares; only
    those ids are compared with their neighbours."""
    wanted = sorted(set(ids))
    shown = {full: full[:SHORTEST] for full in wanted}
    shared: list[str] = []
    for chunk in chunks(conn, sorted({full[:SHORTEST] for full in wanted})):
        values = ", ".join("(?)" for _ in chunk)
        shared += [
            prefix
            for (prefix,) in conn.execute(
                f"WITH shown(prefix) AS (VALUES {values}) SELECT shown.prefix FROM shown "
                f"JOIN {table} AS t ON t.id >= shown.prefix AND t.id < shown.prefix || 'g' "
                "GROUP BY shown.prefix HAVING count(*) > 1",
                chunk,
            )
        ]
    for prefix in shared:
        neighbours = [
            other
            for (other,) in conn.execute(
                f"SELECT id FROM {table} WHERE id >= ? AND id < ? ORDER BY id", (prefix, prefix + "g")
            )
        ]
        for full in wanted:
            if full.startswith(prefix):
                shown[full] = unique_prefix(full, neighbours)
    return shown


def unique_prefix(full: str, others: Sequence[str]) -> str:
    """The shortest prefix of ``full`` (at least 8 digits) that starts none of ``others``
    (``full`` itself among them is ignored)."""
    longest = max((_common(full, other) for other in others if other != full), default=0)
    return full[: max(SHORTEST, longest + 1)]


def _common(a: str, b: str) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length
