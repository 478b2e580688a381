"""A sweep's points: a base config plus axes, expanded into one config per experiment.

Grid axes form a cartesian product, in the order the axes were given (the last varies fastest).
Random axes are drawn ``samples`` times from ``random.Random(seed)``, in axis order, and every draw
is crossed with the whole grid: ``samples`` x grid-size points, so ``-p seed=range(3)`` replicates
each draw three times. The same definition always expands to the same points, which is what
``yanex sweep resume`` relies on. Standard library only, so that ``--dry-run`` stays fast.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from yanex.errors import ConfigError
from yanex.sweep.grammar import Axis, GridAxis, RandomAxis

KeyPath = tuple[str, ...]
MAX_SWEEP_POINTS = 1_000_000  # far past any batch that runs; a typo's billion points fail at once
_FIELD = re.compile(r"\{([^{}]+)\}")


def dotted(path: KeyPath) -> str:
    return ".".join(path)


@dataclass(frozen=True)
class Point:
    """One experiment of a sweep: its whole config and the value each axis took."""

    config: dict[str, Any]
    values: tuple[tuple[KeyPath, Any], ...]


@dataclass(frozen=True)
class SweepDefinition:
    """What a sweep varies. ``samples`` is required exactly when there are random axes."""

    base: dict[str, Any]
    axes: tuple[tuple[KeyPath, Axis], ...]
    samples: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        random_axes = [dotted(path) for path, axis in self.axes if isinstance(axis, RandomAxis)]
        if random_axes and self.samples is None:
            what = "is a random axis" if len(random_axes) == 1 else "are random axes"
            raise ConfigError(
                f"{', '.join(random_axes)} {what}: say how many points to draw",
                hint="pass --samples N (yanex.sample(..., n=N)); add --seed S to draw the same points again",
            )
        if self.samples is not None and not random_axes:
            raise ConfigError(
                "--samples is given but no parameter is a random axis",
                hint="sample with uniform(a, b), loguniform(a, b), randint(a, b) or choice(a, b, ...); "
                "grid axes (list, range, linspace, logspace) need no --samples",
            )
        if self.samples is not None and self.samples < 1:
            raise ConfigError(f"--samples must be at least 1, got {self.samples}", hint="pass --samples 20")
        if self.seed is not None and self.seed < 0:
            # random.Random(-S) is random.Random(S): a negative seed would repeat another's points.
            raise ConfigError(
                f"seed {self.seed} is negative, and seeds -S and S draw the same points",
                hint=f"pass a seed of 0 or more: --seed {-self.seed} (yanex.sample(..., seed={-self.seed}))",
            )
        if self.size() > MAX_SWEEP_POINTS:
            raise ConfigError(
                f"the sweep has {self.size():,} points, more than {MAX_SWEEP_POINTS:,}",
                hint="sweep fewer values, or draw --samples from random axes instead of a full grid",
            )

    @property
    def is_sweep(self) -> bool:
        """More than today's single run: some axis or a sample count (a one-value list is not)."""
        return self.samples is not None or any(
            isinstance(axis, RandomAxis) or len(axis.values) != 1 for _, axis in self.axes
        )

    def size(self) -> int:
        grid = math.prod(len(axis.values) for _, axis in self.axes if isinstance(axis, GridAxis))
        return grid * (self.samples or 1)

    def points(self) -> Iterator[Point]:
        grid = [(path, axis.values) for path, axis in self.axes if isinstance(axis, GridAxis)]
        drawn = [(path, axis) for path, axis in self.axes if isinstance(axis, RandomAxis)]
        order = [path for path, _ in self.axes]
        rng = random.Random(self.seed)
        for _ in range(self.samples or 1):
            draw = {path: _draw(rng, axis) for path, axis in drawn}
            for combination in itertools.product(*(values for _, values in grid)):
                chosen = {**draw, **dict(zip((path for path, _ in grid), combination, strict=True))}
                values = tuple((path, chosen[path]) for path in order)
                yield Point(_assign(self.base, values), values)

    def varying(self) -> list[KeyPath]:
        """Axes whose value differs between points: the ones a default name shows."""
        return [
            path
            for path, axis in self.axes
            if isinstance(axis, RandomAxis) or len(set(map(_key, axis.values))) > 1
        ]

    def to_json(self) -> dict[str, Any]:
        """The definition as JSON data (``batches.spec``; see docs/schema.md)."""
        axes: list[dict[str, Any]] = []
        for path, axis in self.axes:
            entry: dict[str, Any] = {"key": list(path), "expression": axis.text or None}
            if isinstance(axis, GridAxis):
                entry.update(kind="grid", values=list(axis.values))
            else:
                entry.update(kind=axis.kind, args=list(axis.args))
            axes.append(entry)
        return {"base": self.base, "axes": axes, "samples": self.samples, "seed": self.seed}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepDefinition:
        axes: list[tuple[KeyPath, Axis]] = []
        for entry in data["axes"]:
            text = entry.get("expression") or ""
            if entry["kind"] == "grid":
                axes.append((tuple(entry["key"]), GridAxis(tuple(entry["values"]), text)))
            else:
                axes.append((tuple(entry["key"]), RandomAxis(entry["kind"], tuple(entry["args"]), text)))
        seed = data["seed"]
        # Stored before negative seeds were refused: abs() draws exactly the points it drew then.
        return cls(data["base"], tuple(axes), data["samples"], None if seed is None else abs(seed))


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _draw(rng: random.Random, axis: RandomAxis) -> Any:
    if axis.kind == "choice":
        return rng.choice(axis.args)
    low, high = axis.args
    assert isinstance(low, int | float) and isinstance(high, int | float)
    if axis.kind == "uniform":
        return rng.uniform(low, high)
    if axis.kind == "loguniform":
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    return rng.randint(int(low), int(high))


def _assign(base: dict[str, Any], values: Sequence[tuple[KeyPath, Any]]) -> dict[str, Any]:
    """``base`` with each value set at its path; only the sections on a path are copied."""
    config = dict(base)
    for path, value in values:
        node = config
        for part in path[:-1]:
            child = node.get(part)
            node[part] = dict(child) if isinstance(child, dict) else {}
            node = node[part]
        node[path[-1]] = value
    return config


def format_value(value: Any) -> str:
    """A value as a name shows it: numbers to 6 significant digits, text as it is."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int | str):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def point_names(prefix: str, definition: SweepDefinition, points: Sequence[Point]) -> list[str]:
    """``prefix-key1value1-key2value2`` per point (the axes that vary), or ``prefix`` as a template
    when it holds ``{key}`` fields; a name given to several points gets ``-1``, ``-2``, ... ."""
    if _FIELD.search(prefix):
        names = [_fill(prefix, point.config) for point in points]
    else:
        shown = set(definition.varying())
        names = [
            prefix + "".join(f"-{dotted(path)}{format_value(v)}" for path, v in point.values if path in shown)
            for point in points
        ]
    counts = Counter(names)
    seen: Counter[str] = Counter()
    unique = []
    for name in names:
        if counts[name] > 1:
            seen[name] += 1
            name = f"{name}-{seen[name]}"
        unique.append(name)
    return unique


def _fill(template: str, config: dict[str, Any]) -> str:
    def field(match: re.Match[str]) -> str:
        node: Any = config
        for part in match.group(1).split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(
                    f"--name {template!r} names {{{match.group(1)}}}, which is not a parameter",
                    hint="use {KEY} fields that name parameters, e.g. --name 'grid-lr{learning_rate}'",
                )
            node = node[part]
        return format_value(node)

    return _FIELD.sub(field, template)
