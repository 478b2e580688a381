"""``yanex rerun``: run finished experiments again from their stored specs.

Selection goes through the shared filter layer (the same options as ``list``); running goes through
``yanex.rerun``, so each new experiment is linked to the one it re-runs, as in Python.
"""

from __future__ import annotations

import dataclasses

import typer

from yanex.cli.spec import REFERENCES, Command, FilterOptions, Param


def rerun_command(
    references: list[str] | None,
    parallel: int | None,
    verbose: bool,
    timeout: str | None,
    all_attempts: bool,
    param: list[str] | None,
    executor: str,
    exact: bool,
    *,
    filters: FilterOptions,
) -> None:
    """Re-run finished experiments with their recorded script, config and arguments.

    Each re-run is a new experiment, linked to the original and run in its working directory,
    with the original's parameters (--param overrides them) and today's code: a note says so when
    the commit or uncommitted changes differ from what an original ran (--exact runs the code the
    original ran instead). Filters select only the
    latest attempt of each lineage (retries and earlier re-runs are linked by retry_of), so
    `--status failed` re-runs each failed spec once; ids name exactly the experiments to re-run.
    Prints one line per re-run (new id, status, name, original id); exits 1 if any did not complete.

    Examples:

      yanex rerun --status failed --tag grid-search --parallel 4

      yanex rerun --status failed --batch 1a2b3c4d

      yanex rerun abc12345

      yanex rerun abc12345 --param learning_rate=0.05

      yanex rerun abc12345 --exact
    """
    from yanex.cli.store import store
    from yanex.errors import NotFoundError, UsageError
    from yanex.params import params_to_config
    from yanex.runner.rerun import rerun
    from yanex.specs import parse_time_limit
    from yanex.store.ids import shown
    from yanex.store.reading import reading
    from yanex.store.references import resolve_references
    from yanex.store.selection import select_ids
    from yanex.terminal import printable

    if timeout is not None:
        try:
            parse_time_limit(timeout)
        except ValueError as error:
            raise UsageError(str(error), hint="write it like --timeout 90, 5m, 2h or 1h30m") from None
    overrides = params_to_config(param or [])
    flt = filters.build()
    with reading(store()) as conn:
        if references:
            flt = flt.naming(resolve_references(conn, references))
        if not flt.narrows():
            raise UsageError(
                "say which experiments to re-run", hint="pass ids or filters, e.g. --status failed --tag T"
            )
        if not references and not all_attempts:
            flt = dataclasses.replace(flt, latest_attempts=True)
        ids = select_ids(conn, flt)
    if not ids:
        raise NotFoundError(
            "no experiments match, nothing to re-run", hint="check the filters with `yanex list`"
        )
    try:
        results = rerun(
            ids,
            parallel=parallel,
            verbose=verbose,
            timeout=timeout,
            config_overrides=overrides,
            executor=executor,
            exact=exact,
        )
    except ValueError as error:
        if executor == "local":
            raise
        from yanex.executors import FORMS

        raise UsageError(str(error), hint=f"pass --executor {FORMS}") from None
    for original, result in zip(ids, results, strict=True):
        line = (
            f"{shown(result.experiment_id)}  {result.status:<9}  {result.name or '-'}  (re-run of {original})"
        )
        typer.echo(printable(line + (f": {result.error_message}" if result.error_message else "")))
    if any(result.status != "completed" for result in results):
        raise typer.Exit(1)


COMMAND = Command(
    rerun_command,
    (
        REFERENCES,
        Param(
            "parallel",
            ("--parallel", "-p"),
            int,
            None,
            "Worker processes: 0 = one per CPU. Default: one experiment at a time.",
            min=0,
        ),
        Param(
            "verbose", ("--verbose", "-v"), bool, False, "Stream each script's output, prefixed by its name."
        ),
        Param(
            "timeout",
            ("--timeout",),
            str,
            None,
            "Stop each re-run after DURATION (90, 90s, 5m, 2h, 1h30m) and record it failed.",
            metavar="DURATION",
            show_default=False,
        ),
        Param(
            "all_attempts",
            ("--all-attempts",),
            bool,
            False,
            "Select every attempt: by default only the latest of each lineage (an experiment "
            "already re-run is selected through its latest re-run).",
        ),
        Param(
            "param",
            ("--param",),
            str,
            None,
            "Override a parameter of every re-run, read as `yanex run --param` reads it "
            "(dotted keys nest). Repeatable.",
            multiple=True,
            metavar="KEY=VALUE",
            show_default=False,
        ),
        Param(
            "executor",
            ("--executor",),
            str,
            "local",
            "'local' (here, as --parallel says), dask://HOST:PORT (a Dask cluster), or slurm or "
            "slurm:partition=P,time=2h,... (Slurm jobs; docs/cluster.md).",
            metavar="WHERE",
        ),
        Param(
            "exact",
            ("--exact",),
            bool,
            False,
            "Run the code each original ran (its commit, submodules and recorded patch, checked "
            "out in a temporary git worktree) instead of today's.",
        ),
    ),
    filters=("select",),
)
