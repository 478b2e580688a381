"""``yanex sweep``: finishing sweeps; and how ``yanex run`` shows (``--dry-run``) and runs one.

A sweep runs as one batch through ``yanex.run_multiple``: the same progress, summary, results and
Ctrl-C handling, with the sweep's plan stored in ``batches.spec``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from yanex.cli.render import OutputFormat

if TYPE_CHECKING:
    from yanex.specs import ExperimentResult, ExperimentSpec
    from yanex.sweep.expand import SweepDefinition
    from yanex.sweep.plan import Sweep, SweepPlan

app = typer.Typer(
    name="sweep",
    help="Sweeps started by `yanex run -p KEY=EXPR` or yanex.grid/yanex.sample: resume them.",
    no_args_is_help=True,
)


def run_sweep(
    definition: SweepDefinition,
    script_path: Path,
    *,
    script_args: Sequence[str],
    name: str | None,
    tags: Sequence[str],
    description: str | None,
    timeout: float | str | None,
    parallel: int | None,
    dry_run: bool,
    fmt: OutputFormat,
    depends_on: Sequence[str] = (),
    goals: Mapping[str, str] | None = None,
    executor: str = "local",
) -> None:
    """``yanex run`` with sweep expressions: print the points (``dry_run``) or run them as a batch."""
    import secrets

    from yanex.sweep.plan import SweepPlan

    if definition.samples is not None and definition.seed is None:
        definition = dataclasses.replace(definition, seed=secrets.randbelow(2**31))
        typer.echo(
            f"Note: drawing with --seed {definition.seed}; pass it to draw the same points again", err=True
        )
    plan = SweepPlan(
        definition,
        script_path,
        script_args=tuple(script_args),
        name=name,
        tags=tuple(tags),
        description=description,
        timeout=timeout,
        parallel=parallel,
        working_dir=str(Path.cwd()),
        depends_on=tuple(depends_on),
        goals=tuple((goals or {}).items()),
    )
    if dry_run:
        _specs(plan, [0])  # every point shares what a spec checks but its values
        show_points(plan, fmt)
        return
    _run(_specs(plan), parallel, verbose=False, executor=executor)


def _specs(plan: SweepPlan, indices: Sequence[int] | None = None) -> Sweep:
    """The plan's specs (of ``indices``, default all), a spec's validation error as one ``Error:``
    line; the names are made here too, so a bad ``--name`` template fails here."""
    from pydantic import ValidationError

    from yanex.cli.run import spec_error

    try:
        return plan.specs(indices)
    except ValidationError as error:
        raise spec_error(error) from None


def _run(sweep: Sweep, parallel: int | None, verbose: bool, executor: str = "local") -> None:
    from yanex.runner.batch import run_multiple

    try:
        results = run_multiple(sweep, parallel=parallel, verbose=verbose, executor=executor)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    _print_results(results)
    if any(result.status != "completed" for result in results):
        raise typer.Exit(1)


def _print_results(results: Sequence[ExperimentResult]) -> None:
    from yanex.terminal import printable

    for result in results:
        line = f"{result.experiment_id}  {result.status:<9}  {result.name or '-'}"
        typer.echo(printable(line + (f": {result.error_message}" if result.error_message else "")))


def show_points(plan: SweepPlan, fmt: OutputFormat, *, only: Sequence[int] | None = None) -> None:
    """The experiments a plan expands to: name and the value of each axis (JSON: whole configs)."""
    from yanex.cli.render import print_rows
    from yanex.sweep.expand import dotted

    points, names = plan.points, plan.names
    indices = range(len(points)) if only is None else only
    keys = [path for path, _ in plan.definition.axes]
    rows = [[names[i], *(value for _, value in points[i].values)] for i in indices]
    records = (
        [{"name": names[i], "config": points[i].config} for i in indices] if fmt is OutputFormat.JSON else []
    )
    print_rows(fmt, ["name", *map(dotted, keys)], rows, records)
    typer.echo(
        f"dry run: {len(rows)} experiment(s) of {plan.script_path.name}; nothing was run or recorded",
        err=True,
    )


def show_specs(specs: Sequence[ExperimentSpec], fmt: OutputFormat) -> None:
    """A single run's dry run: its name and parameters."""
    from yanex.cli.render import print_rows
    from yanex.specs import flat_params

    records: list[dict[str, Any]] = [{"name": spec.name, "config": spec.config} for spec in specs]
    flat = [dict(flat_params(spec.config)) for spec in specs]
    columns = list(dict.fromkeys(key for params in flat for key in params))
    rows = [
        [spec.name or "", *(params.get(key) for key in columns)]
        for spec, params in zip(specs, flat, strict=True)
    ]
    print_rows(fmt, ["name", *columns], rows, records)
    typer.echo(f"dry run: {len(specs)} experiment(s); nothing was run or recorded", err=True)


@app.command("resume")
def resume_command(
    batch: Annotated[str, typer.Argument(metavar="BATCH", help="The sweep's batch id (or a unique prefix).")],
    parallel: Annotated[
        int | None,
        typer.Option(
            "--parallel",
            "-j",
            min=0,
            metavar="N",
            help="Worker processes: 0 = one per CPU. Default: the sweep's own --parallel.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the missing points; run nothing.")
    ] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format of --dry-run.")] = (
        OutputFormat.TABLE
    ),
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Stream each script's output, prefixed by its name.")
    ] = False,
) -> None:
    """Run the points of a sweep that have no completed experiment yet, as a new batch.

    After a Ctrl-C, a crash or a killed orchestrator: a point is done when an experiment with its
    script, config and arguments completed, in any batch. The sweep runs in the folder it was
    started from, with its name, tags and options. Exits 0 only if every point is now completed.

    Examples:

      yanex sweep resume 3f2a1b4c --parallel 4

      yanex sweep resume 3f2a --dry-run
    """
    from yanex.cli.store import store
    from yanex.sweep.resume import plan_resumption

    resumption = plan_resumption(store(), batch)
    todo = resumption.specs
    total = len(resumption.plan.points)
    done = total - len(todo)
    if not todo:
        typer.echo(
            f"batch {resumption.batch_id}: all {total} points of its sweep are completed; nothing to run",
            err=True,
        )
        return
    if dry_run:
        show_points(resumption.plan, fmt, only=resumption.missing)
        return
    typer.echo(
        f"batch {resumption.batch_id}: {done} of {total} points completed; running the other {len(todo)}",
        err=True,
    )
    working_dir = resumption.plan.working_dir
    if working_dir and Path(working_dir).is_dir():
        os.chdir(working_dir)  # relative paths in the script's arguments mean what they meant
    _run(todo, parallel if parallel is not None else resumption.plan.parallel, verbose)
