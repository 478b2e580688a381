"""Adaptive search: a sweep's points proposed one at a time by an Optuna sampler (``tpe``,
``cmaes``) that learns from the experiments of the sweep finished so far.

The experiments are the truth: the sampler's study lives in memory only, and before each proposal
it is told every finished experiment of the sweep the store holds that it has not seen (its params
and objective value; failed and pruned ones as such), whichever batch ran it. So ``yanex sweep
resume`` rebuilds the same search from the store, and no Optuna storage exists beside ours. Its
sampler is seeded with the sweep's seed plus the number of points it starts from: run one at a
time, the same seed proposes the same points, and a resumed search does not replay its first ones.
``random`` is the plain expansion of ``yanex.sweep.expand`` and needs no Optuna.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from yanex.errors import ConfigError, UsageError, install_hint
from yanex.store.metric_names import GOALS, Goal, default_goal, metric_ref
from yanex.sweep.expand import Point, _assign, _Namer, dotted
from yanex.sweep.grammar import GridAxis, RandomAxis
from yanex.sweep.plan import SAMPLERS, PlanSpecs, Search, SweepPlan

if TYPE_CHECKING:
    import optuna

    from yanex.db.engine import Database
    from yanex.specs import ExperimentSpec


def make_search(
    sampler: str | None, objective: str | None, direction: str | None, goals: dict[str, str]
) -> Search | None:
    """``--search``, ``--objective`` and ``--direction`` checked (None: a plain sweep). The direction
    defaults to the metric's goal (``--goal``), else to its name's (``loss`` is best at its smallest)."""
    if sampler is None and objective is None:
        if direction is not None:
            raise UsageError("--direction is given without --objective", hint="pass --objective loss.min")
        return None
    sampler = sampler or "random"
    if sampler not in SAMPLERS:
        raise UsageError(f"unknown sampler {sampler!r}", hint=f"pass --search {' or '.join(SAMPLERS)}")
    if objective is None:
        raise UsageError(
            f"--search {sampler} needs an objective to learn from",
            hint="pass --objective METRIC.AGG, e.g. --objective loss.min",
        )
    ref = metric_ref(objective.removeprefix("metrics."))
    if direction is not None and direction not in GOALS:
        raise UsageError(f"invalid direction {direction!r}", hint="pass --direction min or --direction max")
    goal = direction or goals.get(ref.key) or default_goal(ref.key)
    return Search(sampler, ref.label, "min" if goal == "min" else "max", secrets.token_hex(8))


def check_space(plan: SweepPlan) -> None:
    """A searched sweep's parameters are all distributions: a grid has no place in a proposal."""
    grids = [dotted(path) for path, axis in plan.definition.axes if isinstance(axis, GridAxis)]
    if grids:
        raise ConfigError(
            f"--search {_search(plan).sampler} proposes every swept value, but {', '.join(grids)} "
            f"{'is a grid axis' if len(grids) == 1 else 'are grid axes'}",
            hint="write the values as choice(a, b, ...), or run the grid without --search",
        )


def space_text(plan: SweepPlan) -> str:
    """The parameters a search proposes, as written: ``lr=loguniform(1e-05, 0.1), opt=choice(...)``."""
    return ", ".join(
        f"{dotted(path)}={axis.text or (axis.kind if isinstance(axis, RandomAxis) else 'list')}"
        for path, axis in plan.definition.axes
    )


def _search(plan: SweepPlan) -> Search:
    assert plan.search is not None
    return plan.search


def require_optuna() -> Any:
    """The ``optuna`` module; ``ConfigError`` naming the extra when it is missing."""
    try:
        import optuna
    except ImportError:
        raise ConfigError(
            "adaptive search (--search tpe or cmaes) needs Optuna, which is not installed",
            hint=install_hint("search"),
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


class Proposer:
    """One search's study in memory, kept in step with the store: ``propose`` tells it what
    finished since the last proposal, then asks it for the next point."""

    def __init__(self, plan: SweepPlan, db: Database) -> None:
        self.optuna = require_optuna()
        self.plan, self.db, self.search = plan, db, _search(plan)
        self.space = {dotted(path): _distribution(self.optuna, axis) for path, axis in plan.definition.axes}
        self.study: optuna.Study = self.optuna.create_study(direction=_direction(self.search.direction))
        self.told: set[str] = set()  # experiment ids the study has seen
        self.asked: dict[str, optuna.trial.Trial] = {}  # spec fingerprint -> trial in flight
        self.sampler_ready = False
        self.namer = _Namer(plan.name or plan.script_path.stem, plan.definition)
        self.script = str(plan.script_path.resolve())

    def finished(self) -> int:
        """The sweep's points evaluated so far (after telling the study)."""
        self.sync()
        return len(self.told)

    def propose(self) -> tuple[str, Point]:
        from yanex.store.convert import spec_fingerprint

        self.sync()
        trial = self.study.ask(self.space)
        values = tuple((path, trial.params[dotted(path)]) for path, _ in self.plan.definition.axes)
        point = Point(_assign(self.plan.definition.base, values), values)
        self.asked[spec_fingerprint(self.script, point.config, list(self.plan.script_args))] = trial
        return self.namer.name(point), point

    def sync(self) -> None:
        """Tell the study every finished experiment of the sweep it has not seen; the first time,
        make its sampler (CMA-ES starts from them: its state is not in the store)."""
        from yanex.store.reading import reading
        from yanex.store.sweeps import sweep_trials

        ref = metric_ref(self.search.objective)
        new = []
        if self.db.exists():  # else the sweep's first experiment creates it
            with reading(self.db, settle=False) as conn:
                new = sweep_trials(conn, self.plan.to_json(), ref.key, ref.aggregate.number, self.told)
        trials = self.optuna.trial
        for found in new:
            self.told.add(found.id)
            state, value = _outcome(trials.TrialState, found.status, found.value)
            trial = self.asked.pop(found.spec_sha256, None)
            if trial is not None:
                self.study.tell(trial, value, state=state)
                continue
            params = {key: _at(found.config, key) for key in self.space}
            try:
                frozen = trials.create_trial(
                    params=params, distributions=self.space, value=value, state=state
                )
            except ValueError:  # a stored value outside the space: nothing to learn from
                continue
            self.study.add_trial(frozen)
        if not self.sampler_ready:
            self.study.sampler = self._sampler()
            self.sampler_ready = True

    def _sampler(self) -> Any:
        seed = None if self.plan.definition.seed is None else self.plan.definition.seed + len(self.told)
        samplers = self.optuna.samplers
        if self.search.sampler == "tpe":
            return samplers.TPESampler(seed=seed, constant_liar=True)
        earlier = self.study.get_trials(deepcopy=False)
        try:
            import cmaes  # type: ignore[import-untyped]  # noqa: F401  # CmaEsSampler's own dependency
        except ImportError:
            raise ConfigError(
                "--search cmaes needs the cmaes package, which is not installed", hint=install_hint("search")
            ) from None
        return samplers.CmaEsSampler(
            seed=seed, source_trials=earlier or None, warn_independent_sampling=False
        )


def _distribution(optuna: Any, axis: object) -> Any:
    assert isinstance(axis, RandomAxis)  # check_space refused grids
    distributions = optuna.distributions
    if axis.kind == "choice":
        return distributions.CategoricalDistribution(axis.args)
    low, high = axis.args
    if axis.kind == "randint":
        return distributions.IntDistribution(int(low), int(high))  # type: ignore[arg-type]
    return distributions.FloatDistribution(low, high, log=axis.kind == "loguniform")


def _direction(goal: Goal) -> str:
    return "minimize" if goal == "min" else "maximize"


def _outcome(states: Any, status: str, value: float | None) -> tuple[Any, float | None]:
    """A stored outcome as the study is told it: completed with no objective counts as failed."""
    if status == "pruned":
        return states.PRUNED, None
    if status == "completed" and value is not None:
        return states.COMPLETE, value
    return states.FAIL, None


def _at(config: dict[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


class SearchSpecs(PlanSpecs):
    """A searched sweep's next ``count`` specs, each proposed when the batch reaches it (as a slot
    frees up: ``proposes`` tells ``Batch`` to write no row ahead of its workers)."""

    proposes = True

    def __init__(self, plan: SweepPlan, count: int, db: Database) -> None:
        super().__init__(plan)
        self.count, self.db = count, db
        self.proposed: list[str] = []  # names, in order
        self._proposer: Proposer | None = None

    @property
    def proposer(self) -> Proposer:
        if self._proposer is None:
            self._proposer = Proposer(self.plan, self.db)
        return self._proposer

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[ExperimentSpec]:
        return (self.plan.spec(name, point) for name, point in self.named_points())

    def named_points(self) -> Iterator[tuple[str, Point]]:
        for _ in range(self.count):
            name, point = self.proposer.propose()
            self.proposed.append(name)
            yield name, point

    def names(self) -> Iterator[str]:
        return iter(self.proposed)

    def first(self) -> ExperimentSpec:
        """A spec of the sweep for checks, proposing nothing: every parameter at its low end."""
        values = tuple(
            (path, axis.args[0] if isinstance(axis, RandomAxis) else axis.values[0])
            for path, axis in self.plan.definition.axes
        )
        return self.plan.spec(
            self.plan.name or self.plan.script_path.stem,
            Point(_assign(self.plan.definition.base, values), values),
        )


def remaining(plan: SweepPlan, db: Database) -> int:
    """The points a searched sweep has still to evaluate (``plan.size()`` less those that ended
    other than cancelled, in any of its batches)."""
    from yanex.store.reading import reading
    from yanex.store.sweeps import sweep_trials

    ref = metric_ref(_search(plan).objective)
    if not db.exists():
        return plan.size()
    with reading(db, settle=False) as conn:
        done = sweep_trials(conn, plan.to_json(), ref.key, ref.aggregate.number, ())
    return max(0, plan.size() - len(done))
