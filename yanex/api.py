"""Querying from Python (notebooks, analysis scripts) with the same filters as the CLI.

Both functions build one ``ExperimentFilter`` and run it through ``yanex.store.query``, so
``find(tags=["grid-search"], where="metrics.accuracy > 0.9")`` selects exactly what
``yanex list --tag grid-search --where "metrics.accuracy > 0.9"`` lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas

    from yanex.specs import ExperimentView
    from yanex.store.query import ExperimentFilter


def _filter(
    ids: Sequence[str] | None,
    status: str | Sequence[str],
    tags: str | Sequence[str],
    *,
    database_url: str | None,
    **options: Any,
) -> tuple[Any, ExperimentFilter]:
    from yanex.db.engine import Database
    from yanex.store.query import ExperimentFilter, resolve_references

    db = Database(database_url)
    resolved = resolve_references(db, list(ids)) if ids is not None else None
    statuses = [status] if isinstance(status, str) else list(status)
    tag_list = [tags] if isinstance(tags, str) else list(tags)
    return db, ExperimentFilter(ids=resolved, statuses=statuses, tags=tag_list, **options)


def find(
    ids: Sequence[str] | None = None,
    *,
    status: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    name: str | None = None,
    script: str | None = None,
    batch: str | None = None,
    started_after: str | datetime | None = None,
    started_before: str | datetime | None = None,
    ended_after: str | datetime | None = None,
    ended_before: str | datetime | None = None,
    where: str | None = None,
    archived: Literal["hide", "only", "include"] = "hide",
    sort: str | None = None,
    desc: bool = False,
    limit: int | None = None,
    database_url: str | None = None,
) -> list[ExperimentView]:
    """The experiments matching every given filter, newest first unless ``sort`` says otherwise.

    ``ids`` are references as on the command line (full ids, unique prefixes or names); times take
    datetimes or the phrases the CLI reads ("2 hours ago"); ``where`` is the ``--where`` grammar.
    Raises ``yanex.YanexError`` subclasses for bad filters or references.
    """
    from yanex.store.query import find_experiments

    db, flt = _filter(
        ids,
        status,
        tags,
        database_url=database_url,
        name=name,
        script=script,
        batch=batch,
        started_after=started_after,
        started_before=started_before,
        ended_after=ended_after,
        ended_before=ended_before,
        where=where,
        archived=archived,
        sort=sort,
        desc=desc,
        limit=limit,
    )
    return find_experiments(db, flt)


def compare_frame(
    ids: Sequence[str] | None = None,
    *,
    status: str | Sequence[str] = (),
    tags: str | Sequence[str] = (),
    name: str | None = None,
    script: str | None = None,
    batch: str | None = None,
    started_after: str | datetime | None = None,
    started_before: str | datetime | None = None,
    ended_after: str | datetime | None = None,
    ended_before: str | datetime | None = None,
    where: str | None = None,
    archived: Literal["hide", "only", "include"] = "hide",
    sort: str | None = None,
    desc: bool = False,
    limit: int | None = None,
    params: Sequence[str] = (),
    metrics: Sequence[str] = (),
    database_url: str | None = None,
) -> pandas.DataFrame:
    """``yanex compare`` as a pandas DataFrame indexed by experiment id.

    Columns: ``name``, ``status``, then ``params.NAME`` for the chosen parameters (by default those
    that differ between the rows) and ``metrics.NAME`` for last metric values (by default all).
    Needs pandas: ``pip install 'yanex[pandas]'``.
    """
    try:
        import pandas
    except ImportError:
        from yanex.errors import UsageError

        raise UsageError(
            "compare_frame needs pandas, which is not installed", hint="pip install 'yanex[pandas]'"
        ) from None
    from yanex.store.query import compare

    db, flt = _filter(
        ids,
        status,
        tags,
        database_url=database_url,
        name=name,
        script=script,
        batch=batch,
        started_after=started_after,
        started_before=started_before,
        ended_after=ended_after,
        ended_before=ended_before,
        where=where,
        archived=archived,
        sort=sort,
        desc=desc,
        limit=limit,
    )
    comparison = compare(db, flt, params=params, metrics=metrics)
    columns = ["name", "status", *(f"params.{k}" for k in comparison.params)]
    columns += [f"metrics.{k}" for k in comparison.metrics]
    records = [
        {
            "name": row.name,
            "status": row.status.value,
            **{f"params.{k}": row.params.get(k) for k in comparison.params},
            **{f"metrics.{k}": row.metrics.get(k) for k in comparison.metrics},
        }
        for row in comparison.rows
    ]
    frame = pandas.DataFrame.from_records(records, columns=columns, index=[r.id for r in comparison.rows])
    frame.index.name = "id"
    return frame
