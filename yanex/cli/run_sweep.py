"""How ``yanex run`` shows (``--dry-run``) and runs a sweep, and how ``yanex sweep resume`` runs
what is left of one; ``spec_error`` for a spec either command line made that its model refuses.

A sweep runs as one batch (``yanex.runner.sweep.run_points``, the ``Batch`` of ``run_multiple``):
the same progress, summary, results and Ctrl-C handling, with the sweep's plan stored in
``batches.spec``; its points are built as the batch reaches them and printed as they come.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from yanex.cli.render import FORMAT, OutputFormat

if TYPE_CHECKING:
    from pydantic import ValidationError

    from yanex.errors import ConfigError
    from yanex.specs import ExperimentResult, ExperimentSpec, GitInfo
    from yanex.sweep.expand import SweepDefinition
    from yanex.sweep.plan import PlanSpecs, Pruning, Search, SweepPlan

DRY_RUN_FORMAT = dataclasses.replace(FORMAT, help="Output format of --dry-run.")

_SPEC_HINTS = {
    "tags": "give each --tag a non-empty word that is valid UTF-8",
    "config": "parameters must be JSON data (numbers, strings, booleans, lists and mappings), "
    "each named once, in valid UTF-8",
    "script_path": "rename the script or its folder so that the path is valid UTF-8",
    "name": "pass a non-empty --name that is valid UTF-8",
    "description": "pass a --description that is valid UTF-8",
    "timeout": "write --timeout as seconds or a duration, e.g. --timeout 90, 5m, 2h or 1h30m",
    "script_args": "pass script arguments that are valid UTF-8",
    "depends_on": "pass each --depends-on as a completed experiment's id, id prefix or name",
}


def spec_error(error: ValidationError) -> ConfigError:
    """An ``ExperimentSpec`` refusing what the command line gave, as one ``Error:`` line."""
    from yanex.errors import ConfigError

    first = error.errors()[0]
    field = first["loc"][0] if first["loc"] else None
    return ConfigError(str(first["msg"]).removeprefix("Value error, "), hint=_SPEC_HINTS.get(str(field)))


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
    pruning: Pruning | None = None,
    search: Search | None = None,
) -> None:
    """``yanex run`` with sweep expressions: print the points (``dry_run``) or run them as a batch
    (proposed one by one when ``search`` learns from them)."""
    import secrets

    from yanex.sweep.plan import PlanSpecs, SweepPlan

    if search is not None and search.adaptive and not dry_run:
        from yanex.sweep.search import require_optuna

        require_optuna()  # before anything is said or written
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
        search=search,
        pruning=pruning,
    )
    check_first_spec(plan)  # every point shares what a spec checks but its values
    points = PlanSpecs(plan)
    if search is not None and search.adaptive:
        from yanex.cli.store import store
        from yanex.sweep.search import SearchSpecs, check_space, space_text

        check_space(plan)
        if dry_run:  # its points depend on results that do not exist yet
            typer.echo(
                f"dry run: --search {search.sampler} would propose {plan.size()} experiment(s) of "
                f"{script_path.name} over {space_text(plan)}, "
                f"{'minimizing' if search.direction == 'min' else 'maximizing'} {search.objective}; "
                "nothing was run or recorded",
                err=True,
            )
            return
        points = SearchSpecs(plan, plan.size(), store())
    if dry_run:
        show_points(points, fmt)
        return
    run_points(points, parallel, verbose=False, executor=executor)


def check_first_spec(plan: SweepPlan) -> None:
    """The first point's spec, a validation error as one ``Error:`` line; which names repeat is
    settled here too, so a bad ``--name`` template fails here."""
    from pydantic import ValidationError

    from yanex.sweep.plan import PlanSpecs

    try:
        next(iter(PlanSpecs(plan)))
    except ValidationError as error:
        raise spec_error(error) from None


def run_points(
    points: PlanSpecs,
    parallel: int | None,
    verbose: bool,
    executor: str = "local",
    batch_id: str | None = None,
    ran_before: Sequence[GitInfo] = (),
    replaces: Mapping[int, str] | None = None,
) -> None:
    """Run a sweep's points as one batch, a line per experiment; exits 1 unless all completed (or
    were pruned)."""
    from pydantic import ValidationError

    from yanex.runner.sweep import run_points as run

    try:
        results = run(
            points,
            parallel,
            verbose,
            executor=executor,
            batch_id=batch_id,
            ran_before=ran_before,
            replaces=replaces,
        )
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except ValidationError as error:  # a point's spec (checked like the first, so hardly ever)
        raise spec_error(error) from None
    if not _print_results(results):
        raise typer.Exit(1)


def _print_results(results: Iterable[ExperimentResult]) -> bool:
    """A line per result; whether all completed (a run the sweep pruned counts: it did its part)."""
    from yanex.cli.render import echo
    from yanex.store.ids import shown
    from yanex.terminal import printable

    completed = True
    for result in results:
        line = f"{shown(result.experiment_id)}  {result.status:<9}  {result.name or '-'}"
        echo(printable(line + (f": {result.error_message}" if result.error_message else "")))
        completed = completed and result.status in ("completed", "pruned")
    return completed


def show_points(points: PlanSpecs, fmt: OutputFormat) -> None:
    """The experiments of a sweep's ``points``: name and the value of each axis (JSON: whole
    configs), written as they are expanded."""
    from yanex.cli.render import stream_rows
    from yanex.sweep.expand import dotted

    keys = [path for path, _ in points.plan.definition.axes]
    count = stream_rows(
        fmt,
        ["name", *map(dotted, keys)],
        points.named_points(),
        row=lambda item: [item[0], *(value for _, value in item[1].values)],
        record=lambda item: {"name": item[0], "config": item[1].config},
    )
    typer.echo(
        f"dry run: {count} experiment(s) of {points.plan.script_path.name}; nothing was run or recorded",
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
