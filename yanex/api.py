"""Querying from Python (notebooks, analysis scripts) with the same filters as the CLI.

Both functions build one ``ExperimentFilter`` and run it through ``yanex.store.query``, so
``find(tags=["grid-search"], where="metrics.accuracy > 0.9")`` selects exactly what
``yanex list --tag grid-search --where "metrics.accuracy > 0.9"`` lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from typing_extensions import Unpack

if TYPE_CHECKING:
    import pandas

    from yanex.db.engine import Database
    from yanex.specs import ExperimentView
    from yanex.store.query import ExperimentFilter


class Filters(TypedDict, total=False):
    """The filters ``find`` and ``compare_frame`` take, named as on the command line."""

    status: str | Sequence[str]
    tags: str | Sequence[str]
    name: str | None
    script: str | None
    batch: str | None
    started_after: str | datetime | None
    started_before: str | datetime | None
    ended_after: str | datetime | None
    ended_before: str | datetime | None
    where: str | None
    archived: Literal["hide", "only", "include"]
    sort: str | None
    desc: bool
    limit: int | None


def _filter(
    ids: Sequence[str] | None, database_url: str | None, filters: Filters
) -> tuple[Database, ExperimentFilter]:
    from yanex.db.engine import Database
    from yanex.store.query import ExperimentFilter, resolve_references

    db = Database(database_url)
    options: dict[str, Any] = dict(filters)
    status = options.pop("status", ())
    tags = options.pop("tags", ())
    return db, ExperimentFilter(
        ids=resolve_references(db, list(ids)) if ids is not None else None,
        statuses=[status] if isinstance(status, str) else list(status),
        tags=[tags] if isinstance(tags, str) else list(tags),
        **options,
    )


def find(
    ids: Sequence[str] | None = None, *, database_url: str | None = None, **filters: Unpack[Filters]
) -> list[ExperimentView]:
    """The experiments matching every given filter, newest first unless ``sort`` says otherwise.

    ``ids`` are references as on the command line (full ids, unique prefixes or names). Filters:
    ``status``, ``tags`` (one or several), ``name`` (glob), ``script``, ``batch``,
    ``started_after``/``started_before``/``ended_after``/``ended_before`` (datetimes or the
    strings the CLI reads, "2 hours ago"; a datetime without tzinfo is local time, like a typed
    "2024-05-01T14:30"), ``where`` (the ``--where`` grammar), ``archived``
    ("hide", "only", "include"), ``sort``, ``desc``, ``limit``. Raises ``yanex.YanexError``
    subclasses for bad filters or references.
    """
    from yanex.store.query import find_experiments

    db, flt = _filter(ids, database_url, filters)
    return find_experiments(db, flt)


def compare_frame(
    ids: Sequence[str] | None = None,
    *,
    params: Sequence[str] = (),
    metrics: Sequence[str] = (),
    database_url: str | None = None,
    **filters: Unpack[Filters],
) -> pandas.DataFrame:
    """``yanex compare`` as a pandas DataFrame indexed by experiment id, with ``find``'s filters.

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

    db, flt = _filter(ids, database_url, filters)
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
