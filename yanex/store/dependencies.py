"""Pipeline edges in the ``dependencies`` table: which experiments an experiment ran on.

An edge is written with its experiment (``create_experiments``), so a row never exists without the
parents it waits for. A stored experiment may be depended on only once it has completed; within a
batch the scheduler (``yanex.runner.dependencies``) holds a child back until its parent completes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from yanex.store.dialect import chunks, marks

if TYPE_CHECKING:
    from sqlite3 import Connection

    from yanex.db.engine import Database


class Parent(NamedTuple):
    """An experiment another one depends on; its name (or None) is how the script asks for it."""

    id: str
    name: str | None


def parents_of(conn: Connection, experiment_ids: Sequence[str]) -> dict[str, list[Parent]]:
    """Each experiment's recorded parents (a re-run keeps them), oldest parent first."""
    found: dict[str, list[Parent]] = {experiment_id: [] for experiment_id in experiment_ids}
    for experiment_id in experiment_ids:
        rows = conn.execute(
            "SELECT e.id, e.name FROM dependencies AS d JOIN experiments AS e ON e.id = d.depends_on_id"
            " WHERE d.experiment_id = ? ORDER BY e.created_at, e.id",
            (experiment_id,),
        )
        found[experiment_id] = [Parent(parent_id, name) for parent_id, name in rows]
    return found


def dependents_outside(conn: Connection, experiment_ids: Sequence[str]) -> list[str]:
    """Experiments that depend on one of ``experiment_ids`` without being among them: deleting
    those ids deletes these experiments' lineage to them (what ``yanex delete`` warns about)."""
    chosen = set(experiment_ids)
    found: set[str] = set()
    for chunk in chunks(conn, list(chosen)):
        found.update(
            row[0]
            for row in conn.execute(
                f"SELECT experiment_id FROM dependencies WHERE depends_on_id IN ({marks(len(chunk))})",
                list(chunk),
            )
        )
    return sorted(found - chosen)


def insert_edges(conn: Connection, edges: Sequence[tuple[str, str]]) -> None:
    """Write ``(experiment_id, depends_on_id)`` rows inside the caller's transaction."""
    if edges:
        conn.executemany(
            "INSERT INTO dependencies (experiment_id, depends_on_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            edges,
        )


def retarget(db: Database, children: Sequence[str], old_parent: str, new_parent: str) -> None:
    """Point the edges of ``children`` at a parent's retry: they wait for, and run on, its last try."""
    if not children:
        return
    with db.write() as conn:
        for chunk in chunks(conn, children, 2):
            conn.execute(
                "UPDATE dependencies SET depends_on_id = ? WHERE depends_on_id = ? AND experiment_id IN "
                f"({marks(len(chunk))})",
                (new_parent, old_parent, *chunk),
            )
