"""Positions between two values, for drawing curves whose values may span more than float range.

``1e308 - (-1e308)`` is inf, so the plain ``(value - low) / (high - low)`` of a plot made NaN of
every point of such a curve; halves never overflow. A flat curve gets room around its value,
relative to its size: ``1e17 ± 0.5`` is ``1e17`` again, an axis of no height.
"""

from __future__ import annotations

import math
import sys

BIGGEST = sys.float_info.max


def fraction(value: float, start: float, end: float) -> float:
    """How far ``value`` lies from ``start`` towards ``end`` (0 at start, 1 at end; start != end)."""
    span = end - start
    if math.isinf(span):
        return (value / 2 - start / 2) / (end / 2 - start / 2)
    return (value - start) / span


def at(start: float, end: float, part: float) -> float:
    """The value ``part`` of the way from ``start`` to ``end`` (0 <= part <= 1)."""
    span = end - start
    if math.isinf(span):
        return 2 * (start / 2 + (end / 2 - start / 2) * part)
    return start + span * part


def widened(low: float, high: float) -> tuple[float, float]:
    """``low`` and ``high`` (finite, low <= high) as an axis' ends: a flat series' value with room
    around it (0.5, or a hundredth of the value when that is more), inside float range."""
    if high > low:
        return low, high
    room = max(0.5, abs(low) / 100)
    return max(low - room, -BIGGEST), min(high + room, BIGGEST)


__all__ = ["BIGGEST", "at", "fraction", "widened"]
