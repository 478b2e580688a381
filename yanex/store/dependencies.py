"""Pipeline edges in the ``dependencies`` table: which experiments an experiment ran on.

An edge is written with its experiment (``create_experiments``), so a row never exists without the
parents it waits for. A stored experiment may be depended on only once it has completed; within a
batch the scheduler (``yanex.runner.dependencies``) holds a child back until its parent completes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from yanex.errors import ConfigError, NotFoundError, YanexError
from yanex.status import Status
from yanex.store.dialect import marks

if TYPE_CHECKING:
    from sqlite3 import Connection

    from yanex.db.engine import Database


class Parent(NamedTuple):
    """An experiment another one depends on; its name (or None) is how the script asks for it."""

    id: str
    name: str | None


def completed_parents(db: Database, references: Sequence[str]) -> list[Parent]:
    """The stored experiments ``references`` name (id, unique id prefix or name), in order.

    Raises ``NotFoundError`` or ``AmbiguousReferenceError`` for a reference that names no one
    experiment, and ``ConfigError`` for one that has not completed: nothing may run on the outputs
    of an experiment that is still running, or that failed.
    """
    from yanex.store.references import resolve_references

    try:
        if not db.exists():  # nothing recorded yet: no reference can match
            raise NotFoundError(
                f"no experiment matches {references[0]!r} (by id, id prefix or name)",
                hint="nothing has been recorded yet",
            )
        ids = resolve_references(db, references)
    except YanexError as error:
        raise type(error)(f"dependency: {error.message}", hint=error.hint) from None
    parents: list[Parent] = []
    with db.connect() as conn:
        for reference, experiment_id in zip(references, ids, strict=True):
            name, status = conn.execute(
                "SELECT name, status FROM experiments WHERE id = ?", (experiment_id,)
            ).fetchone()
            if status != Status.COMPLETED.value:
                shown = experiment_id if reference == experiment_id else f"{reference!r} ({experiment_id})"
                raise ConfigError(
                    f"dependency {shown} is {status}, not completed",
                    hint="depend on a completed experiment, or run this one once it has completed",
                )
            if experiment_id not in {parent.id for parent in parents}:
                parents.append(Parent(experiment_id, name))
    return parents


def parents_of(db: Database, experiment_ids: Sequence[str]) -> dict[str, list[Parent]]:
    """Each experiment's recorded parents (a re-run keeps them), oldest parent first."""
    found: dict[str, list[Parent]] = {experiment_id: [] for experiment_id in experiment_ids}
    with db.connect() as conn:
        for experiment_id in experiment_ids:
            rows = conn.execute(
                "SELECT e.id, e.name FROM dependencies AS d JOIN experiments AS e ON e.id = d.depends_on_id"
                " WHERE d.experiment_id = ? ORDER BY e.created_at, e.id",
                (experiment_id,),
            )
            found[experiment_id] = [Parent(parent_id, name) for parent_id, name in rows]
    return found


def dependents_outside(db: Database, experiment_ids: Sequence[str]) -> list[str]:
    """Experiments that depend on one of ``experiment_ids`` without being among them: deleting
    those ids deletes these experiments' lineage to them (what ``yanex delete`` warns about)."""
    from yanex.store.query import chunks

    chosen = set(experiment_ids)
    found: set[str] = set()
    with db.connect() as conn:
        for chunk in chunks(list(chosen)):
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
        conn.execute(
            "UPDATE dependencies SET depends_on_id = ? WHERE depends_on_id = ? AND experiment_id IN "
            f"({marks(len(children))})",
            (new_parent, old_parent, *children),
        )
