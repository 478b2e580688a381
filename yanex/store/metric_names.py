"""How users name a metric: its key and an aggregate (``metrics.loss.min``), and its goal.

Metric references, the one reading of them for ``--where``, ``--sort``, compare columns, ``yanex
get`` and the Python API: ``metrics.KEY`` is the last logged value, ``metrics.KEY.AGG`` an
aggregate of ``metric_summary`` (``AGGREGATES``). A key may contain dots (``val.loss``), so a
trailing ``.AGG`` is an aggregate only when AGG is one of the names; a key that itself ends in one
(a metric named ``acc.max``) is reached by spelling its aggregate out: ``metrics.acc.max.last``.
The rule needs no database, so a reference means the same in every experiment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from yanex.errors import UsageError
from yanex.terminal import text_problem

Goal = Literal["min", "max"]
GOALS: tuple[Goal, ...] = ("min", "max")
# The default direction: a metric whose name contains one of these is best at its smallest, every
# other at its largest. Declared goals (``yanex run --goal``, ``yanex.set_goal``) override it.
LOWER_IS_BETTER = re.compile(r"loss|err|mse|mae|rmse|perplexity|time|latency|regret", re.IGNORECASE)


def default_goal(key: str) -> Goal:
    """The direction of metric ``key`` when none was declared (see ``LOWER_IS_BETTER``)."""
    return "min" if LOWER_IS_BETTER.search(key) else "max"


def parse_goal(text: str) -> tuple[str, Goal]:
    """``KEY=min`` or ``KEY=max`` as given to ``yanex run --goal``."""
    key, equals, goal = text.rpartition("=")
    goal = goal.strip().lower()
    if not equals or not key or goal not in GOALS or text_problem(key) is not None:
        raise UsageError(f"invalid goal {text!r}", hint="write KEY=min or KEY=max, e.g. --goal loss=min")
    return key, "min" if goal == "min" else "max"


@dataclass(frozen=True)
class Aggregate:
    """One aggregate of ``metric_summary``: its number column and, for first/last, the column
    holding a value that is no float (an int as logged, text, a boolean, NaN as "NaN")."""

    name: str
    number: str
    json: str | None = None


AGGREGATES: dict[str, Aggregate] = {
    "last": Aggregate("last", "last", "last_json"),
    "first": Aggregate("first", "first", "first_json"),
    "min": Aggregate("min", "min"),
    "max": Aggregate("max", "max"),
    "mean": Aggregate("mean", "mean"),
    "best": Aggregate("best", "best"),
    "step_of_best": Aggregate("step_of_best", "step_of_best"),
    "count": Aggregate("count", "count"),
}
LAST = AGGREGATES["last"]


@dataclass(frozen=True)
class MetricRef:
    """A metric key and the aggregate of it a reference names (``last`` when none)."""

    key: str
    aggregate: Aggregate = LAST

    @property
    def label(self) -> str:
        """As users write it after ``metrics.``: ``loss``, ``loss.min``, ``acc.max.last``."""
        if self.aggregate is LAST and self.key.rpartition(".")[2] not in AGGREGATES:
            return self.key
        return f"{self.key}.{self.aggregate.name}"


def metric_ref(name: str) -> MetricRef:
    """The metric and aggregate ``name`` (what follows ``metrics.``) names (module docstring)."""
    key, dot, tail = name.rpartition(".")
    if dot and key and tail in AGGREGATES:
        return MetricRef(key, AGGREGATES[tail])
    return MetricRef(name)
