"""Experiments side by side: ``yanex compare`` and ``yanex.compare_frame``."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from yanex.config import SYSTEM_METRICS_PREFIX
from yanex.status import Status
from yanex.store.dialect import chunks, marks
from yanex.store.filters import ExperimentFilter
from yanex.store.git_fields import git_field, json_column
from yanex.store.metric_names import AGGREGATES, default_goal, metric_ref
from yanex.store.metric_values import PICKED, JsonValue, as_logged, metric_value
from yanex.store.selection import differing_params, select_ids


@dataclass(frozen=True)
class CompareRow:
    id: str
    name: str | None
    status: Status
    params: dict[str, JsonValue]  # flat, dotted keys
    metrics: dict[str, JsonValue]  # by reference: last values (loss) or aggregates (loss.min)
    git: dict[str, JsonValue] = field(default_factory=dict)  # the git fields asked: git.commit ...

    def as_json(self) -> dict[str, JsonValue]:
        found: dict[str, JsonValue] = {
            "id": self.id,
            "name": self.name,
            "status": self.status.value,
            "params": self.params,
            "metrics": self.metrics,
        }
        if self.git:
            found["git"] = {name.removeprefix("git."): value for name, value in self.git.items()}
        return found


@dataclass(frozen=True)
class Comparison:
    """Rows side by side; ``params``, ``git`` and ``metrics`` name the columns chosen, in order."""

    params: list[str]
    metrics: list[str]
    rows: list[CompareRow]
    # The goal of each metric column's key when every row that has it agrees (metric_summary.goal).
    goals: dict[str, str] = field(default_factory=dict)
    git: list[str] = field(default_factory=list)  # git.commit, git.dirty, git.branch, as asked


# Metric rows are read by experiment (the primary key) and picked by key here: with both
# ``experiment_id IN (1,000 ids)`` and ``key IN (3 keys)`` SQLite walks a (key, aggregate) index
# through every experiment's row of those keys instead (compare at 100,000 experiments: 2.2x
# slower than at 10,000).


def _metric_values(
    conn: sqlite3.Connection, ids: Sequence[str], names: Sequence[str]
) -> tuple[dict[str, dict[str, JsonValue]], dict[str, set[str]]]:
    """The values of metric references ``names`` (``loss``, ``loss.min``: ``metric_ref``) of each
    experiment, by id then name (without ``names``, the last value of every metric by key), and
    the goals each metric key has among them: one pass over their ``metric_summary`` rows, no
    ``MetricSummary`` per cell (a thousand rows side by side)."""
    refs = {name: metric_ref(name) for name in names}
    keys = {ref.key for ref in refs.values()}
    found: dict[str, dict[str, JsonValue]] = {i: {} for i in ids}
    key_goals: set[tuple[str, str]] = set()
    columns = ", ".join(a.number for a in AGGREGATES.values())
    numbers = {name: position for position, name in enumerate(AGGREGATES, start=5)}
    for chunk in chunks(conn, ids):
        args = list(chunk)
        if not refs:  # the common case, as lean as it can be: last values only
            query = "SELECT experiment_id, key, last, last_json, goal FROM metric_summary "
            query += f"WHERE experiment_id IN ({marks(len(chunk))})"
            for experiment_id, key, last, last_json, goal in conn.execute(query, args):
                found[experiment_id][key] = last if last_json is None else json.loads(last_json)
                key_goals.add((key, goal))
            continue
        query = f"SELECT experiment_id, key, last_json, first_json, goal, {columns} FROM metric_summary "
        query += f"WHERE experiment_id IN ({marks(len(chunk))})"
        by_key: dict[str, dict[str, tuple[Any, ...]]] = {}
        for row in conn.execute(query, args):
            if row[1] in keys:
                by_key.setdefault(row[0], {})[row[1]] = row
                key_goals.add((row[1], row[4]))
        for experiment_id, rows in by_key.items():
            values = found[experiment_id]
            for name, ref in refs.items():
                row = rows.get(ref.key)
                if row is None:
                    continue
                number = row[numbers[ref.aggregate.name]]
                if ref.aggregate.json is not None:
                    number = metric_value(number, row[2 if ref.aggregate.name == "last" else 3])
                elif ref.aggregate.name in PICKED:
                    number = as_logged(number, row[2])
                values[name] = number
    goals: dict[str, set[str]] = {}
    for key, goal in key_goals:
        goals.setdefault(key, set()).add(goal)
    return found, goals


def compare(
    conn: sqlite3.Connection,
    flt: ExperimentFilter,
    params: Sequence[str] = (),
    metrics: Sequence[str] = (),
) -> Comparison:
    """The matching experiments side by side.

    Without ``params``, the columns are the parameters whose values differ between the selected
    experiments (all of them for a single one), over the whole selection even when ``limit``
    shows only some: the swept parameters stay when comparing the best 3. ``params`` may name
    git fields (``git.commit``: ``yanex.store.git_fields``). Without ``metrics``, every metric any
    row logged but the system metrics (``system/...``), which are columns only when named.
    """
    ids = select_ids(conn, flt)
    asked = bool(params)
    git = [found for name in params if (found := git_field(name)) is not None]
    params = [name for name in params if git_field(name) is None]
    heads: dict[str, tuple[str | None, str]] = {}
    code: dict[str, tuple[JsonValue, ...]] = {}
    raw: dict[str, dict[str, str]] = {i: {} for i in ids}  # JSON text: compared, then decoded
    for chunk in chunks(conn, ids, len(params)):
        in_chunk = marks(len(chunk))
        columns = "".join(f", {json_column(g)}" for g in git)
        query = f"SELECT id, name, status{columns} FROM experiments WHERE id IN ({in_chunk})"
        for i, n, s, *values in conn.execute(query, chunk):
            heads[i] = (n, s)
            code[i] = tuple(None if v is None else json.loads(v) for v in values)
        query = f"SELECT experiment_id, key, value FROM params WHERE experiment_id IN ({in_chunk})"
        args = list(chunk)
        if params:
            query += f" AND key IN ({marks(len(params))})"
            args += params
        for experiment_id, key, value in conn.execute(query, args):
            raw[experiment_id][key] = value
    latest, goals_seen = _metric_values(conn, ids, metrics)
    if asked:
        param_keys = list(params)
    elif flt.limit is not None:
        param_keys = differing_params(conn, dataclasses.replace(flt, sort=None, desc=False, limit=None))
    else:
        every = sorted({k for v in raw.values() for k in v})
        param_keys = [k for k in every if len(ids) == 1 or len({raw[i].get(k) for i in ids}) > 1]
    # The supervisor's samples (system/...) only when named: each run has them, few compare them.
    metric_keys = (
        list(metrics)
        if metrics
        else sorted({k for m in latest.values() for k in m if not k.startswith(SYSTEM_METRICS_PREFIX)})
    )
    # The goal of a column is the one every row with the metric shares (none when they differ).
    goals = {
        name: next(iter(seen))
        for name in metric_keys
        if len(seen := goals_seen.get(metric_ref(name).key, set())) == 1
    }
    # A sweep repeats few values: each distinct JSON text is decoded once.
    texts = {text for values in raw.values() for text in values.values()}
    decoded = {text: json.loads(text) for text in texts}
    statuses = {status.value: status for status in Status}
    rows = [
        CompareRow(
            id=i,
            name=heads[i][0],
            status=statuses[heads[i][1]],
            params={k: decoded[raw[i][k]] for k in param_keys if k in raw[i]},
            metrics={k: latest[i][k] for k in metric_keys if k in latest[i]},
            git={g.name: value for g, value in zip(git, code[i], strict=True)},
        )
        for i in ids
    ]
    return Comparison(
        params=param_keys, metrics=metric_keys, rows=rows, goals=goals, git=[g.name for g in git]
    )


def best_rows(values: list[Any], key: str, goal: str | None = None) -> set[int]:
    """Indexes of the rows holding the best numeric value of metric reference ``key``, by
    ``goal`` (the goal the experiments declared), else the default direction
    (``yanex.store.metric_names.default_goal``); a step or a count has none."""
    ref = metric_ref(key)
    if ref.aggregate.name in ("step_of_best", "count"):
        return set()
    numbers = {i: v for i, v in enumerate(values) if isinstance(v, int | float) and not isinstance(v, bool)}
    if len(numbers) < 2:
        return set()
    best = min(numbers.values()) if (goal or default_goal(ref.key)) == "min" else max(numbers.values())
    return {i for i, v in numbers.items() if v == best}
