"""What ``yanex plot``'s options mean, for the image and the terminal alike: log axes (chosen, or
automatic when a metric spans more than ``DECADES`` powers of ten), the smoothing weight, the size.

Standard library only. A log axis cannot show a value <= 0: ``panel`` leaves such points out of
the curves and says how many in a note, never an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from yanex.errors import UsageError
from yanex.plotting.curves import Curve, Selection

DECADES = 2.0  # a metric whose values span more than this many powers of ten gets a log y axis
PIXELS_FROM = 50  # a --size number above this is pixels, else inches
DPI = 150


@dataclass(frozen=True)
class PlotOptions:
    """``logy``: True (--logy), False (--no-logy) or None (automatic); ``smooth``: the EMA's
    weight on the past, 0 for none; ``size``: width and height in inches, None for the default."""

    logy: bool | None = None
    logx: bool = False
    smooth: float = 0.0
    title: str | None = None
    size: tuple[float, float] | None = None


@dataclass(frozen=True)
class Panel:
    """One metric as drawn: its curves without the points a log axis cannot show, the scales, and
    the notes (one line each) that say what was chosen or left out."""

    selection: Selection
    logy: bool
    logx: bool
    notes: tuple[str, ...] = ()


def smoothing(text: str) -> float:
    """``--smooth``'s value as the EMA's weight on the past: a weight below 1 (``0.9``, as the web
    view's slider), or a span of N points (``20``: weight (N-1)/(N+1), as pandas' ``span``)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 and math.isfinite(value)):
        raise UsageError(
            f"--smooth takes a weight in [0, 1) or a number of points, not {text!r}",
            hint="e.g. --smooth 0.9 (weight on the past) or --smooth 20 (about 20 points)",
        )
    return value if value < 1 else (value - 1) / (value + 1)


def size(text: str) -> tuple[float, float]:
    """``--size WxH`` in inches (``12x6``) or pixels (``1600x900``: numbers above ``PIXELS_FROM``,
    at ``DPI``); ``in`` or ``px`` after the numbers says which."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*[xX×]\s*(\d+(?:\.\d+)?)\s*(in|px)?\s*", text)
    if found is None or float(found[1]) <= 0 or float(found[2]) <= 0:
        raise UsageError(
            f"--size takes WIDTHxHEIGHT, not {text!r}",
            hint="inches (--size 12x6) or pixels (--size 1600x900, or 12x6in / 800x500px)",
        )
    width, height, unit = float(found[1]), float(found[2]), found[3]
    pixels = unit == "px" or (unit is None and max(width, height) > PIXELS_FROM)
    return (width / DPI, height / DPI) if pixels else (width, height)


def ema(values: Sequence[float], weight: float) -> list[float]:
    """The debiased exponential moving average of ``values`` with ``weight`` on the past: the
    ``ema`` of yanex/ui/static/common.js (TensorBoard's smoothing), so both draw the same line."""
    out = []
    last = 0.0
    for n, value in enumerate(values, start=1):
        last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight**n))
    return out


def _span(curves: Sequence[Curve]) -> float | None:
    """Powers of ten between the smallest and largest values, None if any is <= 0."""
    values = [v for c in curves for v in c.values]
    if not values or min(values) <= 0:
        return None
    return math.log10(max(values)) - math.log10(min(values))


def _positive(curves: Sequence[Curve], y: bool, x: bool) -> tuple[list[Curve], int, int]:
    """The curves without points <= 0 on a log axis, and how many points of how many curves left."""
    kept: list[Curve] = []
    dropped = touched = 0
    for c in curves:
        keep = [
            n
            for n, (value, at) in enumerate(zip(c.values, c.x, strict=True))
            if (not y or value > 0) and (not x or at > 0)
        ]
        if len(keep) < len(c.values):
            dropped += len(c.values) - len(keep)
            touched += 1
            spread = [c.spread[n] for n in keep] if c.spread is not None else None
            xs = [c.xs[n] for n in keep] if c.xs is not None else None
            c = replace(
                c, steps=[c.steps[n] for n in keep], values=[c.values[n] for n in keep], spread=spread, xs=xs
            )
        if c.values:
            kept.append(c)
    return kept, dropped, touched


def panel(selection: Selection, options: PlotOptions) -> Panel:
    """``selection`` as drawn with ``options``: an automatic log y axis when every value is
    positive and they span more than ``DECADES`` powers of ten (``--no-logy`` keeps it linear)."""
    notes: list[str] = []
    logy = options.logy
    metric = selection.metric
    if logy is None:
        span = _span(selection.curves)
        logy = span is not None and span > DECADES
        if logy:
            notes.append(
                # One 80-column line for a metric name of up to 16 characters.
                f"Note: {metric!r} spans {span:.1f} decades: log y axis (--no-logy: linear)"
            )
    if not (logy or options.logx):
        return Panel(selection, False, False, tuple(notes))
    curves, dropped, touched = _positive(selection.curves, logy, options.logx)
    if dropped:
        axes = " and ".join(a for a, log in (("y", logy), ("x", options.logx)) if log)
        where = {"y": "values", "x": f"{selection.x_label} values", "y and x": "values or x"}[axes]
        points = "point" if dropped == 1 else "points"
        curves_word = "curve" if touched == 1 else "curves"
        notes.append(
            f"Note: left out {dropped} {points} of {metric!r} whose {where} are <= 0, which a log "
            f"{axes} axis cannot show, in {touched} {curves_word}"
        )
    return Panel(replace(selection, curves=curves), logy, options.logx, tuple(notes))
