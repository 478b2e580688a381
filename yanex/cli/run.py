"""``yanex run SCRIPT``: run one script as a tracked experiment, echoing its output live.

Only Typer is imported at module level: ``yanex run --help`` must not pay for the store,
pydantic or pyyaml, which the command imports when it runs.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer._click.core import Context
from typer._click.exceptions import NoSuchOption
from typer.core import TyperCommand

from yanex.cli.render import OutputFormat

if TYPE_CHECKING:
    from pydantic import ValidationError

    from yanex.errors import ConfigError

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


def _script_file(script: Path) -> Path:
    from yanex.errors import UsageError

    if not script.exists():
        raise UsageError(
            f"script {script} does not exist", hint="check the path to the script you want to run"
        )
    if not script.is_file():
        raise UsageError(f"{script} is not a file", hint="pass the path of a Python script")
    from yanex.runner.script_kind import not_python

    kind = not_python(script)
    if kind is not None:
        raise UsageError(
            f"{script} is not a Python script: it is {kind}",
            hint="pass a .py file, or a script whose first line is a python shebang; "
            "a YAML or JSON file of parameters goes with --config",
        )
    return script.resolve()


def run(
    script: Annotated[
        Path, typer.Argument(metavar="SCRIPT", help="The Python script to run.", show_default=False)
    ],
    script_args: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="SCRIPT_ARGS",
            help="Arguments for the script, after `--`; it sees them in sys.argv.",
            show_default=False,
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="KEY=VALUE",
            help="Set a parameter. VALUE is read as YAML with JSON's scalars only (numbers, true/false, "
            "null, lists such as [64,32]); anything else, 12:30:00 or yes, stays text. Dotted keys nest "
            "(model.lr=0.1). Overrides --config. Repeatable. A sweep: list(16,32), range(0,10,2), "
            "linspace(0,1,5), logspace(-4,-1,4) (grid), uniform(a,b), loguniform(a,b), randint(a,b), "
            "choice(a,b) (random, with --samples).",
            show_default=False,
        ),
    ] = None,
    config_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            help="A YAML or JSON file of parameters; repeatable, merged in order (--param last). "
            "Its yanex: section sets name, tags, description, parallel and timeout.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            "-n",
            metavar="NAME",
            help="A name for the experiment; in a sweep, the prefix of each name (NAME-lr0.1-bs16) "
            "or a template with {key} fields (grid-lr{lr}).",
        ),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag", "-t", metavar="TAG", help="Tag the experiment. Repeatable.", show_default=False
        ),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", "-d", metavar="TEXT", help="What this experiment is for.")
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout",
            metavar="DURATION",
            help="Stop the script after DURATION (90, 90s, 5m, 2h, 1h30m) and record it failed: "
            "SIGTERM, then SIGKILL after YANEX_KILL_GRACE seconds (10).",
            show_default=False,
        ),
    ] = None,
    depends_on: Annotated[
        list[str] | None,
        typer.Option(
            "--depends-on",
            metavar="ID",
            help="A completed experiment (id, id prefix or name) this one runs on; the script gets "
            "its id from yanex.dependency(). Recorded in the dependencies table. Repeatable.",
            show_default=False,
        ),
    ] = None,
    parallel: Annotated[
        int | None,
        typer.Option(
            "--parallel",
            "-j",
            min=0,
            metavar="N",
            help="A sweep's worker processes: 0 = one per CPU. Default: one experiment at a time.",
            show_default=False,
        ),
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples",
            min=1,
            metavar="N",
            help="Draw N points from the random axes (each crossed with the grid axes).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", metavar="S", help="Seed of the --samples draw: the same seed, the same points."
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the experiments a sweep expands to; run and record nothing."),
    ] = False,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format of --dry-run.")
    ] = OutputFormat.TABLE,
    # Metric directions (issue 11): a self-contained block, read by _goals below.
    goal: Annotated[
        list[str] | None,
        typer.Option(
            "--goal",
            metavar="KEY=min|max",
            help="Whether metric KEY is best at its min or max (metrics.KEY.best). Default: names "
            "with loss, err, mse, mae, perplexity, time, latency or regret min, others max. Repeatable.",
            show_default=False,
        ),
    ] = None,
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            metavar="WHERE",
            help="'local' (here), dask://HOST:PORT (a Dask cluster), or slurm or "
            "slurm:partition=P,time=2h,... (a Slurm job; docs/cluster.md).",
        ),
    ] = "local",
) -> None:
    """Run SCRIPT as a tracked experiment and exit with its exit code (124 past --timeout).

    Its output is shown live and saved in the experiment's folder; Ctrl-C stops it as cancelled
    (a second Ctrl-C sends SIGTERM, then SIGKILL; a third kills it at once). Whatever the script
    started is killed when it ends.

    In the script, yanex.get_param() reads parameters and yanex.log_metrics() records metrics.

    Examples:

        yanex run train.py --param learning_rate=0.01 --param model.layers=[64,32]

        yanex run train.py --config sweep.yaml --tag baseline -- --epochs 5

        yanex run evaluate.py --depends-on abc12345

        yanex run train.py -p "lr=logspace(-4,-1,4)" -p "bs=list(16,32)" --parallel 4

    With sweep expressions, --param runs one experiment per point as one batch (named
    SCRIPT-lr0.0001-bs16, or --name as the prefix) and exits 0 only if all completed.
    """
    from pydantic import ValidationError

    from yanex.errors import UsageError
    from yanex.params import compose, refuse_sweep
    from yanex.sweep.expand import SweepDefinition

    goals = _goals(goal or [])
    script_path = _script_file(script)
    composition = compose(config_file or [], param or [])
    options = composition.options
    name = name if name is not None else options.name
    tags = list(dict.fromkeys([*options.tags, *(tag or [])]))
    description = description if description is not None else options.description
    time_limit = timeout if timeout is not None else options.timeout
    parallel = parallel if parallel is not None else options.parallel
    for flag, value in (
        ("--name", name),
        ("--tag", tags),
        ("--description", description),
        ("--timeout", time_limit),
    ):
        refuse_sweep(flag, value)
    if fmt is not OutputFormat.TABLE and not dry_run:
        raise UsageError(
            f"--format {fmt.value} is given without --dry-run", hint="add --dry-run to print the experiments"
        )
    if seed is not None and samples is None:
        raise UsageError("--seed is given without --samples", hint="pass --samples N with random axes")
    definition = SweepDefinition(composition.config, composition.axes, samples, seed)
    if depends_on and all(reference.strip() for reference in depends_on):  # (a blank one: the spec says)
        # Checked (completed, unambiguous) and pinned to ids now, dry run included: a sweep stores
        # them, and its resume must attach to these experiments, not to whatever a name means then.
        from yanex.cli.store import store
        from yanex.runner.dependencies import completed_parents

        depends_on = [parent.id for parent in completed_parents(store(), depends_on)]
    if definition.is_sweep:
        from yanex.cli.sweep import run_sweep

        run_sweep(
            definition,
            script_path,
            script_args=script_args or [],
            name=name,
            tags=tags,
            description=description,
            timeout=time_limit,
            parallel=parallel,
            dry_run=dry_run,
            fmt=fmt,
            depends_on=depends_on or [],
            goals=goals,
            executor=executor,
        )
        return
    from yanex.specs import ExperimentSpec, Status

    [point] = definition.points()  # one-value axes (list(0.1)) are plain values
    try:
        spec = ExperimentSpec(
            script_path=script_path,
            config=point.config,
            script_args=script_args or [],
            name=name,
            tags=tags,
            description=description,
            timeout=time_limit,
            depends_on=depends_on or [],
            goals=goals,
        )
    except ValidationError as error:
        raise spec_error(error) from None
    if dry_run:
        from yanex.cli.sweep import show_specs

        show_specs([spec], fmt)
        return

    from yanex.runner.single import run_script

    if executor != "local":
        _run_elsewhere(spec, executor)
    experiment_id, outcome, timed_out = run_script(spec)
    summary = f"yanex: experiment {experiment_id} {outcome.status.value}"
    if outcome.status is Status.COMPLETED and outcome.duration is not None:
        summary += f" in {outcome.duration:.2f} s"
    elif outcome.error_message:
        summary += f": {outcome.error_message}"
    typer.echo(summary, err=True)
    # A timeout exits 124, as timeout(1) does, whatever the script's own status after SIGTERM.
    raise typer.Exit(124 if timed_out else outcome.exit_code or 0)


def _goals(given: list[str]) -> dict[str, str]:
    """``--goal KEY=min|max`` options as a mapping; a later one for the same key wins."""
    from yanex.store.metric_names import parse_goal

    return dict(parse_goal(text) for text in given)


def _run_elsewhere(spec: object, executor: str) -> None:
    """``--executor``: the script as a batch of one on that executor; its output is shown once it
    has ended (it comes back with the outcome)."""
    import sys

    from yanex import config
    from yanex.db.engine import Database
    from yanex.errors import UsageError
    from yanex.runner.batch import run_multiple
    from yanex.specs import ExperimentSpec
    from yanex.store.reading import reading
    from yanex.store.views import experiment_view

    assert isinstance(spec, ExperimentSpec)
    try:
        [result] = run_multiple([spec], executor=executor)
    except ValueError as error:
        from yanex.executors import FORMS

        raise UsageError(str(error), hint=f"pass --executor {FORMS}") from None
    folder = config.experiment_dir(result.experiment_id)
    for name, stream in ((config.STDOUT_FILE, sys.stdout), (config.STDERR_FILE, sys.stderr)):
        if (folder / name).is_file():
            stream.write((folder / name).read_text(errors="replace"))
    with reading(Database(), settle=False) as conn:
        stored = experiment_view(conn, result.experiment_id)
    typer.echo(f"yanex: experiment {result.experiment_id} {result.status}", err=True)
    raise typer.Exit(stored.exit_code or (0 if result.status == "completed" else 1))


class _ScriptOptionHint(NoSuchOption):
    """``No such option`` plus where a script's own options go."""

    def __init__(self, error: NoSuchOption, suggestion: str) -> None:
        super().__init__(error.option_name, error.message, error.possibilities, error.ctx)
        self.suggestion = suggestion

    def format_message(self) -> str:
        return f"{super().format_message()}\nHint: options for the script go after --: {self.suggestion}"


class RunCommand(TyperCommand):
    """``yanex run`` refusing an option it does not know says that the script's options go after
    ``--`` (``yanex run train.py -p epochs=1 --verbose``)."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        given = list(args)  # the parser consumes the list it is given
        try:
            return super().parse_args(ctx, args)
        except NoSuchOption as error:
            if "--" in given:  # already separated: the unknown option is meant for yanex
                raise
            split = next(
                (i for i, arg in enumerate(given) if arg.split("=", 1)[0] == error.option_name), None
            )
            if split is None:
                raise
            suggestion = shlex.join(["yanex", "run", *given[:split], "--", *given[split:]])
            raise _ScriptOptionHint(error, suggestion) from None
