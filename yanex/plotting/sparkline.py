"""Sparklines: a series as one line of block characters, for tables on a terminal."""

from __future__ import annotations

import math
from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int | None = None) -> str:
    """``values`` scaled between their minimum and maximum, one block each; at most ``width``
    blocks (the last ``width`` values). Non-finite values are left out; a flat series is flat."""
    finite = [v for v in values if math.isfinite(v)]
    if width is not None:
        finite = finite[-width:]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    if high == low:
        return BLOCKS[0] * len(finite)
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[round((v - low) / (high - low) * top)] for v in finite)
