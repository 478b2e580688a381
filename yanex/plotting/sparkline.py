"""Sparklines: a series as one line of block characters, for tables on a terminal."""

from __future__ import annotations

import math
from collections.abc import Sequence

from yanex.plotting.span import fraction

BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int | None = None) -> str:
    """``values`` scaled between their minimum and maximum, one block each; at most ``width``
    blocks (the last ``width`` values). Non-finite values are left out; a flat series is flat;
    values spanning more than float range (-1e308 to 1e308) scale as any other."""
    finite = [v for v in values if math.isfinite(v)]
    if width is not None:
        finite = finite[-width:]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    if high == low:
        return BLOCKS[0] * len(finite)
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[round(fraction(v, low, high) * top)] for v in finite)
