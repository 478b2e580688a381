"""Experiments grouped by parameter values, and per group n, mean and std of metrics, in SQL.

``--group-by learning_rate`` groups by that parameter (repeatable: by several); ``--group-by
'!seed'`` groups by every parameter whose values differ in the selection except ``seed``, the way
runs that differ only by seed are averaged. An experiment without a grouping parameter falls in
the group whose value for it is None.

Statistics are over the chosen metric reference (``loss``: last values, ``loss.min``: each
experiment's minimum; ``yanex.store.metric_names.metric_ref``): count, mean and the sample standard
deviation (n - 1). One query reads each selected experiment's group values and numbers; the
statistics are computed in Python (``yanex.store.moments``), since SQLite's ``AVG`` is a plain
running sum: it gave 0.10000000000000002 for three 0.1, a std of 1.7e-17 around it, and -inf for
three -1e308. The mean is exact and rounded once (equal values give that value, so their std is
exactly 0); the std is taken from distances to it, which stays exact where the textbook sum of
squares cancels (accuracies of 0.9 +- 1e-9). Standard library only, like the rest of the read path.
"""

from __future__ import annotations

import json
import sqlite3
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from yanex.errors import UsageError, YanexWarning
from yanex.store.dialect import Binder, Sql
from yanex.store.filters import ExperimentFilter, compile_filter
from yanex.store.metric_names import metric_ref
from yanex.store.metric_values import JsonValue
from yanex.store.moments import mean, stdev
from yanex.store.selection import differing_params

_EXCEPT = "!"


@dataclass(frozen=True)
class Group:
    """Experiments sharing ``values``, one per grouping key (None: the parameter is missing)."""

    values: tuple[JsonValue, ...]
    ids: tuple[str, ...]


@dataclass(frozen=True)
class Grouping:
    keys: tuple[str, ...]
    groups: tuple[Group, ...]


@dataclass(frozen=True)
class Stat:
    """One metric over a group: ``n`` experiments with a number for it, their mean and sample
    standard deviation (None below two)."""

    n: int
    mean: float | None
    std: float | None


@dataclass(frozen=True)
class GroupRow:
    values: tuple[JsonValue, ...]
    n: int  # experiments in the group
    metrics: dict[str, Stat]  # by metric reference, as asked


@dataclass(frozen=True)
class GroupStats:
    keys: tuple[str, ...]
    metrics: tuple[str, ...]
    rows: tuple[GroupRow, ...]


def group_keys(conn: sqlite3.Connection, flt: ExperimentFilter, by: Sequence[str]) -> tuple[str, ...]:
    """The parameters ``by`` names: each plain name, and for any ``!NAME`` every parameter that
    differs in the selection except the ``!`` ones. A plain name no selected experiment has is a
    ``UsageError`` (a typo would otherwise make one group of everything); a ``!`` name need not
    exist (``!seed`` on experiments without seeds groups by everything that differs), which a
    ``YanexWarning`` says, naming the parameters (a typo shows there)."""
    excluded = {name[1:] for name in by if name.startswith(_EXCEPT)}
    plain = [name for name in by if not name.startswith(_EXCEPT)]
    sql = compile_filter(flt)
    stored = {
        key
        for (key,) in conn.execute(
            f"SELECT DISTINCT key FROM params WHERE experiment_id IN ({sql.text})", sql.sqlite_params()
        )
    }
    for name in [*plain, *(name for name in excluded if not name)]:
        if not name or name not in stored:
            differing = differing_params(conn, flt)
            raise UsageError(
                f"--group-by {name!r}: no selected experiment has that parameter",
                hint=f"parameters that differ here: {', '.join(differing) or 'none'}",
            )
    keys = list(dict.fromkeys(plain))
    if excluded:
        differing = differing_params(conn, flt)
        keys += [key for key in differing if key not in excluded and key not in keys]
        absent = sorted(name for name in excluded if name not in stored)
        if absent:
            warnings.warn(
                YanexWarning(
                    f"no selected experiment has {', '.join(map(repr, absent))}; grouping by every "
                    f"parameter that differs: {', '.join(differing) or 'none'}"
                ),
                stacklevel=2,
            )
    return tuple(keys)


def _decoded(text: str | None) -> JsonValue:
    return None if text is None else json.loads(text)


def _order(values: tuple[JsonValue, ...]) -> tuple[Any, ...]:
    """Groups by value: missing first, then numbers by size, then anything else by its JSON."""
    return tuple(
        (0, 0.0, "")
        if value is None
        else (1, float(value), "")
        if isinstance(value, int | float) and not isinstance(value, bool)
        else (2, 0.0, json.dumps(value, sort_keys=True))
        for value in values
    )


def _group_joins(keys: Sequence[str], binder: Binder) -> tuple[list[str], str]:
    columns = [f"g{n}.value AS g{n}" for n in range(len(keys))]
    joins = "".join(
        f" LEFT JOIN params AS g{n} ON g{n}.experiment_id = experiments.id AND g{n}.key = {binder.bind(key)}"
        for n, key in enumerate(keys)
    )
    return columns, joins


def group_experiments(conn: sqlite3.Connection, flt: ExperimentFilter, by: Sequence[str]) -> Grouping:
    """The selected experiments grouped by the parameters ``by`` names (module docstring); groups
    ordered by value, ids in the filter's order within each."""
    keys = group_keys(conn, flt, by)
    sql = compile_filter(flt)
    binder = Binder(dict(sql.params))
    columns, joins = _group_joins(keys, binder)
    text = (
        f"SELECT selected.id{''.join(', ' + c for c in columns)} FROM ({sql.text}) AS selected "
        f"JOIN experiments ON experiments.id = selected.id{joins}"
    )
    grouped: dict[tuple[str | None, ...], list[str]] = {}
    for experiment_id, *values in conn.execute(text, Sql(text, binder.params).sqlite_params()):
        grouped.setdefault(tuple(values), []).append(experiment_id)
    groups = [Group(tuple(map(_decoded, values)), tuple(ids)) for values, ids in grouped.items()]
    return Grouping(keys, tuple(sorted(groups, key=lambda g: _order(g.values))))


def _stat(numbers: list[float]) -> Stat:
    return Stat(
        len(numbers),
        mean(numbers) if numbers else None,
        stdev(numbers) if len(numbers) > 1 else None,
    )


def group_stats(
    conn: sqlite3.Connection, flt: ExperimentFilter, by: Sequence[str], metrics: Sequence[str] = ()
) -> GroupStats:
    """Per group of ``group_experiments``: how many experiments, and n, mean and std of each
    metric reference in ``metrics`` (by default the last value of every metric logged)."""
    keys = group_keys(conn, flt, by)
    sql = compile_filter(flt)
    if not metrics:
        metrics = [
            key
            for (key,) in conn.execute(
                f"SELECT DISTINCT key FROM metric_summary WHERE experiment_id IN ({sql.text}) ORDER BY key",
                sql.sqlite_params(),
            )
        ]
    binder = Binder(dict(sql.params))
    columns, joins = _group_joins(keys, binder)
    for n, name in enumerate(metrics):
        ref = metric_ref(name)
        columns.append(f"m{n}.{ref.aggregate.number} AS x{n}")
        joins += (
            f" LEFT JOIN metric_summary AS m{n} ON m{n}.experiment_id = experiments.id"
            f" AND m{n}.key = {binder.bind(ref.key)}"
        )
    text = (
        f"SELECT {', '.join(['selected.id', *columns])} FROM ({sql.text}) AS selected "
        f"JOIN experiments ON experiments.id = selected.id{joins}"
    )
    members: dict[tuple[str | None, ...], list[tuple[float | None, ...]]] = {}
    for _, *row in conn.execute(text, Sql(text, binder.params).sqlite_params()):
        members.setdefault(tuple(row[: len(keys)]), []).append(tuple(row[len(keys) :]))
    rows = [
        GroupRow(
            tuple(map(_decoded, values)),
            len(found),
            {name: _stat([v for x in found if (v := x[n]) is not None]) for n, name in enumerate(metrics)},
        )
        for values, found in members.items()
    ]
    return GroupStats(keys, tuple(metrics), tuple(sorted(rows, key=lambda r: _order(r.values))))


__all__ = [
    "Group",
    "GroupRow",
    "GroupStats",
    "Grouping",
    "Stat",
    "group_experiments",
    "group_keys",
    "group_stats",
]
