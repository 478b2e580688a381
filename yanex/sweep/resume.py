"""Finishing a sweep: the points of a stored sweep that have no completed experiment yet.

The stored plan is expanded again (the same definition always gives the same points); a point is
done when any completed experiment has its identity (script, config, arguments), whichever batch
ran it, so resuming twice, or resuming a resumed batch, never runs a point twice. Points still
queued or running under a live process are refused rather than run a second time.
"""

from __future__ import annotations

from typing import NamedTuple

from yanex.db.engine import Database
from yanex.errors import UsageError
from yanex.sweep.plan import Sweep, SweepPlan


class Resumption(NamedTuple):
    batch_id: str
    plan: SweepPlan
    missing: list[int]  # the points to run, in expansion order
    specs: Sweep  # their specs, carrying the plan (so the new batch stores it too)


def plan_resumption(db: Database, reference: str) -> Resumption:
    """What resuming the sweep of batch ``reference`` (an id or unique prefix) would run."""
    from yanex.store.convert import spec_fingerprint
    from yanex.store.reading import reading
    from yanex.store.reconcile import reconcile_orphans
    from yanex.store.sweeps import active_points, batch_sweep, find_completed

    reconcile_orphans(db)  # a killed orchestrator's rows are settled before they are counted
    with reading(db, settle=False) as conn:
        stored = batch_sweep(conn, reference)
        plan = SweepPlan.from_json(stored.spec)
        specs = plan.specs()
        # A point is done only if it ran on the parents the sweep stored (ids since --depends-on
        # is pinned when the sweep starts).
        earlier = find_completed(conn, specs, [spec.depends_on for spec in specs])
        missing = [index for index, run in enumerate(earlier) if run is None]
        active = active_points(
            conn,
            [
                spec_fingerprint(str(spec.script_path.resolve()), spec.config, list(spec.script_args))
                for spec in (specs[index] for index in missing)
            ],
        )
    if active:
        raise UsageError(
            f"{len(active)} point(s) of batch {stored.batch_id}'s sweep are still queued or running "
            f"({', '.join(active[:5])}{', ...' if len(active) > 5 else ''})",
            hint="wait until they end, or stop their batch, then resume",
        )
    return Resumption(stored.batch_id, plan, missing, Sweep(plan, [specs[index] for index in missing]))
