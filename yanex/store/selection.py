"""Which experiments a filter selects, on an open snapshot, and what a user is told when a field
the filter names exists nowhere (``yanex list --where "lr > 0.1"`` printing nothing is otherwise
silent)."""

from __future__ import annotations

import dataclasses
import itertools
import sqlite3
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from yanex.errors import YanexWarning
from yanex.store.dialect import Sql, chunks, marks
from yanex.store.filters import ExperimentFilter, compile_filter
from yanex.store.metric_names import MetricRef, metric_ref

if TYPE_CHECKING:
    from yanex.store.counts import SelectionCounts, Version
    from yanex.store.where import Field

# Selections up to this size are sorted whole rather than read from the index of their order.
SORT_WHOLE = 2_000


def select_ids(conn: sqlite3.Connection, flt: ExperimentFilter) -> list[str]:
    """The filter's ids, in its order.

    A field the where condition or the sort names that no experiment of the selection has is
    said in a ``YanexWarning``, with the nearest names stored.
    """
    sql = compile_filter(flt)
    ids = [row[0] for row in conn.execute(sql.text, sql.sqlite_params())]
    for named, use in _named_fields(flt, ids):
        if not _has_field(conn, named, ids) and not _has_field(conn, named, _selection(flt)):
            warnings.warn(YanexWarning(_unmatched(conn, named, use)), stacklevel=3)
    return ids


def differing_params(conn: sqlite3.Connection, selection: ExperimentFilter) -> list[str]:
    """The parameters whose values differ within ``selection`` (a missing one differs too)."""
    sql = compile_filter(selection)
    params = sql.sqlite_params()
    (total,) = conn.execute(f"SELECT COUNT(*) FROM ({sql.text}) AS selection", params).fetchone()
    rows = conn.execute(
        "SELECT key, COUNT(DISTINCT value), COUNT(*) FROM params "
        f"WHERE experiment_id IN ({sql.text}) GROUP BY key ORDER BY key",
        params,
    )
    return [key for key, distinct, count in rows if total == 1 or distinct > 1 or count < total]


def _named_fields(flt: ExperimentFilter, ids: Sequence[str]) -> list[tuple[Field, str]]:
    """The fields worth checking: those of a where condition that matched nothing, and the
    param or metric sorted by."""
    sorted_by_field = flt.sort is not None and flt.sort.startswith(("params.", "metrics."))
    if not sorted_by_field and (flt.where is None or ids):
        return []
    from yanex.store.where import Field, fields_of  # the grammar loads only when needed

    named: list[tuple[Field, str]] = []
    if flt.where is not None and not ids:
        named += [
            (field, "in the where condition")
            for field in dict.fromkeys(fields_of(flt.where))
            if field.kind != "git"  # a column, which every experiment has
        ]
    if flt.sort is not None and sorted_by_field:
        prefix, _, key = flt.sort.partition(".")
        if prefix == "params":
            named.append((Field("param", key), "to sort by"))
        else:
            ref = metric_ref(key)
            named.append((Field("metric", ref.key, ref.aggregate), "to sort by"))
    return named


def _selection(flt: ExperimentFilter) -> Sql:
    """The experiments the filter selects before its where condition, sort and limit."""
    return compile_filter(dataclasses.replace(flt, where=None, sort=None, desc=False, limit=None))


def _table(field: Field) -> str:
    return "params" if field.kind == "param" else "metric_summary"


def _has_field(conn: sqlite3.Connection, field: Field, among: Sequence[str] | Sql) -> bool:
    """Whether any experiment ``among`` (ids, or a selection) has the param or metric ``field``."""
    table = _table(field)
    if isinstance(among, Sql):
        query = f"SELECT 1 FROM {table} WHERE key = :field_key AND experiment_id IN ({among.text}) LIMIT 1"
        return conn.execute(query, {**among.sqlite_params(), "field_key": field.key}).fetchone() is not None
    return any(
        conn.execute(
            f"SELECT 1 FROM {table} WHERE key = ? AND experiment_id IN ({marks(len(chunk))}) LIMIT 1",
            [field.key, *chunk],
        ).fetchone()
        for chunk in chunks(conn, among, 1)
    )


def _nearest(key: str, stored: Iterable[str]) -> list[str]:
    """Stored names close to ``key``: similar spellings, or names it abbreviates (lr:
    learning_rate)."""
    import difflib

    names = sorted(set(stored))
    initials = [n for n in names if len(key) > 1 and "".join(w[:1] for w in n.split("_")) == key.lower()]
    near = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    return list(dict.fromkeys([*initials, *near]))[:3]


def _unmatched(conn: sqlite3.Connection, field: Field, use: str) -> str:
    """The note for a field no selected experiment has, with the nearest stored names."""

    def spelled(kind: str, key: str) -> str:
        if kind == "metric":
            # A stored key ending in an aggregate's name is reached as KEY.last (metric_ref).
            return f"metrics.{MetricRef(key).label}"
        return f"params.{key}" if use == "to sort by" else key

    near = [
        spelled("param", k)
        for k in _nearest(field.key, (k for (k,) in conn.execute("SELECT DISTINCT key FROM params")))
    ]
    metrics = (k for (k,) in conn.execute("SELECT DISTINCT key FROM metric_summary"))
    near += [spelled("metric", k) for k in _nearest(field.key, metrics)]
    what = "parameter" if field.kind == "param" else "metric"
    note = f"no experiment in the selection has the {what} {field.key!r} ({use})"
    return note + (f"; did you mean {' or '.join(near)}?" if near else "")


@dataclass(frozen=True)
class Page:
    """One page of a filter's experiments: their ids in its order, how many it selects in all,
    and a note for each field it names that no selected experiment has (``select_ids`` warns
    these; a page hands them to its reader instead)."""

    ids: list[str]
    total: int
    notes: list[str]


def select_page(
    conn: sqlite3.Connection,
    flt: ExperimentFilter,
    offset: int,
    size: int,
    counts: SelectionCounts | None = None,
    before: Version | None = None,
) -> Page:
    """The ``size`` experiments after the first ``offset`` in the filter's order (its own limit
    is replaced), and how many it selects in all.

    The total is one COUNT without the order, or the one ``counts`` kept for the same filter on
    the same store (``before``: its version read before ``conn``'s transaction began). A
    selection of at most ``SORT_WHOLE`` experiments is read whole in its order and sliced;
    a larger one reads its first ``offset + size`` ids by the filter's query (walking the index of
    its order, or of a metric aggregate's, as ``yanex list --limit`` does), so early pages of
    100,000 experiments cost what ``--limit 100`` costs. (Walking a metric's index for the 480
    experiments of one tag reads all 100,000 of its entries: 72 ms, where sorting the 480 takes 6.)
    """
    counted = compile_filter(dataclasses.replace(flt, sort=None, desc=False, limit=None))
    if counts is not None:
        total = counts.count(conn, counted, before)
    else:
        (total,) = conn.execute(f"SELECT COUNT(*) FROM ({counted.text})", counted.sqlite_params()).fetchone()
    whole = total <= SORT_WHOLE
    sql = compile_filter(dataclasses.replace(flt, limit=None if whole else offset + size))
    rows = conn.execute(sql.text, sql.sqlite_params())
    ids = [row[0] for row in itertools.islice(rows, offset, offset + size)]
    notes = [
        _unmatched(conn, named, use)
        for named, use in _named_fields(flt, ids)
        if not _has_field(conn, named, ids) and not _has_field(conn, named, _selection(flt))
    ]
    return Page(ids, total, notes)
