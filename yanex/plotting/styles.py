"""Which parameter a plot's colours follow, which its line styles follow, and the order of its legend.

Colour follows the parameter with the most distinct values among the plotted curves, so that a
sweep's main axis reads as a gradient; line style follows the next one, so that the three seeds of
one learning rate share a colour and differ by style. A seed-like parameter (``seed``, ``rep``,
``trial``: ``SEEDLIKE``) never takes colour while another parameter differs: the repetitions of a
config are meant to look alike. Standard library only: the terminal plot uses the same choice.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from yanex.plotting.curves import Curve
from yanex.store.metric_values import JsonValue

SEEDLIKE = re.compile(r"(^|[._-])(seed|seeds|rep|reps|repeat|replicate|trial|trials)($|[._-])", re.IGNORECASE)
STYLES = 4  # solid, dashed, dotted, dash-dot: beyond that, styles repeat


def seedlike(name: str) -> bool:
    """Whether ``name`` names a repetition of a config (``seed``, ``random_seed``, ``trial``)."""
    return SEEDLIKE.search(name) is not None


def _number(value: JsonValue) -> float | None:
    """``value`` as a number, or None (booleans and text are categories)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _order_key(value: JsonValue) -> tuple[int, float, str]:
    """Numbers by value, then everything else by its text, missing values last."""
    if value is None:
        return (2, 0.0, "")
    number = _number(value)
    return (0, number, "") if number is not None else (1, 0.0, str(value))


@dataclass(frozen=True)
class Styling:
    """How each curve of a plot is told apart.

    ``colour_key``: the parameter colours follow (None: colours by curve, in order). ``numeric``:
    its values are all numbers, drawn on a sequential colour map (``shade``) rather than a
    palette (``category``); ``log``: the map is logarithmic (positive values spanning a decade
    or more, as learning rates). ``style_key``: the parameter line styles follow. ``order``: the
    curves' indexes in legend order (by colour value, then style value).
    """

    colour_key: str | None
    numeric: bool
    log: bool
    colour_values: tuple[JsonValue, ...]  # the distinct values of colour_key, in order
    style_key: str | None
    style_values: tuple[JsonValue, ...]
    labels: tuple[str, ...]

    def ordered(self, curves: Sequence[Curve]) -> list[int]:
        """The indexes of ``curves`` (some of those styled: a metric's panel) in legend order."""
        rank = {label: n for n, label in enumerate(self.labels)}
        return sorted(range(len(curves)), key=lambda n: rank.get(curves[n].label, len(rank)))

    def shade(self, curve: Curve) -> float | None:
        """Where ``curve`` lies on the colour map, 0 to 1 (numeric colours only)."""
        if not self.numeric or self.colour_key is None:
            return None
        number = _number(curve.params.get(self.colour_key))
        if number is None:
            return None
        numbers = [n for n in map(_number, self.colour_values) if n is not None]
        low, high = min(numbers), max(numbers)
        if self.log:
            number, low, high = math.log10(number), math.log10(low), math.log10(high)
        return (number - low) / (high - low) if high > low else 0.0

    def category(self, curve: Curve) -> int:
        """The palette entry of ``curve``: its colour value's place, or its own place in the
        legend when no parameter sets colours."""
        if self.colour_key is None:
            return self.labels.index(curve.label) if curve.label in self.labels else 0
        value = curve.params.get(self.colour_key)
        return self.colour_values.index(value) if value in self.colour_values else len(self.colour_values)

    def style(self, curve: Curve) -> int:
        """The line style of ``curve``: its style value's place (0, solid, without one)."""
        if self.style_key is None:
            return 0
        value = curve.params.get(self.style_key)
        return self.style_values.index(value) % STYLES if value in self.style_values else 0


def _distinct(curves: Sequence[Curve], key: str) -> tuple[JsonValue, ...]:
    values: list[JsonValue] = []
    for c in curves:
        value = c.params.get(key)
        if value is not None and value not in values:
            values.append(value)
    return tuple(sorted(values, key=_order_key))


def styling(curves: Sequence[Curve], keys: Sequence[str]) -> Styling:
    """The styling of ``curves``, whose ``params`` hold the values of ``keys`` (the parameters
    that differ between them, or the group keys)."""
    distinct = {key: _distinct(curves, key) for key in keys}
    differing = [key for key in keys if len(distinct[key]) > 1]
    # Most distinct values first; a seed-like parameter after every other; then as given.
    ranked = sorted(differing, key=lambda k: (seedlike(k), -len(distinct[k]), keys.index(k)))
    colour_key = ranked[0] if ranked else None
    style_key = ranked[1] if len(ranked) > 1 else None
    colour_values = distinct[colour_key] if colour_key else ()
    numbers = [_number(v) for v in colour_values]
    numeric = bool(numbers) and all(n is not None for n in numbers) and not seedlike(colour_key or "")
    positive = [n for n in numbers if n is not None and n > 0]
    log = numeric and len(positive) == len(numbers) and max(positive) / min(positive) >= 10

    def place(index: int) -> tuple[tuple[int, float, str], ...]:
        c = curves[index]
        return (*(_order_key(c.params.get(key)) for key in ranked), (0, 0.0, c.label))

    labels = tuple(dict.fromkeys(curves[n].label for n in sorted(range(len(curves)), key=place)))
    style_values = distinct[style_key] if style_key else ()
    return Styling(colour_key, numeric, log, colour_values, style_key, style_values, labels)
