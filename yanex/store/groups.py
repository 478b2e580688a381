"""Experiments grouped by parameter values, and per group n, mean and std of metrics, in SQL.

``--group-by learning_rate`` groups by that parameter (repeatable: by several); ``--group-by
'!seed'`` groups by every parameter whose values differ in the selection except ``seed``, the way
runs that differ only by seed are averaged. An experiment without a grouping parameter falls in
the group whose value for it is None. ``git.commit``, ``git.dirty`` and ``git.branch``
(``yanex.store.git_fields``) group by the code run; a name may list several: ``'!seed,git.commit'``.

What is counted (``counted``): of the selected experiments, the latest attempt of each (one that a
retry, ``yanex rerun`` or ``yanex sweep resume`` replaced is left out: it would count its point
twice), and only completed ones unless the filter names statuses. ``all_attempts`` counts every
attempt. Each group says which statuses and commits its members have, so that a group mixing
them can be told apart. ``group_stats`` orders and cuts the groups by the filter's sort, desc and
limit (a metric's mean, or a grouping parameter), which never cut the experiments.

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

import dataclasses
import json
import sqlite3
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from yanex.errors import UsageError, YanexWarning
from yanex.status import Status
from yanex.store.dialect import Binder, Sql
from yanex.store.filters import ExperimentFilter, compile_filter
from yanex.store.git_fields import git_field, json_column
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
    statuses: tuple[str, ...]  # of its members, sorted
    commits: tuple[str, ...]  # the git commits its members ran (recorded ones), sorted


@dataclass(frozen=True)
class Scope:
    """What the statistics left out by default: experiments not completed (when the filter named
    no status), superseded attempts (unless ``all_attempts``); ``left_out`` of ``selected``."""

    completed_only: bool
    latest_only: bool
    selected: int
    left_out: int

    def note(self) -> str | None:
        """The one line ``compare --group-by`` and ``plot --group-by`` print about it, naming the
        options that count the rest; None when nothing is left out by default."""
        only = [
            *(["completed"] if self.completed_only else []),
            *(["latest attempts"] if self.latest_only else []),
        ]
        if not only:
            return None
        flags = [
            *(["--status"] if self.completed_only else []),
            *(["--all-attempts"] if self.latest_only else []),
        ]
        # Within 80 columns:
        # "Note: completed, latest attempts only: 2 of 6 left out (--status/--all-attempts)"
        counted = f"{self.left_out} of {self.selected} left out" if self.left_out else f"all {self.selected}"
        return f"Note: {', '.join(only)} only: {counted} ({'/'.join(flags)})"


@dataclass(frozen=True)
class GroupStats:
    keys: tuple[str, ...]
    metrics: tuple[str, ...]
    rows: tuple[GroupRow, ...]
    scope: Scope


def counted(flt: ExperimentFilter, *, all_attempts: bool = False) -> ExperimentFilter:
    """The experiments of ``flt`` that group statistics count (module docstring)."""
    return dataclasses.replace(
        flt,
        statuses=flt.statuses or (Status.COMPLETED,),
        latest_attempts=flt.latest_attempts or not all_attempts,
    )


def _names(by: Sequence[str]) -> list[str]:
    """``by`` with each comma-separated list split: ``'!seed,git.commit'`` is two names."""
    return [part.strip() for name in by for part in name.split(",")]


def group_keys(conn: sqlite3.Connection, flt: ExperimentFilter, by: Sequence[str]) -> tuple[str, ...]:
    """The parameters ``by`` names: each plain name, and for any ``!NAME`` every parameter that
    differs in the selection except the ``!`` ones. A plain name no selected experiment has is a
    ``UsageError`` (a typo would otherwise make one group of everything); a ``!`` name need not
    exist (``!seed`` on experiments without seeds groups by everything that differs), which a
    ``YanexWarning`` says, naming the parameters (a typo shows there)."""
    by = _names(by)
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
        if not name or (name not in stored and git_field(name) is None):
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
    """Each key's value as JSON text (``g0``, ``g1``...): a parameter's, or a git column's."""
    columns: list[str] = []
    joins = ""
    for n, key in enumerate(keys):
        git = git_field(key)
        if git is not None:
            columns.append(f"{json_column(git)} AS g{n}")
            continue
        columns.append(f"g{n}.value AS g{n}")
        joins += f" LEFT JOIN params AS g{n} ON g{n}.experiment_id = experiments.id"
        joins += f" AND g{n}.key = {binder.bind(key)}"
    return columns, joins


def group_experiments(
    conn: sqlite3.Connection, flt: ExperimentFilter, by: Sequence[str], *, all_attempts: bool = False
) -> Grouping:
    """The experiments ``counted`` of ``flt`` grouped by the parameters ``by`` names (module
    docstring); groups ordered by value, ids in the filter's order within each."""
    flt = counted(flt, all_attempts=all_attempts)
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


def scope_of(conn: sqlite3.Connection, flt: ExperimentFilter, *, all_attempts: bool = False) -> Scope:
    """What ``counted`` leaves out of the experiments ``flt`` selects, for a note beside groups."""
    whole = dataclasses.replace(flt, sort=None, desc=False, limit=None)
    selected = _count(conn, whole)
    kept = _count(conn, counted(whole, all_attempts=all_attempts))
    return Scope(not whole.statuses, not all_attempts, selected, selected - kept)


def _stat(numbers: list[float]) -> Stat:
    return Stat(
        len(numbers),
        mean(numbers) if numbers else None,
        stdev(numbers) if len(numbers) > 1 else None,
    )


def _count(conn: sqlite3.Connection, flt: ExperimentFilter) -> int:
    sql = compile_filter(flt)
    (total,) = conn.execute(f"SELECT COUNT(*) FROM ({sql.text}) AS selected", sql.sqlite_params()).fetchone()
    return int(total)


def _sort_key(flt: ExperimentFilter, keys: Sequence[str]) -> tuple[str, str] | None:
    """What the groups are sorted by: ("metric", reference) or ("param", key)."""
    if flt.sort is None:
        return None
    prefix, _, name = flt.sort.partition(".")
    if prefix == "metrics" and name:
        return ("metric", name)
    if prefix == "params" and name in keys:
        return ("param", name)
    raise UsageError(
        f"cannot sort groups by {flt.sort!r}",
        hint=f"sort them by a metric's mean (--sort metrics.NAME) or a grouping param "
        f"({', '.join(f'params.{k}' for k in keys) or 'none here'})",
    )


def _ordered(rows: list[GroupRow], keys: Sequence[str], flt: ExperimentFilter) -> list[GroupRow]:
    """Groups by value, else by the filter's sort (a metric's mean, missing last), ``desc``
    reversing either; at most ``limit`` of them."""
    rows = sorted(rows, key=lambda r: _order(r.values))
    by = _sort_key(flt, keys)
    if by is not None and by[0] == "param":
        at = list(keys).index(by[1])
        rows.sort(key=lambda r: _order((r.values[at],)), reverse=flt.desc)
    elif by is not None:
        means = [(row, row.metrics[by[1]].mean) for row in rows]
        if rows and all(m is None for _, m in means):
            warnings.warn(YanexWarning(f"no group has a value of {by[1]!r} to sort by"), stacklevel=3)
        having = sorted([(r, m) for r, m in means if m is not None], key=lambda x: x[1], reverse=flt.desc)
        rows = [r for r, _ in having] + [r for r, m in means if m is None]
    elif flt.desc:
        rows.reverse()
    return rows if flt.limit is None else rows[: flt.limit]


def group_stats(
    conn: sqlite3.Connection,
    flt: ExperimentFilter,
    by: Sequence[str],
    metrics: Sequence[str] = (),
    *,
    all_attempts: bool = False,
) -> GroupStats:
    """Per group of ``group_experiments``: how many experiments, and n, mean and std of each
    metric reference in ``metrics`` (by default the last value of every metric logged, and the
    one the filter sorts by), ordered and cut by the filter's sort, desc and limit."""
    whole = dataclasses.replace(flt, sort=None, desc=False, limit=None)
    chosen = counted(whole, all_attempts=all_attempts)
    scope = scope_of(conn, whole, all_attempts=all_attempts)
    # Nothing to group: say what was left out, not that a key is missing.
    if scope.selected and scope.selected == scope.left_out:
        return GroupStats((), tuple(metrics), (), scope)
    keys = group_keys(conn, chosen, by)
    by_metric = _sort_key(flt, keys)
    sql = compile_filter(chosen)
    if not metrics:
        metrics = [
            key
            for (key,) in conn.execute(
                f"SELECT DISTINCT key FROM metric_summary WHERE experiment_id IN ({sql.text}) ORDER BY key",
                sql.sqlite_params(),
            )
        ]
    if by_metric is not None and by_metric[0] == "metric" and by_metric[1] not in metrics:
        metrics = [*metrics, by_metric[1]]
    binder = Binder(dict(sql.params))
    columns, joins = _group_joins(keys, binder)
    columns += ["experiments.status", "experiments.git_commit"]  # then the metrics' columns
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
    members: dict[tuple[str | None, ...], list[tuple[Any, ...]]] = {}
    for _, *row in conn.execute(text, Sql(text, binder.params).sqlite_params()):
        members.setdefault(tuple(row[: len(keys)]), []).append(tuple(row[len(keys) :]))
    rows = [
        GroupRow(
            tuple(map(_decoded, values)),
            len(found),
            {
                name: _stat([v for x in found if (v := x[n + 2]) is not None])
                for n, name in enumerate(metrics)
            },
            tuple(sorted({x[0] for x in found})),
            tuple(sorted({x[1] for x in found if x[1] is not None})),
        )
        for values, found in members.items()
    ]
    return GroupStats(keys, tuple(metrics), tuple(_ordered(rows, keys, flt)), scope)


__all__ = [
    "Group",
    "GroupRow",
    "GroupStats",
    "Grouping",
    "Scope",
    "Stat",
    "counted",
    "group_experiments",
    "group_keys",
    "group_stats",
]
