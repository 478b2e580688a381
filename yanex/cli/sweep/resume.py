"""``yanex sweep resume BATCH``: run the points of a sweep that did not complete, as a new batch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from yanex.cli.render import OutputFormat
from yanex.cli.run_sweep import DRY_RUN_FORMAT, run_points, show_points
from yanex.cli.spec import REQUIRED, Command, Param
from yanex.store.ids import shown

if TYPE_CHECKING:
    from yanex.sweep.resume import Resumption


def resume_command(batch: str, parallel: int | None, dry_run: bool, fmt: OutputFormat, verbose: bool) -> None:
    """Run the points of a sweep that have no completed experiment yet, as a new batch.

    After a Ctrl-C, a crash or a killed orchestrator: a point is done when an experiment with its
    script, config and arguments completed, in any batch, or the sweep's pruning stopped one
    (--prune): a pruned point is not run again. The sweep runs in the folder it was
    started from, with its name, tags and options. While a process runs the sweep (its first run,
    or another resume), resuming it is refused. When the code changed since its points ran, a note
    says so. Each point run again is linked to its failed or cancelled attempt (retry_of), which
    --latest-attempts and compare --group-by then leave out. Exits 0 only if every point is now
    completed.

    Examples:

      yanex sweep resume 3f2a1b4c --parallel 4

      yanex sweep resume 3f2a --dry-run
    """
    from yanex.cli.store import store
    from yanex.runner.environment import this_process
    from yanex.sweep.resume import claim_resumption, plan_resumption

    if dry_run:
        resumption = plan_resumption(store(), batch)
        if _nothing_left(resumption):
            return
        show_points(resumption.points, fmt)
        return
    with claim_resumption(store(), batch, this_process()) as (resumption, claimed):
        total, todo = resumption.plan.size(), len(resumption.missing)
        if _nothing_left(resumption):
            return
        done = f"{total - todo} of {total} points {_counted(total - todo, resumption.pruned)}"
        typer.echo(f"batch {shown(resumption.batch_id)}: {done}; running the other {todo}", err=True)
        working_dir = resumption.plan.working_dir
        if working_dir and Path(working_dir).is_dir():
            os.chdir(working_dir)  # relative paths in the script's arguments mean what they meant
        run_points(
            resumption.points,
            parallel if parallel is not None else resumption.plan.parallel,
            verbose,
            batch_id=claimed,
            ran_before=resumption.ran,
            replaces=resumption.replaces,
        )


def _counted(done: int, pruned: int) -> str:
    """What ``done`` points are: ``completed``, or ``done (3 completed, 2 pruned)``."""
    return "completed" if not pruned else f"done ({done - pruned} completed, {pruned} pruned)"


def _nothing_left(resumption: Resumption) -> bool:
    total, pruned = resumption.plan.size(), resumption.pruned
    if resumption.missing:
        return False
    typer.echo(
        f"batch {shown(resumption.batch_id)}: all {total} points of its sweep are {_counted(total, pruned)}; "
        "nothing to run",
        err=True,
    )
    return True


COMMAND = Command(
    resume_command,
    (
        Param("batch", (), str, REQUIRED, "The sweep's batch id (or a unique prefix).", metavar="BATCH"),
        Param(
            "parallel",
            ("--parallel", "-j"),
            int,
            None,
            "Worker processes: 0 = one per CPU. Default: the sweep's own --parallel.",
            metavar="N",
            min=0,
            show_default=False,
        ),
        Param("dry_run", ("--dry-run",), bool, False, "Print the missing points; run nothing."),
        DRY_RUN_FORMAT,
        Param(
            "verbose", ("--verbose", "-v"), bool, False, "Stream each script's output, prefixed by its name."
        ),
    ),
)
