"""The Python side of sweeps: ``yanex.grid``, ``yanex.sample`` and the distributions they draw from.

    specs = yanex.grid("train.py", {"lr": [0.01, 0.1], "bs": "list(16, 32)"}, tags=["grid"])
    specs = yanex.sample("train.py", {"lr": yanex.loguniform(1e-4, 1e-1), "bs": [16, 32]}, n=20, seed=0)
    results = yanex.run_multiple(specs, parallel=4)

An axis is a list (or tuple, or range) of values, a distribution, or a string in the grammar of
``yanex run --param`` (``yanex.sweep.grammar``). The result is a list of ``ExperimentSpec`` that
also carries its plan, so the batch that runs it can be finished by ``yanex sweep resume``.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yanex.errors import ConfigError
from yanex.sweep.expand import KeyPath, SweepDefinition
from yanex.sweep.grammar import Axis, GridAxis, RandomAxis, looks_like_expression, parse_axis
from yanex.sweep.plan import Pruning, Sweep, SweepPlan

if TYPE_CHECKING:
    from yanex.specs import ExperimentResult

_AXIS_HINT = (
    'give a list of values, a distribution (yanex.uniform(0, 1)) or an expression ("logspace(-4, -1, 4)")'
)


def uniform(low: float, high: float) -> RandomAxis:
    """A float drawn uniformly from [low, high)."""
    return _distribution("uniform", low, high)


def loguniform(low: float, high: float) -> RandomAxis:
    """A float whose logarithm is uniform: as likely in [1e-4, 1e-3) as in [1e-2, 1e-1)."""
    return _distribution("loguniform", low, high)


def randint(low: int, high: int) -> RandomAxis:
    """A whole number from low to high, both included (as ``random.randint``)."""
    return _distribution("randint", low, high)


def choice(*options: Any) -> RandomAxis:
    """One of ``options`` (any JSON values), each as likely."""
    if not options:
        raise ConfigError("choice() needs at least one option", hint="write yanex.choice('adam', 'sgd')")
    return RandomAxis("choice", tuple(options), "")


def _distribution(kind: str, low: float, high: float) -> RandomAxis:
    for value in (low, high):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{kind}() takes numbers, got {value!r}", hint=f"write yanex.{kind}(1, 10)")
    axis = parse_axis(f"yanex.{kind}", f"{kind}({low!r}, {high!r})")  # the grammar's checks
    assert isinstance(axis, RandomAxis)
    return axis


def grid(
    script: str | Path,
    axes: Mapping[str, Any],
    *,
    config: Mapping[str, Any] | None = None,
    script_args: Sequence[str] = (),
    name: str | None = None,
    tags: Sequence[str] = (),
    description: str | None = None,
    timeout: float | str | None = None,
) -> Sweep:
    """One spec per point of the cartesian product of ``axes`` (dotted keys nest: ``model.lr``),
    each with ``config`` underneath. Names default to ``SCRIPT-lr0.01-bs16``; ``name`` replaces
    the script's stem, or is a template with ``{key}`` fields (``"grid-lr{lr}"``)."""
    parsed = _axes(axes)
    drawn = [".".join(path) for path, axis in parsed if isinstance(axis, RandomAxis)]
    if drawn:
        raise ConfigError(
            f"yanex.grid: {', '.join(drawn)} is drawn at random",
            hint="use yanex.sample(..., n=N) for random axes",
        )
    return _plan(
        script, SweepDefinition(dict(config or {}), parsed), script_args, name, tags, description, timeout
    )


def sample(
    script: str | Path,
    axes: Mapping[str, Any],
    n: int,
    seed: int | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    script_args: Sequence[str] = (),
    name: str | None = None,
    tags: Sequence[str] = (),
    description: str | None = None,
    timeout: float | str | None = None,
) -> Sweep:
    """``n`` draws of the random axes, each crossed with every point of the grid axes (lists):
    ``n`` x grid-size specs. The same ``seed`` (0 or more) gives the same specs; without one a seed
    is chosen and stored with the batch, so ``yanex sweep resume`` draws the same points."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"yanex.sample: n must be a whole number >= 1, got {n!r}", hint="pass n=20")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ConfigError(f"yanex.sample: seed must be an int, got {seed!r}", hint="pass seed=0")
    definition = SweepDefinition(
        dict(config or {}), _axes(axes), n, secrets.randbelow(2**31) if seed is None else seed
    )
    return _plan(script, definition, script_args, name, tags, description, timeout)


def search(
    script: str | Path,
    axes: Mapping[str, Any],
    n: int,
    *,
    objective: str,
    sampler: str = "tpe",
    direction: str | None = None,
    seed: int | None = None,
    parallel: int | None = None,
    config: Mapping[str, Any] | None = None,
    script_args: Sequence[str] = (),
    name: str | None = None,
    tags: Sequence[str] = (),
    description: str | None = None,
    timeout: float | str | None = None,
    executor: object = "local",
    prune: Pruning | None = None,
) -> list[ExperimentResult]:
    """Run ``n`` experiments whose points ``sampler`` (``tpe``, ``cmaes`` or ``random``) proposes
    from the results so far, optimizing ``objective`` (``loss.min``; best at ``direction``, by
    default the metric's name's); ``parallel`` proposals in flight. Returns the results as
    ``run_multiple`` does; ``yanex sweep resume`` on the batch continues the same search.
    ``prune`` (``yanex.Pruning("median", "loss")``) stops the runs that fall behind, as
    ``run_multiple``'s does."""
    from yanex.runner.sweep import run_points
    from yanex.sweep.plan import PlanSpecs
    from yanex.sweep.search import SearchSpecs, check_space, make_search, require_optuna

    sweep = sample(
        script, axes, n, seed, config=config, script_args=script_args, name=name, tags=tags,
        description=description, timeout=timeout,
    )  # fmt: skip
    chosen = make_search(sampler, objective, direction, {})
    if prune is not None and not isinstance(prune, Pruning):
        raise TypeError(f"prune is a {type(prune).__name__}, not a yanex.Pruning")
    plan = dataclasses.replace(sweep.plan, search=chosen, parallel=parallel, pruning=prune)
    points = PlanSpecs(plan)
    if chosen is not None and chosen.adaptive:
        from yanex.db.engine import Database

        check_space(plan)
        require_optuna()
        points = SearchSpecs(plan, plan.size(), Database())
    return list(run_points(points, parallel, verbose=False, executor=executor))


def _axes(axes: Mapping[str, Any]) -> tuple[tuple[KeyPath, Axis], ...]:
    if not isinstance(axes, Mapping):
        raise ConfigError(
            f"axes must be a mapping of parameter names to values, got {type(axes).__name__}", hint=_AXIS_HINT
        )
    parsed: list[tuple[KeyPath, Axis]] = []
    for key, value in axes.items():
        path = tuple(str(key).split("."))
        if isinstance(value, GridAxis | RandomAxis):
            parsed.append((path, value))
        elif isinstance(value, str):
            if not looks_like_expression(value):
                raise ConfigError(
                    f"axis {key!r} is the text {value!r}, not a sweep expression", hint=_AXIS_HINT
                )
            parsed.append((path, parse_axis(repr(key), value)))
        elif isinstance(value, list | tuple | range):
            if not value:
                raise ConfigError(f"axis {key!r} has no values", hint=_AXIS_HINT)
            parsed.append((path, GridAxis(tuple(value), "")))
        else:
            raise ConfigError(f"axis {key!r} is a {type(value).__name__}", hint=_AXIS_HINT)
    return tuple(parsed)


def _plan(
    script: str | Path,
    definition: SweepDefinition,
    script_args: Sequence[str],
    name: str | None,
    tags: Sequence[str],
    description: str | None,
    timeout: float | str | None,
) -> Sweep:
    if isinstance(script_args, str) or isinstance(tags, str):
        raise ConfigError(
            "script_args and tags are lists of strings, not one string", hint="write tags=['grid']"
        )
    plan = SweepPlan(
        definition,
        Path(script).resolve(),
        script_args=tuple(script_args),
        name=name,
        tags=tuple(tags),
        description=description,
        timeout=timeout,
        working_dir=str(Path.cwd()),
    )
    return plan.specs()
