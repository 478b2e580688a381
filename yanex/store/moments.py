"""Sums, means and standard deviations of floats: exact until the one final rounding, and finite
whenever the answer is.

A float is a whole number of 2**-1074 (the smallest subnormal), so the sum of any floats is a
Python int of those units (``units``, ``exact_sum``): nothing cancels away and nothing overflows
(1e308, -1e308 and 5 sum to 5, 1e308 twice is 2e308). ``as_float`` rounds such a sum, or a mean,
once, correctly. A plain running sum gives 0 for 5, 1e308, -1e308, and ``inf`` for a mean of two
1e308; ``statistics.fmean`` raises on the latter.

``exact_sum`` stays at C speed: ``math.fsum`` gives the correctly rounded sum; adding its
negation and summing again peels off the next part, until nothing is left (two passes for most
data, a few more for values spread over many magnitudes). Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

UNIT_BITS = 1074  # a float is a whole number of 2**-UNIT_BITS


def units(x: float) -> int:
    """``x`` (finite) as an exact whole number of 2**-1074."""
    numerator, denominator = x.as_integer_ratio()
    return numerator << (UNIT_BITS + 1 - denominator.bit_length())


def exact_sum(values: Iterable[float]) -> int:
    """The exact sum of finite ``values``, in units of 2**-1074."""
    rest = list(values)
    total = 0
    while True:
        try:
            part = math.fsum(rest)
        except OverflowError:  # a partial sum beyond float range: add the units one by one
            return total + sum(map(units, rest))
        if part == 0:  # a nonzero sum of floats is at least 2**-1074, which rounds to itself
            return total
        if math.isinf(part):
            return total + sum(map(units, rest))
        total += units(part)
        rest.append(-part)


def as_float(total: int, count: int = 1) -> float:
    """``total`` units of 2**-1074 divided by ``count``, rounded once; ±inf beyond float range."""
    try:
        return total / (count << UNIT_BITS)  # int / int rounds correctly
    except OverflowError:
        return math.inf if total > 0 else -math.inf


def mean(values: Sequence[float]) -> float:
    """The mean of finite ``values`` (at least one), correctly rounded: equal values give that
    value, and it is finite whatever their sum."""
    return as_float(exact_sum(values), len(values))


def stdev(values: Sequence[float]) -> float:
    """The sample standard deviation (n - 1) of finite ``values`` (at least two): exactly 0 when
    they are equal, and computed from deviations from the mean (no sum of squares to cancel),
    after scaling by a power of two so that no square overflows; inf only when the answer is
    beyond float range."""
    top = max(map(abs, values))
    if top == 0:
        return 0.0
    shift = math.frexp(top)[1]  # scaled by 2**-shift, every value lies in (-1, 1), exactly
    scaled = [math.ldexp(v, -shift) for v in values]
    centre = mean(scaled)
    variance = math.fsum((v - centre) ** 2 for v in scaled) / (len(values) - 1)
    try:
        return math.ldexp(math.sqrt(variance), shift)
    except OverflowError:
        return math.inf


__all__ = ["UNIT_BITS", "as_float", "exact_sum", "mean", "stdev", "units"]
