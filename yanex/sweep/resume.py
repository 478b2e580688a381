"""Finishing a sweep: the points of a stored sweep that have no completed experiment yet.

The stored plan is expanded again (the same definition always gives the same points); a point is
done when any completed experiment has its identity (script, config, arguments), whichever batch
ran it, so resuming twice, or resuming a resumed batch, never runs a point twice. Points still
queued or running under a live process are refused rather than run a second time, and so is a
second resume while one runs: ``claim_resumption`` writes the new batch row only if no live process
runs a batch of the same sweep, and only then chooses the points, so that it sees every point the
other finished. The points are read a few thousand at a time: a million take megabytes.
"""

from __future__ import annotations

import contextlib
import itertools
from array import array
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

from yanex.db.engine import Database
from yanex.errors import UsageError
from yanex.sweep.plan import PlanSpecs, SweepPlan

if TYPE_CHECKING:
    import sqlite3

    from yanex.specs import GitInfo
    from yanex.store.experiments import Owner

_CHUNK = 5_000  # points whose earlier runs are looked up at once


class Resumption(NamedTuple):
    batch_id: str  # the sweep's batch, as the user named it
    plan: SweepPlan
    missing: Sequence[int]  # the points to run, in expansion order
    ran: list[GitInfo]  # the code each completed experiment of the sweep ran
    # By position in ``missing``: the failed or cancelled attempt each point's new run replaces.
    replaces: dict[int, str]
    db: Database | None = None  # a search's: its points are proposed from the store's results
    pruned: int = 0  # points done because the sweep's pruning stopped them (not run again)

    @property
    def points(self) -> PlanSpecs:
        if self.db is not None:
            from yanex.sweep.search import SearchSpecs

            return SearchSpecs(self.plan, len(self.missing), self.db)
        return PlanSpecs(self.plan, self.missing)


def plan_resumption(db: Database, reference: str) -> Resumption:
    """What resuming the sweep of batch ``reference`` (an id or unique prefix) would run."""
    from yanex.store.reconcile import reconcile_orphans

    reconcile_orphans(db)  # a killed orchestrator's rows are settled before they are counted
    batch_id, plan = _stored(db, reference)
    return _resumption(db, batch_id, plan)


@contextlib.contextmanager
def claim_resumption(db: Database, reference: str, owner: Owner) -> Iterator[tuple[Resumption, str]]:
    """``plan_resumption``, and the new batch row that runs it, owned by ``owner``: refused with
    ``UsageError`` while a live process runs the same sweep. The row is deleted again if no
    experiment is written under it."""
    from yanex.store.experiments import claim_sweep, drop_batch, set_batch_total
    from yanex.store.reconcile import reconcile_orphans

    reconcile_orphans(db)
    batch_id, plan = _stored(db, reference)
    claimed = claim_sweep(db, batch_id, plan.to_json(), plan.parallel, owner)
    try:
        resumption = _resumption(db, batch_id, plan)
        set_batch_total(db, claimed, len(resumption.missing))
        yield resumption, claimed
    finally:
        drop_batch(db, claimed)


def _stored(db: Database, reference: str) -> tuple[str, SweepPlan]:
    from yanex.store.reading import reading
    from yanex.store.sweeps import batch_sweep

    with reading(db, settle=False) as conn:
        stored = batch_sweep(conn, reference)
    return stored.batch_id, SweepPlan.from_json(stored.spec)


def _resumption(db: Database, batch_id: str, plan: SweepPlan) -> Resumption:
    from yanex.store.reading import reading
    from yanex.store.records import load_records
    from yanex.store.sweeps import sweep_code

    searched = plan.search is not None and plan.search.adaptive
    if searched:  # no point is known ahead: the budget left is what is missing
        from yanex.sweep.search import remaining

        missing: Sequence[int] = range(remaining(plan, db))
        active: list[str] = []
        replaces: dict[int, str] = {}
        pruned = 0
    with reading(db, settle=False) as conn:
        if not searched:
            missing, active, replaces, pruned = _missing(conn, plan)
        code = sweep_code(conn, batch_id, plan.to_json())
        records = load_records(conn, [experiment_id for experiment_id, _ in code])
    if active:
        raise UsageError(
            f"{len(active)} point(s) of batch {batch_id}'s sweep are still queued or running "
            f"({', '.join(active[:5])}{', ...' if len(active) > 5 else ''})",
            hint="wait until they end, or stop their batch, then resume",
        )
    ran = [record.git for record, (_, count) in zip(records, code, strict=True) for _ in range(count)]
    return Resumption(batch_id, plan, missing, ran, replaces, db if searched else None, pruned)


def _missing(conn: sqlite3.Connection, plan: SweepPlan) -> tuple[array[int], list[str], dict[int, str], int]:
    """The points with no completed experiment (that ran on the sweep's stored parents) and none
    its pruning stopped, the ids of queued or running experiments of those points, by position
    among the points the latest failed or cancelled attempt of each that has one (its new run is
    linked to it, so that ``--latest-attempts`` and group statistics count the point once), and
    how many points are done because they were pruned."""
    from yanex.store.convert import spec_fingerprint
    from yanex.store.sweeps import active_points, find_completed, latest_attempts

    script, args, parents = str(plan.script_path.resolve()), list(plan.script_args), list(plan.depends_on)
    missing: array[int] = array("q")
    active: list[str] = []
    replaces: dict[int, str] = {}
    pruned = 0
    points = enumerate(plan.definition.points())
    while chunk := list(itertools.islice(points, _CHUNK)):
        fingerprints = [spec_fingerprint(script, point.config, args) for _, point in chunk]
        earlier = find_completed(conn, fingerprints, [parents] * len(chunk), pruned=True)
        pruned += sum(1 for run in earlier if run is not None and run.pruned)
        left = [
            (index, fp)
            for (index, _), fp, run in zip(chunk, fingerprints, earlier, strict=True)
            if run is None
        ]
        attempts = latest_attempts(conn, [fp for _, fp in left])
        for position, (_, fp) in enumerate(left, start=len(missing)):
            if fp in attempts:
                replaces[position] = attempts[fp]
        missing.extend(index for index, _ in left)
        active += active_points(conn, [fp for _, fp in left])
    return missing, active, replaces, pruned
