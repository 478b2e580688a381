"""Querying from Python (notebooks, analysis scripts) with the same filters as the CLI.

Each function builds one ``ExperimentFilter`` and reads through the store's one way in
(``yanex.store.reading``), so ``find(tags=["grid-search"], where="metrics.accuracy > 0.9")``
selects exactly what ``yanex list --tag grid-search --where "metrics.accuracy > 0.9"`` lists.
"""

from __future__ import annotations

import dataclasses
import inspect
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    from pathlib import Path

    import pandas

    from yanex.specs import ExperimentView
    from yanex.store.exporting import Exported
    from yanex.store.filters import ExperimentFilter
    from yanex.store.history import MetricPoint
    from yanex.store.importing import Imported


@contextmanager
def _selecting(
    ids: Sequence[str] | None, database_url: str | None, filters: dict[str, Any]
) -> Iterator[tuple[sqlite3.Connection, ExperimentFilter]]:
    """The filter the arguments give (a bad one fails before the database is opened), with the
    references in ``ids`` resolved, on a read snapshot."""
    from yanex.db.engine import Database
    from yanex.store.filters import ExperimentFilter
    from yanex.store.reading import reading
    from yanex.store.references import resolve_references

    flt = ExperimentFilter.from_keywords(filters)
    with reading(Database(database_url)) as conn:
        if ids is not None:
            flt = dataclasses.replace(flt, ids=tuple(resolve_references(conn, list(ids))))
        yield conn, flt


def find(
    ids: Sequence[str] | None = None, *, database_url: str | None = None, **filters: Any
) -> list[ExperimentView]:
    """The experiments matching every given filter, newest first unless ``sort`` says otherwise.

    ``ids`` are references as on the command line (full ids, unique prefixes or names). The filter
    keywords are the fields ``yanex.store.filters`` declares (the signature lists them): ``status``
    and ``tags`` (one or several), ``name`` (glob), ``script``, ``batch``,
    ``started_after``/``started_before``/``ended_after``/``ended_before`` (datetimes or the
    strings the CLI reads, "2 hours ago"; a datetime without tzinfo is local time, like a typed
    "2024-05-01T14:30"), ``where`` (the ``--where`` grammar), ``latest_attempts``, ``archived``
    ("hide", "only", "include"), ``sort``, ``desc``, ``limit``. Raises ``yanex.YanexError``
    subclasses for bad filters or references.
    """
    from yanex.store.records import find_records
    from yanex.store.views import view

    with _selecting(ids, database_url, filters) as (conn, flt):
        return [view(record) for record in find_records(conn, flt)]


def compare_frame(
    ids: Sequence[str] | None = None,
    *,
    params: Sequence[str] = (),
    metrics: Sequence[str] = (),
    database_url: str | None = None,
    **filters: Any,
) -> pandas.DataFrame:
    """``yanex compare`` as a pandas DataFrame indexed by experiment id, with ``find``'s filters.

    Columns: ``name``, ``status``, then ``params.NAME`` for the chosen parameters (by default those
    that differ between the rows; ``params=["lr", "git.commit"]`` adds the ``git.commit`` column, as
    ``git.dirty`` and ``git.branch`` do) and ``metrics.NAME`` for last metric values (by default all);
    ``metrics=["loss.min", "accuracy.max"]`` gives aggregates instead (``metrics.loss.min``: the
    names of ``--where``, see docs/cli.md).
    Needs pandas: the checkout's ``pandas`` extra (``pip install -e '.[pandas]'`` in its folder).
    """
    try:
        import pandas
    except ImportError:
        from yanex.errors import UsageError, install_hint

        raise UsageError(
            "compare_frame needs pandas, which is not installed", hint=install_hint("pandas")
        ) from None
    from yanex.store.compare import compare

    with _selecting(ids, database_url, filters) as (conn, flt):
        comparison = compare(conn, flt, params=params, metrics=metrics)
    columns = ["name", "status", *(f"params.{k}" for k in comparison.params), *comparison.git]
    columns += [f"metrics.{k}" for k in comparison.metrics]
    records = [
        {
            "name": row.name,
            "status": row.status.value,
            **{f"params.{k}": row.params.get(k) for k in comparison.params},
            **row.git,
            **{f"metrics.{k}": row.metrics.get(k) for k in comparison.metrics},
        }
        for row in comparison.rows
    ]
    frame = pandas.DataFrame.from_records(records, columns=columns, index=[r.id for r in comparison.rows])
    frame.index.name = "id"
    return frame


@overload
def metrics(
    ids: Sequence[str] | str | None = None,
    *,
    keys: Sequence[str] | str = (),
    as_frame: Literal[False] = False,
    database_url: str | None = None,
    **filters: Any,
) -> list[MetricPoint]: ...


@overload
def metrics(
    ids: Sequence[str] | str | None = None,
    *,
    keys: Sequence[str] | str = (),
    as_frame: Literal[True],
    database_url: str | None = None,
    **filters: Any,
) -> pandas.DataFrame: ...


def metrics(
    ids: Sequence[str] | str | None = None,
    *,
    keys: Sequence[str] | str = (),
    as_frame: bool = False,
    database_url: str | None = None,
    **filters: Any,
) -> list[MetricPoint] | pandas.DataFrame:
    """Every logged point of the matching experiments, long form: ``yanex metrics`` in Python.

    ``ids`` (references, as for ``find``) and the filter keywords select the experiments, exactly
    as ``find`` does; ``keys`` keeps only those metrics. Returns ``MetricPoint`` records
    (experiment_id, key, step, value, logged_at), by experiment in the filter's order, then key,
    then step; with ``as_frame``, a pandas DataFrame with those columns (the ``pandas``
    extra). For more points than fit in memory, stream them with
    ``yanex.store.history.select_points`` on a ``yanex.store.reading.reading`` snapshot.
    """
    from yanex.store.history import select_points

    if as_frame:
        try:
            import pandas
        except ImportError:
            from yanex.errors import UsageError, install_hint

            raise UsageError(
                "metrics(as_frame=True) needs pandas, which is not installed",
                hint=install_hint("pandas"),
            ) from None
    wanted = [keys] if isinstance(keys, str) else list(keys)
    columns: tuple[list[Any], ...] = ([], [], [], [], [])
    with _selecting([ids] if isinstance(ids, str) else ids, database_url, filters) as (conn, flt):
        if not as_frame:
            return list(select_points(conn, flt, wanted))
        for point in select_points(conn, flt, wanted):  # columns, not a million tuples, go to pandas
            for column, item in zip(columns, point, strict=True):
                column.append(item)
    names = ("experiment_id", "key", "step", "value", "logged_at")
    frame = pandas.DataFrame(dict(zip(names, columns, strict=True)))
    frame["logged_at"] = pandas.to_datetime(frame["logged_at"], utc=True)
    return frame


def export(
    path: str | Path,
    ids: Sequence[str] | None = None,
    *,
    force: bool = False,
    database_url: str | None = None,
    **filters: Any,
) -> Exported:
    """``yanex export``: the experiments ``ids`` and ``find``'s filters select (with what they
    depend on) into the file ``path``, which ``import_`` (or ``yanex import``) reads; every
    experiment not archived when nothing is given. Refuses an existing file unless ``force``."""
    from pathlib import Path

    from yanex.db.engine import Database
    from yanex.store.exporting import check_target, export_experiments
    from yanex.store.selection import select_ids

    check_target(Path(path), force=force)
    with _selecting(ids, database_url, filters) as (conn, flt):
        selected = select_ids(conn, flt)
    return export_experiments(Database(database_url).path, selected, Path(path), force=force)


def import_(path: str | Path, *, kind: str | None = None, database_url: str | None = None) -> Imported:
    """``yanex import``: add what the export file, store folder or database file ``path`` (or an
    MLflow store) has and this store lacks; ``kind`` says what it is when it cannot be told
    (``"yanex"``, ``"mlflow"``). The
    result's ``decisions`` say what became of each of its experiments (docs/moving.md)."""
    from pathlib import Path

    from yanex.db.engine import Database
    from yanex.importers import opened
    from yanex.store.importing import import_source

    with opened(Path(path), kind) as source:
        return import_source(Database(database_url), source)


def _with_declared_filters(function: Callable[..., Any]) -> None:
    """Show the declared filters as ``function``'s keyword parameters (``help(yanex.find)``, IDEs),
    in place of its ``**filters``: they are derived, never listed by hand."""
    from yanex.store.filters import declared

    signature = inspect.signature(function)
    kept = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    kept += [
        inspect.Parameter(field.keyword, inspect.Parameter.KEYWORD_ONLY, default=field.default)
        for field in declared()
    ]
    function.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]


_with_declared_filters(find)
_with_declared_filters(compare_frame)
_with_declared_filters(metrics)
_with_declared_filters(export)
