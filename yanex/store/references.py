"""What users type to name an experiment: a full id, a unique id prefix or a name."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from yanex.errors import AmbiguousReferenceError, NotFoundError
from yanex.status import Status
from yanex.store.dialect import marks
from yanex.store.ids import short_ids
from yanex.terminal import text_problem

_HEX = frozenset("0123456789abcdef")
_LIST_HINT = "name it by a full id, a unique id prefix or an exact name"


def resolve_reference(conn: sqlite3.Connection, reference: str, qualifying: Collection[Status] = ()) -> str:
    """The id of the one experiment ``reference`` names: a full id, a unique id prefix or a name.

    An exact id wins; otherwise every experiment whose id starts with it or whose name equals it is
    a candidate, and more than one is an ``AmbiguousReferenceError`` listing them, unless the
    caller can use only experiments of the ``qualifying`` statuses (a dependency: completed) and
    exactly one candidate has one: a sweep point resumed after Ctrl-C has a cancelled and a
    completed experiment of one name, and only the completed one can be meant.
    """
    ref = reference.strip()
    missing = NotFoundError(
        f"no experiment matches {reference!r} (by id, id prefix or name)", hint=_LIST_HINT
    )
    if text_problem(ref) is not None:  # bytes that were not UTF-8: no id or name equals it
        raise missing
    if conn.execute("SELECT 1 FROM experiments WHERE id = ?", (ref,)).fetchone():
        return ref
    condition, args = "name = ?", [ref]
    prefix = ref.lower()
    if prefix and set(prefix) <= _HEX:
        # A range, not LIKE: it walks the primary key index.
        condition, args = "name = ? OR (id >= ? AND id < ?)", [ref, prefix, prefix + "g"]
    found = conn.execute(
        f"SELECT id, name, status, created_at FROM experiments WHERE {condition} "
        "ORDER BY created_at DESC LIMIT 11",
        args,
    ).fetchall()
    if not found:
        raise missing
    if len(found) > 1 and qualifying:
        statuses = [status.value for status in qualifying]
        able = conn.execute(
            f"SELECT id FROM experiments WHERE ({condition}) AND status IN ({marks(len(statuses))}) LIMIT 2",
            [*args, *statuses],
        ).fetchall()
        if len(able) == 1:
            return str(able[0][0])
    if len(found) > 1:
        ids = short_ids(conn, [row[0] for row in found[:10]])
        shown = "\n".join(
            f"  {ids[i]}  {name or '-'}  {status}  {_local(created):%Y-%m-%d %H:%M:%S}"
            for i, name, status, created in found[:10]
        )
        more = "\n  ..." if len(found) > 10 else ""
        raise AmbiguousReferenceError(
            f"{reference!r} matches more than one experiment:\n{shown}{more}",
            hint="use a longer id prefix or the full id",
        )
    return str(found[0][0])


def resolve_references(
    conn: sqlite3.Connection, references: Sequence[str], qualifying: Collection[Status] = ()
) -> list[str]:
    """``resolve_reference`` for each, in order."""
    return [resolve_reference(conn, reference, qualifying) for reference in references]


def _local(stored: str) -> datetime:
    """A stored (naive UTC) time on the local clock, as list and show print times."""
    return datetime.fromisoformat(stored).replace(tzinfo=UTC).astimezone()
