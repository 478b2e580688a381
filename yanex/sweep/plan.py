"""A sweep ready to run: its definition plus what every experiment shares (script, arguments,
name prefix, tags, description, time limit), as stored in ``batches.spec`` and as ``ExperimentSpec``s.

``Sweep`` is the list ``yanex.grid``/``yanex.sample`` hand to ``run_multiple``: a plain list of
specs that also carries its plan, so that the batch stores it and ``yanex sweep resume`` can expand
it again. ``PlanSpecs`` is what ``yanex run`` and ``yanex sweep resume`` run instead: the same
specs, each built when the batch reaches it, so that a million points are never held at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from yanex.errors import ConfigError
from yanex.store.metric_names import GOALS, Goal, default_goal
from yanex.sweep.expand import Point, SweepDefinition, named_points, repeated_names

if TYPE_CHECKING:
    from yanex.specs import ExperimentSpec

SPEC_VERSION = 1
_T = TypeVar("_T")

Sampler = Literal["random", "tpe", "cmaes"]
SAMPLERS: tuple[Sampler, ...] = ("random", "tpe", "cmaes")
_ADAPTIVE = ("tpe", "cmaes")  # the samplers that learn (yanex.sweep.search), through Optuna


@dataclass(frozen=True)
class Search:
    """How a sweep's points are chosen (stored in its plan): the sampler and the objective, a
    metric reference with its aggregate (``loss.min``), best at its ``direction``."""

    sampler: Sampler
    objective: str
    direction: Goal
    # Drawn per search: a new `yanex run` of the same command is a search of its own, which its
    # resumptions (the batches storing the same plan) continue; the sampler never sees it.
    key: str = ""

    @property
    def adaptive(self) -> bool:
        return self.sampler in _ADAPTIVE

    def to_json(self) -> dict[str, Any]:
        return {
            "sampler": self.sampler,
            "objective": self.objective,
            "direction": self.direction,
            "key": self.key,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Search:
        return cls(data["sampler"], data["objective"], data["direction"], data.get("key", ""))


Rule = Literal["median", "asha"]
RULES: tuple[Rule, ...] = ("median", "asha")


@dataclass(frozen=True)
class Pruning:
    """How a sweep stops its runs that fall behind the others (``yanex run --prune``,
    ``run_multiple(..., prune=Pruning("median", "loss"))``; ``yanex.runner.pruning`` decides): the
    rule, the metric as logged, where it is best (``metric="acc.max"`` sets it too; default: the
    name's, ``loss`` at its smallest), the steps before any decision, and the other runs that must
    have reached a step before a run is judged at it. Stored in the sweep's plan, so that
    ``yanex sweep resume`` prunes as the first run did."""

    rule: Rule
    metric: str
    goal: Goal | None = None
    warmup: int = 0
    min_runs: int = 4

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ConfigError(f"unknown pruning rule {self.rule!r}", hint="use median or asha")
        key, dot, suffix = self.metric.rpartition(".")
        if dot and key and suffix in GOALS:
            if self.goal not in (None, suffix):
                raise ConfigError(
                    f"pruning metric {self.metric} is best at its {suffix}, not its {self.goal}",
                    hint=f"give the goal once: metric={key!r}, goal={self.goal!r}",
                )
            object.__setattr__(self, "metric", key)
            object.__setattr__(self, "goal", suffix)
        if not self.metric.strip():
            raise ConfigError("pruning needs a metric", hint="name one the script logs, e.g. 'loss'")
        if self.goal is None:
            object.__setattr__(self, "goal", default_goal(self.metric))
        elif self.goal not in GOALS:
            raise ConfigError(f"invalid pruning goal {self.goal!r}", hint="use min or max")
        if self.warmup < 0 or self.min_runs < 0:
            raise ConfigError("pruning's warmup and min_runs are counts", hint="give 0 or more for each")

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "metric": self.metric,
            "goal": self.goal,
            "warmup": self.warmup,
            "min_runs": self.min_runs,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pruning:
        return cls(data["rule"], data["metric"], data["goal"], data["warmup"], data["min_runs"])


@dataclass(frozen=True)
class SweepPlan:
    definition: SweepDefinition
    script_path: Path  # absolute
    script_args: tuple[str, ...] = ()
    name: str | None = None  # the prefix (or template) of every name; default: the script's stem
    tags: tuple[str, ...] = ()
    description: str | None = None
    timeout: float | str | None = None
    parallel: int | None = None
    working_dir: str | None = None
    depends_on: tuple[str, ...] = ()  # stored experiments every point runs on (``--depends-on``)
    goals: tuple[tuple[str, str], ...] = ()  # metric directions (``--goal``), as (key, min|max)
    search: Search | None = None  # an objective, and a sampler other than plain expansion
    pruning: Pruning | None = None  # early stopping (``--prune``)

    def size(self) -> int:
        return self.definition.size()

    def goal_of(self, reference: str) -> Goal:
        """The direction of objective ``reference`` (``loss.min``): the search's when it is the
        search's objective, else the metric's ``--goal``, else its default."""
        from yanex.store.metric_names import default_goal, metric_ref

        if self.search is not None and reference == self.search.objective:
            return self.search.direction
        key = metric_ref(reference.removeprefix("metrics.")).key
        declared = dict(self.goals).get(key)
        return "min" if declared == "min" else "max" if declared == "max" else default_goal(key)

    def named_points(self) -> Iterator[tuple[str, Point]]:
        """Every point with its name, in expansion order (``yanex.sweep.expand.named_points``)."""
        return named_points(self._prefix, self.definition, self._repeated)

    @property
    def _prefix(self) -> str:
        return self.name or self.script_path.stem

    @cached_property
    def _repeated(self) -> frozenset[str]:
        return repeated_names(self._prefix, self.definition)  # a pass over every name, at most once

    def to_json(self) -> dict[str, Any]:
        return {
            "version": SPEC_VERSION,
            "script_path": str(self.script_path),
            "script_args": list(self.script_args),
            "name": self.name,
            "tags": list(self.tags),
            "description": self.description,
            "timeout": self.timeout,
            "parallel": self.parallel,
            "working_dir": self.working_dir,
            "depends_on": list(self.depends_on),
            "goals": dict(self.goals),
            **self.definition.to_json(),
            # Only when set: the plans stored before searches (and their sweeps' identity) stay as they were.
            **({} if self.search is None else {"search": self.search.to_json()}),
            **({} if self.pruning is None else {"pruning": self.pruning.to_json()}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepPlan:
        return cls(
            definition=SweepDefinition.from_json(data),
            script_path=Path(data["script_path"]),
            script_args=tuple(data["script_args"]),
            name=data["name"],
            tags=tuple(data["tags"]),
            description=data["description"],
            timeout=data["timeout"],
            parallel=data["parallel"],
            working_dir=data["working_dir"],
            depends_on=tuple(data.get("depends_on", ())),
            goals=tuple(data.get("goals", {}).items()),
            search=Search.from_json(data["search"]) if data.get("search") else None,
            pruning=Pruning.from_json(data["pruning"]) if data.get("pruning") else None,
        )

    def spec(self, name: str, point: Point) -> ExperimentSpec:
        """The ``ExperimentSpec`` of one point (pydantic loads here)."""
        from yanex.specs import ExperimentSpec

        return ExperimentSpec(
            script_path=self.script_path,
            config=point.config,
            script_args=self.script_args,
            name=name,
            tags=self.tags,
            description=self.description,
            timeout=self.timeout,
            depends_on=list(self.depends_on),
            goals=dict(self.goals),
        )

    def specs(self, indices: Sequence[int] | None = None) -> Sweep:
        """The specs of these points (ascending; default all), in expansion order, as one list."""
        return Sweep(self, list(PlanSpecs(self, indices)))


class PlanSpecs:
    """The specs of a plan's points (``indices``, ascending; default all), each built as iteration
    reaches it. ``yanex.runner.batch.Batch`` runs it as it runs a list, holding only the specs
    of the rows it has queued and not finished."""

    proposes = False  # whether a spec is only known once the ones before it ran (a search)

    def __init__(self, plan: SweepPlan, indices: Sequence[int] | None = None) -> None:
        self.plan, self.indices = plan, indices

    def __len__(self) -> int:
        return self.plan.size() if self.indices is None else len(self.indices)

    def __iter__(self) -> Iterator[ExperimentSpec]:
        return (self.plan.spec(name, point) for name, point in self.named_points())

    def named_points(self) -> Iterator[tuple[str, Point]]:
        return _chosen(self.plan.named_points(), self.indices)

    def names(self) -> Iterator[str]:
        return (name for name, _ in self.named_points())

    def first(self) -> ExperimentSpec:
        """A spec of these points, for the checks every point shares."""
        return next(iter(self))


def _chosen(items: Iterable[_T], indices: Sequence[int] | None) -> Iterator[_T]:
    """The items at ``indices`` (ascending; None: every item)."""
    if indices is None:
        yield from items
        return
    wanted = iter(indices)
    following = next(wanted, None)
    for index, item in enumerate(items):
        if following is None:
            return
        if index == following:
            yield item
            following = next(wanted, None)


class Sweep(list["ExperimentSpec"]):
    """A list of ``ExperimentSpec`` that remembers the sweep it came from (``plan``); given to
    ``run_multiple``, the batch stores the plan, so that ``yanex sweep resume`` can finish it."""

    def __init__(self, plan: SweepPlan, specs: list[ExperimentSpec]) -> None:
        super().__init__(specs)
        self.plan = plan


def stored_plan(
    experiments: Iterable[ExperimentSpec], pruning: Pruning | None = None
) -> dict[str, Any] | None:
    """What a batch of ``experiments`` stores in ``batches.spec``: the plan of a ``Sweep``, with
    the ``pruning`` its batch applies (``run_multiple(prune=...)``) when given."""
    if not isinstance(experiments, Sweep | PlanSpecs):
        return None
    plan = experiments.plan if pruning is None else dataclasses.replace(experiments.plan, pruning=pruning)
    return plan.to_json()
