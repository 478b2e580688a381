"""What users type to name things: an experiment (a full id, a unique id prefix or a name), and a
metric with its aggregate (``metrics.loss.min``).

Metric references, the one reading of them for ``--where``, ``--sort``, compare columns, ``yanex
get`` and the Python API: ``metrics.KEY`` is the last logged value, ``metrics.KEY.AGG`` an
aggregate of ``metric_summary`` (``AGGREGATES``). A key may contain dots (``val.loss``), so a
trailing ``.AGG`` is an aggregate only when AGG is one of the names; a key that itself ends in one
(a metric named ``acc.max``) is reached by spelling its aggregate out: ``metrics.acc.max.last``.
The rule needs no database, so a reference means the same in every experiment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Literal

from yanex.errors import AmbiguousReferenceError, NotFoundError, UsageError
from yanex.store.dialect import stored_time
from yanex.terminal import text_problem

if TYPE_CHECKING:
    from yanex.db.engine import Database

_HEX = frozenset("0123456789abcdef")
_LIST_HINT = "name it by a full id, a unique id prefix or an exact name"


def resolve_reference(db: Database, reference: str) -> str:
    """The id of the one experiment ``reference`` names: a full id, a unique id prefix or a name.

    An exact id wins; otherwise every experiment whose id starts with it or whose name equals it is
    a candidate, and more than one is an ``AmbiguousReferenceError`` listing them.
    """
    return resolve_references(db, [reference])[0]


def resolve_references(db: Database, references: Sequence[str]) -> list[str]:
    """``resolve_reference`` for each, in order, in one read snapshot."""
    from yanex.store.reads import reconcile_before_read

    reconcile_before_read(db)
    resolved: list[str] = []
    with db.connect() as conn:
        for reference in references:
            ref = reference.strip()
            missing = NotFoundError(
                f"no experiment matches {reference!r} (by id, id prefix or name)", hint=_LIST_HINT
            )
            if text_problem(ref) is not None:  # bytes that were not UTF-8: no id or name equals it
                raise missing
            if conn.execute("SELECT 1 FROM experiments WHERE id = ?", (ref,)).fetchone():
                resolved.append(ref)
                continue
            condition, args = "name = ?", [ref]
            prefix = ref.lower()
            if prefix and set(prefix) <= _HEX:
                # A range, not LIKE: it walks the primary key index.
                condition, args = "name = ? OR (id >= ? AND id < ?)", [ref, prefix, prefix + "g"]
            found = conn.execute(
                f"SELECT id, name, status, created_at FROM experiments WHERE {condition} "
                "ORDER BY created_at DESC LIMIT 11",
                args,
            ).fetchall()
            if not found:
                raise missing
            if len(found) > 1:
                shown = "\n".join(
                    f"  {i}  {name or '-'}  {status}  {_local(created):%Y-%m-%d %H:%M:%S}"
                    for i, name, status, created in found[:10]
                )
                more = "\n  ..." if len(found) > 10 else ""
                raise AmbiguousReferenceError(
                    f"{reference!r} matches more than one experiment:\n{shown}{more}",
                    hint="use a longer id prefix or the full id",
                )
            resolved.append(found[0][0])
    return resolved


def _local(stored: str) -> object:
    """A stored (naive UTC) time on the local clock, as list and show print times."""
    moment = stored_time(stored)
    assert moment is not None
    return moment.replace(tzinfo=UTC).astimezone()


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
