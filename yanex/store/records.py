"""Experiments read as records (``yanex.store.tables.ExperimentRecord``), on an open snapshot.

The columns read, and how each becomes a field, come from the table declaration; tags and patches
are read by id from their own tables. ``yanex.store.views`` turns records into the pydantic views
of the Python API.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from yanex.store.dialect import aware_time, chunks, marks
from yanex.store.filters import SORT_COLUMNS, ExperimentFilter
from yanex.store.metric_names import metric_ref
from yanex.store.metric_values import JsonValue, latest_of
from yanex.store.selection import select_ids
from yanex.store.tables import EXPERIMENTS, ExperimentRecord

_RECORD = EXPERIMENTS.shapes[0]
# The record's columns, then the patch's hash, which finds its text in git_patches.
_SELECT = f"SELECT {', '.join(c.name for c in _RECORD.columns)}, git_patch_sha256 FROM experiments"


def load_records(conn: sqlite3.Connection, ids: Sequence[str]) -> list[ExperimentRecord]:
    """The experiments ``ids`` names, in that order (ids not found are left out)."""
    rows: dict[str, tuple[Any, ...]] = {}
    tags: dict[str, list[str]] = {i: [] for i in ids}
    for chunk in chunks(conn, ids):
        in_chunk = marks(len(chunk))
        rows.update((row[0], row) for row in conn.execute(f"{_SELECT} WHERE id IN ({in_chunk})", chunk))
        query = f"SELECT experiment_id, tag FROM tags WHERE experiment_id IN ({in_chunk})"
        for experiment_id, tag in conn.execute(query, chunk):
            tags[experiment_id].append(tag)
    shas = sorted({row[-1] for row in rows.values() if row[-1]})
    patches: dict[str, str] = {}
    for chunk in chunks(conn, shas):
        query = f"SELECT sha256, patch FROM git_patches WHERE sha256 IN ({marks(len(chunk))})"
        patches.update(conn.execute(query, chunk))
    records: list[ExperimentRecord] = [
        _RECORD.decode(rows[i], {"tags": sorted(tags[i]), "git.patch": patches.get(rows[i][-1])})
        for i in ids
        if i in rows
    ]
    return records


def find_records(conn: sqlite3.Connection, flt: ExperimentFilter) -> list[ExperimentRecord]:
    """The matching experiments, in the filter's order."""
    return load_records(conn, select_ids(conn, flt))


def field_values(conn: sqlite3.Connection, ids: Sequence[str], name: str) -> dict[str, JsonValue]:
    """One field of each experiment, by id: ``params.X``, ``metrics.X`` (last value),
    ``metrics.X.AGG`` or a sort column (``SORT_COLUMNS``); experiments without it are left out."""
    import json

    prefix, _, key = name.partition(".")
    if prefix == "metrics" and key:
        ref = metric_ref(key)
        summaries = latest_of(conn, ids, [ref.key]).items()
        return {i: m[ref.key].aggregate(ref.aggregate.name) for i, m in summaries if ref.key in m}
    found: dict[str, JsonValue] = {}
    for chunk in chunks(conn, ids, 1):
        if prefix == "params" and key:
            query = "SELECT experiment_id, value FROM params WHERE key = ? AND experiment_id IN "
            query += f"({marks(len(chunk))})"
            found.update((i, json.loads(v)) for i, v in conn.execute(query, [key, *chunk]))
        else:
            column = SORT_COLUMNS[name]
            query = f"SELECT id, {column} FROM experiments WHERE id IN ({marks(len(chunk))})"
            for i, value in conn.execute(query, chunk):
                if value is not None:
                    found[i] = aware_time(value) if column.endswith("_at") else value
    return found


def param_keys(conn: sqlite3.Connection, ids: Sequence[str]) -> list[str]:
    """The dotted keys of the parameters any of ``ids`` has, sorted (``yanex metrics --params all``)."""
    keys: set[str] = set()
    for chunk in chunks(conn, ids):
        query = f"SELECT DISTINCT key FROM params WHERE experiment_id IN ({marks(len(chunk))})"
        keys.update(key for (key,) in conn.execute(query, chunk))
    return sorted(keys)
