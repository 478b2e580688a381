"""Early stopping of a sweep's runs (``yanex run --prune median|asha``), decided by its orchestrator.

Every ``CHECK_EVERY`` seconds the batch reads, for each of its experiments that runs (and once more
for each that ended), the points of the pruning metric logged since its last look (one index range
per experiment: ``yanex.store.history.curve_after``), and compares each running experiment with the
sweep's others:

- ``median`` (Optuna's MedianPruner): at its latest step S past the warmup, the best value it has
  reached so far is worse than the median of the other runs' values at step S, with at least
  ``min_runs`` others that logged step S (finished runs and running ones alike).
- ``asha`` (asynchronous successive halving): rungs at steps ``base * ETA**k`` (``base`` the warmup,
  at least 1); a run reaching a rung continues only if its best value so far is in the top
  ``1/ETA`` of the runs that reached that rung, judged once per rung, and only with at least
  ``min_runs`` others there (else it continues: the first runs set the bar).

A decision writes the stop flag (``yanex.supervisor.pruned``); the supervisor stops the script and
records it ``pruned`` with the decision's reason.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from yanex import config
from yanex.db.engine import Database
from yanex.store.history import curve_after
from yanex.store.reading import reading
from yanex.supervisor.pruned import request_stop
from yanex.sweep.plan import Pruning

CHECK_EVERY = 0.25  # seconds between two looks: a point is in the database half a second after it is logged
ETA = 3  # ASHA's reduction factor: a third of the runs go on at each rung


@dataclass(frozen=True)
class Decision:
    experiment_id: str
    step: int
    reason: str


@dataclass
class _Curve:
    """What the pruner has read of one experiment's metric: the value at each step and the best so far."""

    values: dict[int, float] = field(default_factory=dict)
    best: dict[int, float] = field(default_factory=dict)  # the best value up to each step
    last: int | None = None  # the last step read
    rungs_passed: int = 0  # ASHA: the rungs it was judged at and kept


class Pruner:
    """The sweep's curves, read incrementally, and the decisions made on them."""

    def __init__(self, pruning: Pruning, db: Database) -> None:
        self.pruning, self.db = pruning, db
        self._curves: dict[str, _Curve] = {}
        self._decided: set[str] = set()

    def read(self, running: Iterable[str], ended: Iterable[str]) -> None:
        """Read the points logged since the last look, for the experiments that run and, once,
        for those that ended since (their last points)."""
        with reading(self.db, settle=False) as conn:
            for experiment_id in [*running, *ended]:
                curve = self._curves.setdefault(experiment_id, _Curve())
                for step, value in curve_after(conn, experiment_id, self.pruning.metric, curve.last):
                    self._add(curve, step, value)

    def _add(self, curve: _Curve, step: int, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return
        if isinstance(value, str):  # NaN and infinities are stored as text: a diverged run is the worst
            if value not in ("NaN", "Infinity", "-Infinity"):
                return
            number = math.inf if self.pruning.goal == "min" else -math.inf
        else:
            number = float(value)
        curve.values[step] = number
        before = curve.best.get(curve.last) if curve.last is not None else None
        curve.best[step] = number if before is None else self._better(before, number)
        curve.last = step

    def _better(self, a: float, b: float) -> float:
        return min(a, b) if self.pruning.goal == "min" else max(a, b)

    def _worse(self, value: float, than: float) -> bool:
        return value > than if self.pruning.goal == "min" else value < than

    def decide(self, running: Iterable[str]) -> list[Decision]:
        """The running experiments to stop now, each once; their stop flags are written."""
        decisions = []
        for experiment_id in running:
            curve = self._curves.get(experiment_id)
            if experiment_id in self._decided or curve is None or curve.last is None:
                continue
            decide = self._median if self.pruning.rule == "median" else self._asha
            decision = decide(experiment_id, curve)
            if decision is not None:
                self._decided.add(experiment_id)
                # The flag for a supervisor here; a worker elsewhere gets it from its executor.
                with contextlib.suppress(OSError):  # no folder here (a Dask run's, or deleted)
                    request_stop(config.experiment_dir(experiment_id), decision.reason)
                decisions.append(decision)
        return decisions

    def _median(self, experiment_id: str, curve: _Curve) -> Decision | None:
        step = curve.last
        assert step is not None
        if step < self.pruning.warmup:
            return None
        curves = self._curves.items()
        others = [c.values[step] for key, c in curves if key != experiment_id and step in c.values]
        if len(others) < self.pruning.min_runs:
            return None
        median, best = statistics.median(others), curve.best[step]
        if not self._worse(best, median):
            return None
        relation = ">" if self.pruning.goal == "min" else "<"
        return Decision(
            experiment_id,
            step,
            f"pruned at step {step} by median: {self.pruning.metric} {best:.4g} {relation} median "
            f"{median:.4g} of {len(others)} runs at step {step}",
        )

    def _asha(self, experiment_id: str, curve: _Curve) -> Decision | None:
        base = max(self.pruning.warmup, 1)
        assert curve.last is not None
        while (rung := base * ETA**curve.rungs_passed) <= curve.last:
            reached = {key: _at_or_before(c, rung) for key, c in self._curves.items()}
            values = {key: self._curves[key].best[s] for key, s in reached.items() if s is not None}
            mine = values.pop(experiment_id)
            others = list(values.values())
            if len(others) >= self.pruning.min_runs:
                ranked = sorted([*others, mine], reverse=self.pruning.goal == "max")
                kept = max(1, len(ranked) // ETA)
                bar = ranked[kept - 1]
                if self._worse(mine, bar):
                    relation = ">" if self.pruning.goal == "min" else "<"
                    return Decision(
                        experiment_id,
                        rung,
                        f"pruned at step {rung} by asha: {self.pruning.metric} {mine:.4g} {relation} "
                        f"{bar:.4g}, the last of the top 1/{ETA} ({kept} of {len(ranked)} runs) "
                        f"at step {rung}",
                    )
            curve.rungs_passed += 1
        return None


def _at_or_before(curve: _Curve, rung: int) -> int | None:
    """The step whose best-so-far stands for ``curve`` at ``rung``: the rung itself, or None when
    the run has not reached it (a run logging every few steps is judged at its last step before)."""
    if curve.last is None or curve.last < rung:
        return None
    if rung in curve.best:
        return rung
    earlier = [step for step in curve.best if step <= rung]
    return max(earlier) if earlier else None
