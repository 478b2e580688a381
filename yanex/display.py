"""Numbers and byte counts as people read them, formatted in one place each.

Run names, tables, ``yanex show``, the web view's legends and every message about a size call
these, so a value reads the same wherever it appears. Standard library only: the sweep expander,
the store's messages and the CLI all use it.
"""

from __future__ import annotations

import json
from typing import Any

SIGNIFICANT = 6  # digits a float keeps on screen (0.316227766016838 -> 0.316228)
_UNITS = ("KiB", "MiB", "GiB", "TiB")


def format_float(value: float) -> str:
    """A float to 6 significant digits that still reads as a float: ``1.0`` stays ``1.0`` (``%g``
    alone would print ``1``, the same as the integer 1), ``1e-05`` stays ``1e-05``."""
    text = f"{value:.{SIGNIFICANT}g}"
    return f"{text}.0" if text.lstrip("-").isdigit() else text


def format_value(value: Any) -> str:
    """A parameter's value as a run name or a label shows it: floats by ``format_float``, integers
    and text as they are, anything else as compact JSON (``true``, ``null``, ``[64,32]``)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, int | str):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def format_size(size: int) -> str:
    """Bytes in the powers of 1024 the units name: ``512 B``, ``4.2 KiB``, ``256 KiB``,
    ``50.0 MiB`` (a whole number of a unit, such as a limit, without a decimal)."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    unit = 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    return f"{value:.0f} {_UNITS[unit]}" if value.is_integer() else f"{value:.1f} {_UNITS[unit]}"
