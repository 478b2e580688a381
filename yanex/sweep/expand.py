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
from typing import Any, cast

from yanex.display import format_value
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
        grid = [axis.values for _, axis in self.axes if isinstance(axis, GridAxis)]
        drawn = [axis for _, axis in self.axes if isinstance(axis, RandomAxis)]
        order = [path for path, _ in self.axes]
        if not drawn:  # the grid's values are each point's values, in axis order
            for combination in itertools.product(*grid):
                values = tuple(zip(order, combination, strict=True))
                yield Point(_assign(self.base, values), values)
            return
        rng = random.Random(self.seed)
        for _ in range(self.samples or 1):
            draw = [_draw(rng, axis) for axis in drawn]
            for combination in itertools.product(*grid):
                picked, fresh = iter(combination), iter(draw)
                values = tuple(
                    (path, next(picked) if isinstance(axis, GridAxis) else next(fresh))
                    for path, axis in self.axes
                )
                yield Point(_assign(self.base, values), values)

    def varying(self) -> list[KeyPath]:
        """Axes whose value differs between points: the ones a default name shows."""
        return [path for path, axis in self.axes if isinstance(axis, RandomAxis) or _varies(axis.values)]

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


def _varies(values: Sequence[Any]) -> bool:
    """Whether two of ``values`` differ (looking no further than the first that does)."""
    first = _key(values[0])
    return any(_key(value) != first for value in itertools.islice(values, 1, None))


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


# A one-off run's name when no --param names it (``train-brisk-otter``): 32 x 32 readable pairs.
# Names need not be unique (a reference that matches several experiments lists them, as for two
# sweeps of the same grid); the pair only makes two runs of one script easy to tell apart.
_ADJECTIVES = (
    "amber", "bold", "brave", "brisk", "calm", "clever", "crisp", "eager", "fair", "fast", "gentle",
    "glad", "golden", "happy", "keen", "kind", "lively", "lucky", "mellow", "merry", "nimble",
    "proud", "quick", "quiet", "rapid", "silver", "sleek", "steady", "sunny", "swift", "tidy", "witty",
)  # fmt: skip
_ANIMALS = (
    "badger", "bear", "beaver", "bison", "crane", "dolphin", "eagle", "falcon", "finch", "fox",
    "gecko", "hare", "heron", "ibis", "koala", "lark", "lemur", "lynx", "marten", "moose", "newt",
    "otter", "owl", "panda", "puffin", "raven", "robin", "seal", "stork", "swan", "tiger", "wren",
)  # fmt: skip


def run_name(prefix: str, config: dict[str, Any], given: Sequence[KeyPath]) -> str:
    """The name of a one-off run given none: ``prefix-lr0.05-bs32`` from the keys set on the
    command line, as a sweep names its points, or ``prefix-brisk-otter`` when none was."""
    if not given:
        return f"{prefix}-{random.choice(_ADJECTIVES)}-{random.choice(_ANIMALS)}"
    parts = []
    for path in dict.fromkeys(given):
        node: Any = config
        for part in path:
            node = node[part]
        parts.append(f"-{dotted(path)}{format_value(node)}")
    return prefix + "".join(parts)


def named_points(
    prefix: str, definition: SweepDefinition, repeated: frozenset[str] | None = None
) -> Iterator[tuple[str, Point]]:
    """Each point with its name, in expansion order: ``prefix-key1value1-key2value2`` (the axes that
    vary), or ``prefix`` as a template when it holds ``{key}`` fields; a name given to several
    points gets ``-1``, ``-2``, ... (``repeated``: those names, if known already).

    Streamed: a name is known when its point is (``repeated_names`` knows before the first).
    """
    namer = _Namer(prefix, definition)
    if repeated is None:
        repeated = namer.repeated()
    seen: Counter[str] = Counter()
    for point in definition.points():
        name = namer.name(point)
        if name in repeated:
            seen[name] += 1
            name = f"{name}-{seen[name]}"
        yield name, point


def repeated_names(prefix: str, definition: SweepDefinition) -> frozenset[str]:
    """The names ``named_points`` gives several points before their ``-1``, ``-2``: known from the
    axes alone when they make every name unique (a grid named by its varying axes), else from one
    pass over the names that keeps only their hashes. A bad template fails here."""
    return _Namer(prefix, definition).repeated()


class _Namer:
    def __init__(self, prefix: str, definition: SweepDefinition) -> None:
        self.prefix, self.definition = prefix, definition
        self.template = _FIELD.search(prefix) is not None
        self.shown = set(definition.varying())

    def name(self, point: Point) -> str:
        if self.template:
            return _fill(self.prefix, point.config)
        return self.prefix + "".join(
            f"-{dotted(path)}{format_value(v)}" for path, v in point.values if path in self.shown
        )

    def repeated(self) -> frozenset[str]:
        """The names of several points (before their ``-1``, ``-2``)."""
        first = next(self.definition.points())
        self.name(first)  # a template naming no parameter fails here, before any point runs
        layout = self._layout(first)
        if layout is not None and _unique(layout):
            return frozenset()
        hashes: set[int] = set()
        clashing: set[int] = set()  # hashes of two names, which may still be two different names
        for point in self.definition.points():
            digest = hash(self.name(point))
            (clashing if digest in hashes else hashes).add(digest)
        del hashes
        if not clashing:
            return frozenset()
        counts = Counter(name for name in map(self.name, self.definition.points()) if hash(name) in clashing)
        return frozenset(name for name, count in counts.items() if count > 1)

    def _layout(self, first: Point) -> list[str | GridAxis] | None:
        """The name as literal text and the grid axes whose value it shows, in order; None when
        it is not made of those alone (a random axis, a field inside an axis's value)."""
        axes = self.definition.axes
        if any(isinstance(axis, RandomAxis) for _, axis in axes):
            return None
        several = {path: axis for path, axis in axes if isinstance(axis, GridAxis) and len(axis.values) > 1}
        layout: list[str | GridAxis] = []
        if not self.template:
            layout.append(self.prefix)
            for path in several:
                if path not in self.shown:
                    return None  # several equal values (list(1, 1)): the same name several times
                layout += [f"-{dotted(path)}", several[path]]
            return layout
        position = 0
        for match in _FIELD.finditer(self.prefix):
            layout.append(self.prefix[position : match.start()])
            field = tuple(match.group(1).split("."))
            if field in several:
                layout.append(several[field])
            elif any(field[: len(path)] == path or path[: len(field)] == field for path in several):
                return None
            else:  # the same in every point
                layout.append(_fill(match.group(), first.config))
            position = match.end()
        layout.append(self.prefix[position:])
        shown = {id(piece) for piece in layout}
        return layout if all(id(axis) in shown for axis in several.values()) else None


def _unique(layout: Sequence[str | GridAxis]) -> bool:
    """Whether names laid out as ``layout`` differ for every two points: each axis shows each of
    its values differently, and where one value ends is never in doubt (no shown value followed by
    what comes next in the name begins another)."""
    pieces: list[str | GridAxis] = []
    for piece in layout:
        if isinstance(piece, str) and pieces and isinstance(pieces[-1], str):
            pieces[-1] += piece
        elif isinstance(piece, GridAxis) or piece:
            pieces.append(piece)
    for index, piece in enumerate(pieces):
        if isinstance(piece, str):
            continue
        following = pieces[index + 1] if index + 1 < len(pieces) else None
        after = following[0] if isinstance(following, str) else following  # a character, an axis, or the end
        values = piece.values
        if all(type(v) is int for v in values):
            numbers = cast(tuple[int, ...], values)
            ordered = all(a < b for a, b in itertools.pairwise(numbers)) or all(
                a > b for a, b in itertools.pairwise(numbers)
            )
            if not ordered and len(set(numbers)) != len(numbers):
                return False
            # An integer's digits never end where another's do unless a digit comes next; its
            # one '-' is its first character, where no other value ends.
            if after is None or (isinstance(after, str) and not after.isdigit()):
                continue
        shown = [format_value(v) for v in values]
        distinct = set(shown)
        if len(distinct) != len(shown):
            return False
        if after is None:
            continue
        for text in shown:
            ends = range(len(text)) if not isinstance(after, str) else _positions(text, after)
            if any(text[:end] in distinct for end in ends):
                return False
    return True


def _positions(text: str, character: str) -> Iterator[int]:
    at = text.find(character)
    while at != -1:
        yield at
        at = text.find(character, at + 1)


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
