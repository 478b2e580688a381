"""``yanex rerun``: run finished experiments again from their stored specs.

Selection goes through the shared filter layer (the same options as ``list``); running goes through
``yanex.rerun``, so each new experiment is linked to the one it re-runs, as in Python.
"""

from __future__ import annotations

from typing import Annotated

import typer

from yanex.cli.filters import (
    BatchOpt,
    EndedAfterOpt,
    EndedBeforeOpt,
    NameOpt,
    ScriptOpt,
    StartedAfterOpt,
    StartedBeforeOpt,
    StatusOpt,
    TagOpt,
    WhereOpt,
)

RefsArg = Annotated[list[str] | None, typer.Argument(metavar="[IDS]...", help="Ids, id prefixes or names.")]
ParallelOpt = Annotated[
    int | None,
    typer.Option(
        "--parallel",
        "-p",
        help="Worker processes: 0 = one per CPU. Default: one experiment at a time.",
    ),
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Stream each script's output, prefixed by its name.")
]


def rerun_command(
    references: RefsArg = None,
    status: StatusOpt = None,
    tag: TagOpt = None,
    name: NameOpt = None,
    script: ScriptOpt = None,
    batch: BatchOpt = None,
    started_after: StartedAfterOpt = None,
    started_before: StartedBeforeOpt = None,
    ended_after: EndedAfterOpt = None,
    ended_before: EndedBeforeOpt = None,
    where: WhereOpt = None,
    parallel: ParallelOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Re-run finished experiments with their recorded script, config and arguments.

    Each re-run is a new experiment, linked to the original and run in its working directory.
    Prints one line per re-run (new id, status, name, original id); exits 1 if any did not complete.

    Examples:

      yanex rerun --status failed --tag grid-search --parallel 4

      yanex rerun --status failed --batch 1a2b3c4d

      yanex rerun abc12345
    """
    from yanex.cli.filters import build_filter, has_conditions
    from yanex.db.engine import Database
    from yanex.errors import NotFoundError, UsageError
    from yanex.runner.batch import rerun
    from yanex.store.query import find_ids, resolve_references

    if parallel is not None and parallel < 0:
        raise UsageError(
            f"--parallel must be 0 or more, got {parallel}",
            hint="use 0 for one worker per CPU, or leave it out to run one at a time",
        )
    db = Database()
    flt = build_filter(
        ids=resolve_references(db, references) if references else None,
        status=status,
        tag=tag,
        name=name,
        script=script,
        batch=batch,
        started_after=started_after,
        started_before=started_before,
        ended_after=ended_after,
        ended_before=ended_before,
        where=where,
    )
    if not has_conditions(flt):
        raise UsageError(
            "say which experiments to re-run", hint="pass ids or filters, e.g. --status failed --tag T"
        )
    ids = find_ids(db, flt)
    if not ids:
        raise NotFoundError(
            "no experiments match, nothing to re-run", hint="check the filters with `yanex list`"
        )
    results = rerun(ids, parallel=parallel, verbose=verbose)
    for original, result in zip(ids, results, strict=True):
        line = f"{result.experiment_id}  {result.status:<9}  {result.name or '-'}  (re-run of {original})"
        typer.echo(line + (f": {result.error_message}" if result.error_message else ""))
    if any(result.status != "completed" for result in results):
        raise typer.Exit(1)
