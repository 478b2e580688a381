"""``yanex sweep show BATCH``: a sweep's evaluated points with its objective, best first said."""

from __future__ import annotations

from typing import Any

from yanex.cli.render import FORMAT, OutputFormat
from yanex.cli.spec import REQUIRED, Command, Param


def show_command(batch: str, objective: str | None, fmt: OutputFormat) -> None:
    """The points of a sweep evaluated so far (in every batch that ran it), in the order they
    ended, with the objective and the best so far; first the best point and a sparkline of the
    objective over trials. A search's objective is its own; give --objective for another sweep.

    Examples:

      yanex sweep show 3f2a1b4c

      yanex sweep show 3f2a --objective acc.max --format csv
    """
    from yanex.cli.render import echo, print_rows
    from yanex.cli.store import store
    from yanex.display import format_value
    from yanex.errors import UsageError
    from yanex.plotting.sparkline import sparkline
    from yanex.store.ids import shown
    from yanex.store.metric_names import metric_ref
    from yanex.store.reading import reading
    from yanex.store.sweeps import batch_sweep, best_trial, scored_trials
    from yanex.sweep.expand import dotted
    from yanex.sweep.plan import SweepPlan
    from yanex.terminal import printable

    with reading(store()) as conn:
        stored = batch_sweep(conn, batch)
        plan = SweepPlan.from_json(stored.spec)
        search = plan.search
        reference = objective or (search.objective if search else None)
        if reference is None:
            raise UsageError(
                f"batch {shown(stored.batch_id)}'s sweep has no objective",
                hint="name one: yanex sweep show BATCH --objective loss.min",
            )
        ref = metric_ref(reference.removeprefix("metrics."))
        goal = plan.goal_of(reference)
        scored = scored_trials(conn, stored.spec, ref.key, ref.aggregate.number, goal)
    keys = [path for path, _ in plan.definition.axes]
    rows: list[list[Any]] = []
    records: list[dict[str, Any]] = []
    for s in scored:
        params = s.trial.values(keys)
        rows.append([s.number, shown(s.trial.id), s.trial.status, s.objective, s.best_so_far, *params])
        records.append(
            {"trial": s.number, "id": s.trial.id, "name": s.trial.name, "status": s.trial.status,
             "objective": s.objective, "best_so_far": s.best_so_far,
             "params": {dotted(path): v for path, v in zip(keys, params, strict=True)}}
        )  # fmt: skip
    if fmt is OutputFormat.TABLE:
        what = f"{search.sampler} search" if search else "sweep"
        echo(
            printable(
                f"batch {shown(stored.batch_id)}: {what}, {len(scored)} of {plan.size()} points of "
                f"{plan.script_path.name}; {ref.label} ({goal})"
            ),
            err=True,  # as a table's heading: a pipe gets only rows
        )
        top = best_trial(scored)
        if top is not None:
            values = " ".join(
                f"{dotted(p)}={format_value(v)}" for p, v in zip(keys, top.trial.values(keys), strict=True)
            )
            echo(
                printable(f"best: {format_value(top.objective)} ({shown(top.trial.id)})  {values}"), err=True
            )
            curve = [s.best_so_far for s in scored if s.best_so_far is not None]
            echo(f"best so far over trials: {sparkline(curve, width=55)}", err=True)
    print_rows(fmt, ["trial", "id", "status", ref.label, "best so far", *map(dotted, keys)], rows, records)


COMMAND = Command(
    show_command,
    (
        Param("batch", (), str, REQUIRED, "The sweep's batch id (or a unique prefix).", metavar="BATCH"),
        Param(
            "objective",
            ("--objective",),
            str,
            None,
            "The metric and aggregate to show (loss.min). Default: the search's objective.",
            metavar="METRIC.AGG",
            show_default=False,
        ),
        FORMAT,
    ),
)
