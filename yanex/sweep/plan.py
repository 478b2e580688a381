"""A sweep ready to run: its definition plus what every experiment shares (script, arguments,
name prefix, tags, description, time limit), as stored in ``batches.spec`` and as ``ExperimentSpec``s.

``Sweep`` is the list ``yanex.grid``/``yanex.sample`` and ``yanex run`` hand to ``run_multiple``:
a plain list of specs that also carries its plan, so that the batch stores it and
``yanex sweep resume`` can expand it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yanex.sweep.expand import Point, SweepDefinition, point_names

if TYPE_CHECKING:
    from yanex.specs import ExperimentSpec

SPEC_VERSION = 1


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

    @cached_property
    def points(self) -> list[Point]:
        return list(self.definition.points())

    @cached_property
    def names(self) -> list[str]:
        return point_names(self.name or self.script_path.stem, self.definition, self.points)

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
        )

    def spec(self, index: int) -> ExperimentSpec:
        """The ``ExperimentSpec`` of point ``index`` (pydantic loads here)."""
        from yanex.specs import ExperimentSpec

        return ExperimentSpec(
            script_path=self.script_path,
            config=self.points[index].config,
            script_args=self.script_args,
            name=self.names[index],
            tags=self.tags,
            description=self.description,
            timeout=self.timeout,
            depends_on=list(self.depends_on),
            goals=dict(self.goals),
        )

    def specs(self, indices: Sequence[int] | None = None) -> Sweep:
        """The specs of these points (default: all), in expansion order."""
        chosen = range(len(self.points)) if indices is None else indices
        return Sweep(self, [self.spec(index) for index in chosen])


class Sweep(list["ExperimentSpec"]):
    """A list of ``ExperimentSpec`` that remembers the sweep it came from (``plan``); given to
    ``run_multiple``, the batch stores the plan, so that ``yanex sweep resume`` can finish it."""

    def __init__(self, plan: SweepPlan, specs: list[ExperimentSpec]) -> None:
        super().__init__(specs)
        self.plan = plan


def stored_plan(experiments: Sequence[ExperimentSpec]) -> dict[str, Any] | None:
    """What a batch of ``experiments`` stores in ``batches.spec``: the plan of a ``Sweep``."""
    return experiments.plan.to_json() if isinstance(experiments, Sweep) else None
