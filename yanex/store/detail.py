"""Everything known about one experiment, as ``yanex show`` prints it: the record, its metric
summaries, its batch, where it comes from (retries and re-runs) and its pipeline relatives."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from yanex.store.metric_values import MetricSummary, latest_of
from yanex.store.records import load_records
from yanex.store.references import resolve_reference
from yanex.store.tables import ExperimentRecord


@dataclass(frozen=True)
class BatchInfo:
    """A batch as ``yanex show`` describes it: how many experiments it ran, how many at a time."""

    id: str
    total: int  # experiments submitted (retries excluded)
    parallel: int | None  # None: one at a time in the caller's process; 0: one per CPU
    executor: str | None = None  # where it ran when not on this machine (``dask://...``, ``slurm:...``)


@dataclass(frozen=True)
class Lineage:
    """Where an experiment comes from along ``retry_of``: ``attempt`` 1 is the original (``root``);
    ``rerun`` when its parent is in another batch (``yanex rerun``), not a retry of the same batch."""

    root: str
    attempt: int
    parent: str
    rerun: bool


@dataclass(frozen=True)
class Relative:
    """A parent or child of an experiment along the ``dependencies`` table, as ``show`` lists it."""

    id: str
    name: str | None
    status: str


@dataclass(frozen=True)
class ExperimentDetail:
    """What ``show`` prints: the experiment, its metric summaries, patch size, batch and lineage."""

    experiment: ExperimentRecord
    metrics: dict[str, MetricSummary]
    patch_size: int | None
    rerun_as: list[str] = field(default_factory=list)  # later attempts that re-ran this one
    batch: BatchInfo | None = None
    lineage: Lineage | None = None  # None for an original
    parents: list[Relative] = field(default_factory=list)  # what it depends on
    children: list[Relative] = field(default_factory=list)  # what depends on it


def experiment_detail(conn: sqlite3.Connection, reference: str) -> ExperimentDetail:
    """Everything known about the experiment ``reference`` names (see ``resolve_reference``)."""
    experiment_id = resolve_reference(conn, reference)
    (record,) = load_records(conn, [experiment_id])
    size = conn.execute(
        "SELECT p.size FROM experiments AS e JOIN git_patches AS p ON p.sha256 = e.git_patch_sha256 "
        "WHERE e.id = ?",
        (experiment_id,),
    ).fetchone()
    later = conn.execute(
        "SELECT id FROM experiments WHERE retry_of = ? ORDER BY created_at, id", (experiment_id,)
    )
    return ExperimentDetail(
        record,
        latest_of(conn, [experiment_id])[experiment_id],
        None if size is None else size[0],
        [i for (i,) in later],
        _batch(conn, record.batch_id),
        _lineage(conn, experiment_id),
        *_relatives(conn, experiment_id),
    )


def _batch(conn: sqlite3.Connection, batch_id: str | None) -> BatchInfo | None:
    row = conn.execute(
        "SELECT id, total, parallel, executor FROM batches WHERE id = ?", (batch_id,)
    ).fetchone()
    return None if row is None else BatchInfo(*row)


def _lineage(conn: sqlite3.Connection, experiment_id: str) -> Lineage | None:
    """Follow ``retry_of`` to the original, newest first (a deleted ancestor ends the chain)."""
    chain = conn.execute(
        "WITH RECURSIVE chain(id, retry_of, batch_id, depth) AS ("
        " SELECT id, retry_of, batch_id, 0 FROM experiments WHERE id = ?"
        " UNION ALL SELECT e.id, e.retry_of, e.batch_id, chain.depth + 1"
        " FROM experiments e JOIN chain ON e.id = chain.retry_of WHERE chain.depth < 10000)"
        " SELECT id, batch_id FROM chain ORDER BY depth",
        (experiment_id,),
    ).fetchall()
    if len(chain) < 2:
        return None
    (_, batch_id), (parent, parent_batch) = chain[0], chain[1]
    rerun = parent_batch is None or parent_batch != batch_id
    return Lineage(root=chain[-1][0], attempt=len(chain), parent=parent, rerun=rerun)


def _relatives(conn: sqlite3.Connection, experiment_id: str) -> tuple[list[Relative], list[Relative]]:
    """The experiments ``experiment_id`` depends on, and those that depend on it, oldest first."""

    def along(mine: str, theirs: str) -> list[Relative]:
        rows = conn.execute(
            f"SELECT e.id, e.name, e.status FROM dependencies AS d JOIN experiments AS e ON e.id = d.{theirs}"
            f" WHERE d.{mine} = ? ORDER BY e.created_at, e.id",
            (experiment_id,),
        )
        return [Relative(*row) for row in rows]

    return along("experiment_id", "depends_on_id"), along("depends_on_id", "experiment_id")
