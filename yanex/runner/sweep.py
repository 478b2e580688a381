"""A sweep's points run from its plan (``yanex run -p KEY=EXPR``, ``yanex sweep resume``): each
spec is built when its row is written, each result kept in a few bytes, so a million points run in
megabytes and the first starts at once."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from yanex.runner.batch import Batch, preflight
from yanex.specs import ExperimentResult, GitInfo
from yanex.sweep.plan import PlanSpecs, stored_plan


def run_points(
    points: PlanSpecs,
    parallel: int | None,
    verbose: bool,
    *,
    executor: object = "local",
    batch_id: str | None = None,
    ran_before: Sequence[GitInfo] = (),
    replaces: Mapping[int, str] | None = None,
) -> Iterator[ExperimentResult]:
    """``run_multiple`` for a sweep's points, which it never holds all at once: once the batch has
    ended, the results in order, built as they are read. ``batch_id``: the batch row this process
    already owns for them (``yanex.sweep.resume`` claims it before choosing the points);
    ``ran_before``: the code the sweep's completed experiments ran (a note says if it changed);
    ``replaces``: by position among ``points``, the earlier attempt each point's row re-runs
    (``retry_of``). A plan with ``pruning`` stops the runs that fall behind (``yanex.runner.pruning``),
    on a resume as on the first run."""
    preflight(parallel)
    batch = Batch(
        points,
        parallel,
        verbose,
        executor=executor,
        sweep_spec=stored_plan(points),
        batch_id=batch_id,
        ran_before=ran_before,
        retry_of=replaces,
        pruning=points.plan.pruning,
    )
    return batch.run()
