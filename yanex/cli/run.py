"""``yanex run SCRIPT``: run one script as a tracked experiment, echoing its output live; with
sweep expressions, a batch of them (``yanex.cli.run_sweep``).

Only Typer is imported at module level: ``yanex run --help`` must not pay for the store,
pydantic or pyyaml, which the command imports when it runs.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from yanex.cli.render import OutputFormat
from yanex.cli.run_sweep import DRY_RUN_FORMAT, run_sweep, show_specs, spec_error
from yanex.cli.spec import REQUIRED, Command, Param

if TYPE_CHECKING:
    from yanex.params import RunOptions
    from yanex.specs import ExperimentSpec
    from yanex.sweep.expand import SweepDefinition
    from yanex.sweep.plan import Pruning, Search


def run_command(
    script: Path,
    script_args: list[str] | None,
    param: list[str] | None,
    config_file: list[Path] | None,
    name: str | None,
    tag: list[str] | None,
    description: str | None,
    timeout: str | None,
    depends_on: list[str] | None,
    parallel: int | None,
    samples: int | None,
    seed: int | None,
    dry_run: bool,
    fmt: OutputFormat,
    goal: list[str] | None,
    executor: str,
    system_metrics_interval: float | None,
    prune: str | None = None,
    prune_metric: str | None = None,
    prune_warmup: int = 0,
    prune_min_runs: int = 4,
    search: str | None = None,
    objective: str | None = None,
    direction: str | None = None,
) -> None:
    """Run SCRIPT as a tracked experiment and exit with its exit code (124 past --timeout).

    Its output is shown live and saved in the experiment's folder; Ctrl-C stops it as cancelled
    (a second Ctrl-C sends SIGTERM, then SIGKILL; a third kills it at once). Whatever the script
    started is killed when it ends.

    In the script, yanex.get_param() reads parameters and yanex.log_metrics() records metrics.

    Examples:

        yanex run train.py --param learning_rate=0.01 --param 'model.layers=[64,32]'

        yanex run train.py --config sweep.yaml --tag baseline -- --epochs 5

        yanex run evaluate.py --depends-on abc12345

        yanex run train.py -p "lr=logspace(-4,-1,4)" -p "bs=list(16,32)" --parallel 4

    With sweep expressions, --param runs one experiment per point as one batch (named
    SCRIPT-lr0.0001-bs16, or --name as the prefix) and exits 0 only if all completed (or were
    pruned: --prune). With --search tpe (or cmaes) and --objective, each point is proposed from the
    results so far:

        yanex run train.py -p "lr=loguniform(1e-5,1e-1)" --samples 50 --search tpe --objective loss.min
    """
    from yanex.params import compose
    from yanex.sweep.expand import SweepDefinition
    from yanex.sweep.search import make_search

    if system_metrics_interval is not None:  # read, and checked, where each launch is prepared
        import os

        from yanex import config

        os.environ[config.SYSTEM_METRICS_INTERVAL_ENV] = repr(system_metrics_interval)
    goals = _goals(goal or [])
    searched = make_search(search, objective, direction, goals)
    script_path = _script_file(script)
    composition = compose(config_file or [], param or [])
    options = _options(composition.options, name, tag or [], description, timeout, parallel)
    _refuse_lone_options(fmt, dry_run, seed, samples)
    definition = SweepDefinition(composition.config, composition.axes, samples, seed)
    parents = _pinned(depends_on or [])
    pruning = _pruning(
        prune, prune_metric, prune_warmup, prune_min_runs, goals, definition.is_sweep, searched
    )
    if searched is not None and not definition.is_sweep:
        from yanex.errors import UsageError

        raise UsageError(
            "--search and --objective choose a sweep's points, but no parameter is swept",
            hint='sweep one: -p "lr=loguniform(1e-5,1e-1)" --samples 50',
        )
    if definition.is_sweep:
        run_sweep(
            definition,
            script_path,
            script_args=script_args or [],
            name=options.name,
            tags=options.tags,
            description=options.description,
            timeout=options.timeout,
            parallel=options.parallel,
            dry_run=dry_run,
            fmt=fmt,
            depends_on=parents,
            goals=goals,
            executor=executor,
            pruning=pruning,
            search=searched,
        )
        return
    if options.name is None:
        options = dataclasses.replace(options, name=_generated_name(script_path, definition, param or []))
    spec = _single_spec(definition, script_path, script_args or [], options, parents, goals)
    if dry_run:
        show_specs([spec], fmt)
        return
    if executor != "local":
        _run_elsewhere(spec, executor)
    _run_here(spec)


def _generated_name(script_path: Path, definition: SweepDefinition, params: list[str]) -> str:
    """A one-off run's name when none is given: ``train-lr0.05`` from its --param keys, as a sweep
    names its points, or ``train-brisk-otter`` when none was set."""
    from yanex.params import parse_param
    from yanex.sweep.expand import run_name

    [point] = definition.points()
    given = [tuple(parse_param(text, sweeps=True)[0]) for text in params]
    return run_name(script_path.stem, point.config, given)


def _goals(given: list[str]) -> dict[str, str]:
    """``--goal KEY=min|max`` options as a mapping; a later one for the same key wins."""
    from yanex.store.metric_names import parse_goal

    return dict(parse_goal(text) for text in given)


def _pruning(
    rule: str | None,
    metric: str | None,
    warmup: int,
    min_runs: int,
    goals: dict[str, str],
    sweep: bool,
    search: Search | None,
) -> Pruning | None:
    """``--prune`` and its options as the batch's ``Pruning``: the metric's goal from ``KEY.min`` or
    ``KEY.max``, else from ``--goal``, else from its name. Without ``--prune-metric``, the metric
    of ``--objective`` as logged, best at its direction."""
    from yanex.errors import UsageError
    from yanex.store.metric_names import metric_ref
    from yanex.sweep.plan import RULES, Pruning

    if rule is None:
        if metric is not None:
            raise UsageError(
                "--prune-metric is given without --prune", hint="add --prune median or --prune asha"
            )
        return None
    if rule not in RULES:
        raise UsageError(f"unknown pruning rule {rule!r}", hint="pass --prune median or --prune asha")
    if not sweep:
        raise UsageError(
            "--prune stops the runs of a sweep that fall behind the others; this run is no sweep",
            hint='give a sweep expression, e.g. -p "lr=logspace(-4,-1,8)"',
        )
    objective = None if search is None else (metric_ref(search.objective).key, search.direction)
    if metric is None and objective is not None:
        return Pruning(rule, objective[0], objective[1], warmup, min_runs)
    if metric is None or not metric.strip():
        raise UsageError(
            "--prune needs the metric to compare the runs on",
            hint="pass --objective loss.min, or --prune-metric KEY (a metric the script logs), "
            "e.g. --prune-metric loss or loss.min",
        )
    goal = goals.get(metric)
    pruning = Pruning(
        rule, metric, None if goal is None else "min" if goal == "min" else "max", warmup, min_runs
    )
    if objective is not None and objective != (pruning.metric, pruning.goal):
        raise UsageError(
            f"--prune-metric {metric} is not the objective's metric ({objective[0]}, best at its "
            f"{objective[1]})",
            hint="leave out --prune-metric: --prune compares the runs on the objective's metric",
        )
    return pruning


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


def _options(
    section: RunOptions,
    name: str | None,
    tags: list[str],
    description: str | None,
    timeout: str | None,
    parallel: int | None,
) -> RunOptions:
    """The run options of the command line over those of the config's ``yanex:`` section (whose
    tags come first); each is one value for a whole sweep, never a sweep expression."""
    from yanex.params import RunOptions, refuse_sweep

    options = RunOptions(
        name=name if name is not None else section.name,
        tags=tuple(dict.fromkeys([*section.tags, *tags])),
        description=description if description is not None else section.description,
        timeout=timeout if timeout is not None else section.timeout,
        parallel=parallel if parallel is not None else section.parallel,
    )
    for flag, value in (
        ("--name", options.name),
        ("--tag", options.tags),
        ("--description", options.description),
        ("--timeout", options.timeout),
    ):
        refuse_sweep(flag, value)
    return options


def _refuse_lone_options(fmt: OutputFormat, dry_run: bool, seed: int | None, samples: int | None) -> None:
    """--format and --seed mean something only next to --dry-run and --samples."""
    from yanex.errors import UsageError

    if fmt is not OutputFormat.TABLE and not dry_run:
        raise UsageError(
            f"--format {fmt.value} is given without --dry-run", hint="add --dry-run to print the experiments"
        )
    if seed is not None and samples is None:
        raise UsageError("--seed is given without --samples", hint="pass --samples N with random axes")


def _pinned(depends_on: list[str]) -> list[str]:
    """``--depends-on`` checked (completed, unambiguous) and pinned to ids now, dry run included:
    a sweep stores them, and its resume must attach to these experiments, not to whatever a name
    means then. A blank reference is left for the spec to refuse."""
    if not depends_on or not all(reference.strip() for reference in depends_on):
        return depends_on
    from yanex.cli.store import store
    from yanex.runner.dependencies import completed_parents

    return [parent.id for parent in completed_parents(store(), depends_on)]


def _single_spec(
    definition: SweepDefinition,
    script_path: Path,
    script_args: list[str],
    options: RunOptions,
    depends_on: list[str],
    goals: dict[str, str],
) -> ExperimentSpec:
    """The one experiment of a command line without sweep expressions."""
    from pydantic import ValidationError

    from yanex.specs import ExperimentSpec

    [point] = definition.points()  # one-value axes (list(0.1)) are plain values
    try:
        return ExperimentSpec(
            script_path=script_path,
            config=point.config,
            script_args=script_args,
            name=options.name,
            tags=list(options.tags),
            description=options.description,
            timeout=options.timeout,
            depends_on=depends_on,
            goals=goals,
        )
    except ValidationError as error:
        raise spec_error(error) from None


def _run_here(spec: ExperimentSpec) -> NoReturn:
    """Run the script here, its output live; exit with its exit code."""
    from yanex.runner.single import run_script
    from yanex.specs import Status
    from yanex.store.ids import shown

    experiment_id, outcome, timed_out = run_script(spec)
    summary = f"yanex: experiment {shown(experiment_id)} {outcome.status.value}"
    if outcome.status is Status.COMPLETED and outcome.duration is not None:
        summary += f" in {outcome.duration:.2f} s"
    elif outcome.error_message:
        summary += f": {outcome.error_message}"
    typer.echo(summary, err=True)
    # A timeout exits 124, as timeout(1) does, whatever the script's own status after SIGTERM.
    raise typer.Exit(124 if timed_out else outcome.exit_code or 0)


def _run_elsewhere(spec: ExperimentSpec, executor: str) -> NoReturn:
    """``--executor``: the script as a batch of one on that executor; its output is shown once it
    has ended (it comes back with the outcome)."""
    import sys

    from yanex import config
    from yanex.db.engine import Database
    from yanex.errors import UsageError
    from yanex.runner.batch import run_multiple
    from yanex.store.ids import shown
    from yanex.store.reading import reading
    from yanex.store.views import experiment_view

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
    typer.echo(f"yanex: experiment {shown(result.experiment_id)} {result.status}", err=True)
    raise typer.Exit(stored.exit_code or (0 if result.status == "completed" else 1))


def _script_options_hint(args: Sequence[str], option: str) -> str | None:
    """``yanex run train.py -p epochs=1 --verbose``: the script's options go after ``--``, unless
    the command line has one already (then the unknown option is meant for yanex)."""
    if "--" in args:
        return None
    split = next((i for i, arg in enumerate(args) if arg.split("=", 1)[0] == option), None)
    if split is None:
        return None
    suggestion = shlex.join(["yanex", "run", *args[:split], "--", *args[split:]])
    return f"options for the script go after --: {suggestion}"


COMMAND = Command(
    run_command,
    (
        Param(
            "script", (), Path, REQUIRED, "The Python script to run.", metavar="SCRIPT", show_default=False
        ),
        Param(
            "script_args",
            (),
            str,
            None,
            "Arguments for the script, after `--`; it sees them in sys.argv.",
            multiple=True,
            metavar="SCRIPT_ARGS",
            show_default=False,
        ),
        Param(
            "param",
            ("--param", "-p"),
            str,
            None,
            "Set a parameter. VALUE is read as YAML with JSON's scalars only (numbers, true/false, "
            "null, lists such as [64,32]); anything else, 12:30:00 or yes, stays text. Dotted keys nest "
            "(model.lr=0.1). Overrides --config. Repeatable. A sweep: list(16,32), range(0,10,2), "
            "linspace(0,1,5), logspace(-4,-1,4) (grid), uniform(a,b), loguniform(a,b), randint(a,b), "
            "choice(a,b) (random, with --samples); quoted, such text is text: \"note='list(1)'\".",
            multiple=True,
            metavar="KEY=VALUE",
            show_default=False,
        ),
        Param(
            "config_file",
            ("--config", "-c"),
            Path,
            None,
            "A YAML or JSON file of parameters; repeatable, merged in order (--param last). "
            "Its yanex: section sets name, tags, description, parallel and timeout.",
            multiple=True,
            metavar="FILE",
            show_default=False,
        ),
        Param(
            "name",
            ("--name", "-n"),
            str,
            None,
            "A name for the experiment; in a sweep, the prefix of each name (NAME-lr0.1-bs16) "
            "or a template with {key} fields (grid-lr{lr}).",
            metavar="NAME",
        ),
        Param(
            "tag",
            ("--tag", "-t"),
            str,
            None,
            "Tag the experiment. Repeatable.",
            multiple=True,
            metavar="TAG",
            show_default=False,
        ),
        Param(
            "description",
            ("--description", "-d"),
            str,
            None,
            "What this experiment is for.",
            metavar="TEXT",
        ),
        Param(
            "timeout",
            ("--timeout",),
            str,
            None,
            "Stop the script after DURATION (90, 90s, 5m, 2h, 1h30m) and record it failed: "
            "SIGTERM, then SIGKILL after YANEX_KILL_GRACE seconds (10).",
            metavar="DURATION",
            show_default=False,
        ),
        Param(
            "depends_on",
            ("--depends-on",),
            str,
            None,
            "A completed experiment (id, id prefix or name) this one runs on; the script gets "
            "its id from yanex.dependency(). Recorded in the dependencies table. Repeatable.",
            multiple=True,
            metavar="ID",
            show_default=False,
        ),
        Param(
            "parallel",
            ("--parallel", "-j"),
            int,
            None,
            "A sweep's worker processes: 0 = one per CPU. Default: one experiment at a time.",
            metavar="N",
            min=0,
            show_default=False,
        ),
        Param(
            "samples",
            ("--samples",),
            int,
            None,
            "Draw N points from the random axes (each crossed with the grid axes).",
            metavar="N",
            min=1,
            show_default=False,
        ),
        Param(
            "seed",
            ("--seed",),
            int,
            None,
            "Seed of the --samples draw, 0 or more: the same seed, the same points.",
            metavar="S",
        ),
        Param(
            "dry_run",
            ("--dry-run",),
            bool,
            False,
            "Print the experiments a sweep expands to; run and record nothing.",
        ),
        DRY_RUN_FORMAT,
        # Metric directions (issue 11).
        Param(
            "goal",
            ("--goal",),
            str,
            None,
            "Whether metric KEY is best at its min or max (metrics.KEY.best). Default: names "
            "with loss, err, mse, mae, perplexity, time, latency or regret min, others max. Repeatable.",
            multiple=True,
            metavar="KEY=min|max",
            show_default=False,
        ),
        Param(
            "executor",
            ("--executor",),
            str,
            "local",
            "'local' (here), dask://HOST:PORT (a Dask cluster), or slurm or "
            "slurm:partition=P,time=2h,... (a Slurm job; docs/cluster.md).",
            metavar="WHERE",
        ),
        Param(
            "system_metrics_interval",
            ("--system-metrics-interval",),
            float,
            None,
            "Seconds between samples of the script's CPU, memory and GPU use, stored as system/... "
            "metrics; 0 takes none. Default: YANEX_SYSTEM_METRICS_INTERVAL, else 10.",
            metavar="SECONDS",
            min=0,
            show_default=False,
        ),
        # Early stopping (issue 24).
        Param(
            "prune",
            ("--prune",),
            str,
            None,
            "Stop the sweep's runs that fall behind the others, recorded pruned: median (worse "
            "than the median at the same step) or asha (successive halving; docs/batches.md).",
            metavar="median|asha",
            show_default=False,
        ),
        Param(
            "prune_metric",
            ("--prune-metric",),
            str,
            None,
            "The metric --prune compares, as logged; KEY.min or KEY.max sets its direction "
            "(else --goal, else its name). Default: --objective's metric.",
            metavar="KEY",
            show_default=False,
        ),
        Param(
            "prune_warmup",
            ("--prune-warmup",),
            int,
            0,
            "Steps before --prune may stop a run.",
            metavar="STEPS",
            min=0,
        ),
        Param(
            "prune_min_runs",
            ("--prune-min-runs",),
            int,
            4,
            "Other runs that must have reached a step before --prune judges a run at it.",
            metavar="N",
            min=1,
        ),
        # Adaptive search (issue 24).
        Param(
            "search",
            ("--search",),
            str,
            None,
            "How --samples points are chosen: random (drawn up front, the default), tpe or cmaes "
            "(each proposed from the results so far; needs --objective and the search extra).",
            metavar="SAMPLER",
            show_default=False,
        ),
        Param(
            "objective",
            ("--objective",),
            str,
            None,
            "The metric the search optimizes, with an aggregate: loss.min, acc.max, loss (last).",
            metavar="METRIC.AGG",
            show_default=False,
        ),
        Param(
            "direction",
            ("--direction",),
            str,
            None,
            "min or max: where --objective is best. Default: the metric's --goal, or its name's.",
            metavar="min|max",
            show_default=False,
        ),
    ),
    unknown_option_hint=_script_options_hint,
)
