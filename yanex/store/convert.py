"""Pure conversions between user data and table rows (no session, no I/O)."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from typing import NamedTuple

from pydantic import JsonValue

from yanex.specs import flat_params


class ParamLeaf(NamedTuple):
    key: str
    value: str  # JSON text
    value_number: float | None
    value_text: str | None


def _as_float(number: int | float) -> float | None:
    """The number as a float, or None for an int beyond any float (kept exactly as JSON instead)."""
    try:
        return float(number)
    except OverflowError:
        return None


def flatten_config(config: dict[str, JsonValue]) -> list[ParamLeaf]:
    """One leaf per parameter (see ``flat_params``), its value as JSON text and as a number or text."""
    leaves: list[ParamLeaf] = []
    for dotted, value in flat_params(config):
        number = _as_float(value) if isinstance(value, int | float) else None
        text = value if isinstance(value, str) else None
        leaves.append(ParamLeaf(dotted, json.dumps(value), number, text))
    return leaves


def spec_fingerprint(script_path: str, config: dict[str, JsonValue], script_args: list[str]) -> str:
    """Identity of what runs: equal for two specs that would do the same thing."""
    canonical = json.dumps([script_path, config, script_args], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class MetricValue(NamedTuple):
    value: float | None
    value_json: str | None


def _finite_json(node: JsonValue) -> JsonValue:
    """``node`` with every NaN and infinity, at any depth, as the string JSON would need."""
    if isinstance(node, float) and not math.isfinite(node):
        return json.dumps(node)  # "NaN", "Infinity" or "-Infinity", as JavaScript spells them
    if isinstance(node, list):
        return [_finite_json(item) for item in node]
    if isinstance(node, dict):
        return {key: _finite_json(item) for key, item in node.items()}
    return node


def json_text(value: JsonValue) -> str:
    """Valid JSON text for any value: NaN and the infinities, at any depth, become the strings
    "NaN", "Infinity" and "-Infinity" (``json.dumps`` alone writes bare ``NaN``, which is not JSON
    and breaks SQLite's JSON functions for every query that reads it)."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(_finite_json(value), allow_nan=False)


def metric_value(raw: JsonValue) -> MetricValue:
    """Numbers (and booleans, as 0/1) go to the numeric column; anything else is kept as JSON,
    and so are ints and booleans beside their number (read back exactly; see ``compile_where``).

    NaN and the infinities, alone or inside a list or dict, are kept as the JSON strings "NaN",
    "Infinity" and "-Infinity" (see ``json_text``), alone with no numeric value: NaN is no number
    to compare or sort by, and SQLite would write a REAL infinity as ``Inf``, which is not JSON.
    """
    if isinstance(raw, bool):
        return MetricValue(float(raw), json.dumps(raw))
    if isinstance(raw, int | float):
        number = _as_float(raw)
        if number is None:
            return MetricValue(None, json.dumps(raw))
        if not math.isfinite(number):
            return MetricValue(None, json_text(raw))
        # An int keeps its JSON text too, so that it reads back as logged: 9, not 9.0.
        return MetricValue(number, json.dumps(raw) if isinstance(raw, int) else None)
    return MetricValue(None, json_text(raw))


def now_utc() -> datetime:
    """Naive UTC for storage, readable as-is in the sqlite3 shell."""
    return datetime.now(UTC).replace(tzinfo=None)
