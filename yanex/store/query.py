"""The one place filters become SQL: every command and the Python API go through ``ExperimentFilter``.

A filter compiles to a single parameterised ``SELECT experiments.id ...``; the readers below run it
and load only the matching rows, so no query loads every experiment into Python.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, JsonValue, field_validator
from sqlalchemy import ColumnElement, Select, and_, func, literal_column, select
from sqlalchemy.orm import Session

from yanex.db.engine import Database, missing_database
from yanex.db.models import ExperimentRow, GitPatchRow, LatestMetricRow, ParamRow, TagRow
from yanex.errors import (
    AmbiguousReferenceError,
    DatabaseBusyError,
    DatabaseError,
    NotFoundError,
    ReadOnlyDatabaseError,
    UsageError,
    YanexWarning,
)
from yanex.specs import ACTIVE_STATUSES, ExperimentView, Status, text_problem
from yanex.store.convert import experiment_view, utc
from yanex.store.reconcile import reconcile_orphans
from yanex.store.times import parse_time, to_naive_utc
from yanex.store.where import compile_where, parse_where

# Sortable columns by the names users type; ``params.X`` and ``metrics.X`` are sortable too.
SORT_COLUMNS: dict[str, Any] = {
    "id": ExperimentRow.id,
    "name": ExperimentRow.name,
    "status": ExperimentRow.status,
    "script": ExperimentRow.script_path,
    "created": ExperimentRow.created_at,
    "created_at": ExperimentRow.created_at,
    "started": ExperimentRow.started_at,
    "started_at": ExperimentRow.started_at,
    "ended": ExperimentRow.ended_at,
    "ended_at": ExperimentRow.ended_at,
    "duration": ExperimentRow.duration,
    "exit_code": ExperimentRow.exit_code,
}
CHUNK = 5_000  # ids per IN (...) list, well under SQLite's bound-parameter limit
# Seconds a reader's reconcile may wait for the write lock: a reader never waits behind a writer.
READER_PATIENCE = 0.5
_HEX = frozenset("0123456789abcdef")

Archived = Literal["hide", "only", "include"]


class ExperimentFilter(BaseModel):
    """Which experiments, in which order. Every condition given must hold (tags: all of them).

    Times accept datetimes (naive ones are local time) or the strings ``parse_time`` reads;
    statuses accept their names.
    ``ids`` are exact ids: resolve user references first with ``resolve_references``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ids: tuple[str, ...] | None = None
    statuses: tuple[Status, ...] = ()
    tags: tuple[str, ...] = ()
    name: str | None = None
    script: str | None = None
    batch: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    ended_after: datetime | None = None
    ended_before: datetime | None = None
    where: str | None = None
    archived: Archived = "hide"
    sort: str | None = None
    desc: bool = False
    limit: int | None = None

    @field_validator("statuses", mode="before")
    @classmethod
    def _known_statuses(cls, value: Any) -> Any:
        values = [value] if isinstance(value, str) else list(value or ())
        valid = [s.value for s in Status]
        for item in values:
            if str(item) not in valid:
                raise UsageError(f"unknown status {item!r}", hint=f"use one of: {', '.join(valid)}")
        return tuple(Status(str(item)) for item in values)

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_tuple(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else tuple(value or ())

    @field_validator("started_after", "started_before", "ended_after", "ended_before", mode="before")
    @classmethod
    def _read_time(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_time(value)
        if isinstance(value, datetime):
            return to_naive_utc(value)  # a naive datetime is local time, as the same time typed is
        return value

    @field_validator("where")
    @classmethod
    def _parse_where(cls, value: str | None) -> str | None:
        if value is not None:
            parse_where(value)  # fail now, with the position, rather than at query time
        return value

    @field_validator("sort")
    @classmethod
    def _known_sort(cls, value: str | None) -> str | None:
        if value is None or value in SORT_COLUMNS:
            return value
        for prefix in ("params.", "metrics."):
            if value.startswith(prefix) and len(value) > len(prefix):
                return value
        raise UsageError(
            f"cannot sort by {value!r}",
            hint=f"use one of {', '.join(SORT_COLUMNS)}, params.NAME or metrics.NAME",
        )

    @field_validator("limit")
    @classmethod
    def _positive_limit(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise UsageError(f"--limit must be at least 1, got {value}")
        # Past SQLite's largest integer no table has that many rows: no limit, not an overflow.
        return value if value is None or value < 2**63 else None


def _conditions(flt: ExperimentFilter) -> list[ColumnElement[bool]]:
    e = ExperimentRow
    conds: list[ColumnElement[bool]] = []
    if flt.ids is not None:
        conds.append(e.id.in_(flt.ids))
    if flt.statuses:
        conds.append(e.status.in_([s.value for s in flt.statuses]))
    # IN, not EXISTS: a tag names a sweep, usually a small share of all experiments, so reading its
    # members through the tag index beats walking every experiment.
    for tag in dict.fromkeys(flt.tags):
        conds.append(e.id.in_(select(TagRow.experiment_id).where(TagRow.tag == tag)))
    if flt.name is not None:
        conds.append(e.name.op("GLOB")(flt.name))
    if flt.script is not None:
        if "/" in flt.script:
            conds.append(e.script_path == flt.script)
        else:
            conds.append(e.script_path.endswith("/" + flt.script, autoescape=True))
    if flt.batch is not None:
        conds.append(e.batch_id == flt.batch)
    for column, bound, after in (
        (e.started_at, flt.started_after, True),
        (e.started_at, flt.started_before, False),
        (e.ended_at, flt.ended_after, True),
        (e.ended_at, flt.ended_before, False),
    ):
        if bound is not None:
            conds.append(column >= bound if after else column < bound)
    if flt.where is not None:
        conds.append(compile_where(parse_where(flt.where)))
    if flt.archived == "only":
        conds.append(e.archived == True)  # noqa: E712 (SQL, not Python)
    elif flt.archived == "hide":
        # Wrapped so that SQLite does not pick the archived index for the ~all rows it matches
        # over the created_at or status index that serves the ORDER BY.
        conds.append(func.coalesce(e.archived, False) == False)  # noqa: E712
    return conds


def compile_filter(flt: ExperimentFilter, dialect: str = "sqlite") -> Select[Any]:
    """One parameterised ``SELECT experiments.id`` in the filter's order, newest first by default."""
    e = ExperimentRow
    stmt = select(e.id).where(*_conditions(flt))
    order: list[Any] = []
    if flt.sort is not None:
        if flt.sort.startswith("params."):
            param = ParamRow.__table__.alias("sort_param")
            stmt = stmt.outerjoin(
                param, and_(param.c.experiment_id == e.id, param.c.key == flt.sort[len("params.") :])
            )
            columns = [param.c.value_number, param.c.value_text]
        elif flt.sort.startswith("metrics."):
            metric = LatestMetricRow.__table__.alias("sort_metric")
            stmt = stmt.outerjoin(
                metric, and_(metric.c.experiment_id == e.id, metric.c.key == flt.sort[len("metrics.") :])
            )
            columns = [metric.c.value]
        else:
            columns = [SORT_COLUMNS[flt.sort]]
        order = [(c.desc() if flt.desc else c.asc()).nulls_last() for c in columns]
    # Newest first, then insertion order: experiments of one batch share their created_at.
    tiebreak = literal_column("experiments.rowid") if dialect == "sqlite" else e.id
    order += [e.created_at.desc(), tiebreak.desc()]
    stmt = stmt.order_by(*order)
    return stmt.limit(flt.limit) if flt.limit is not None else stmt


def _ids(session: Session, flt: ExperimentFilter) -> list[str]:
    dialect = session.get_bind().dialect.name
    return list(session.scalars(compile_filter(flt, dialect)))


def chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    """``ids`` in slices of at most ``CHUNK``, one per ``IN (...)`` list."""
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _reconcile_if_writable(db: Database) -> None:
    """Before a read, mark rows of dead owners failed, if the database can be written at once.

    Reads never create a database (``NoDatabaseError``). When that write cannot be made (a
    read-only or busy database, a full disk) the rows are read as recorded, and a
    ``YanexWarning`` names the active ones, which may be stale.
    """
    if not db.exists():
        raise missing_database(db.path)
    try:
        with db.impatient(READER_PATIENCE):
            reconcile_orphans(db)
    except DatabaseError as error:
        statuses = [s.value for s in ACTIVE_STATUSES]
        with db.read() as session:  # a database that cannot even be read raises here
            active = list(session.scalars(select(ExperimentRow.id).where(ExperimentRow.status.in_(statuses))))
        if active:
            why = {
                ReadOnlyDatabaseError: "the database is read-only",
                DatabaseBusyError: "the database is locked by another writer",
            }.get(type(error), error.message)
            shown = ", ".join(active[:10]) + (", ..." if len(active) > 10 else "")
            warnings.warn(
                YanexWarning(
                    f"{why}, so rows of experiments whose process died could not be marked "
                    f"failed; these {len(active)} queued or running row(s) are shown as recorded "
                    f"and may be stale: {shown}"
                ),
                stacklevel=3,
            )


def find_ids(db: Database, flt: ExperimentFilter) -> list[str]:
    """Ids of the matching experiments, in the filter's order."""
    _reconcile_if_writable(db)
    with db.read() as session:
        return _ids(session, flt)


def _views(session: Session, ids: Sequence[str]) -> list[ExperimentView]:
    rows: dict[str, ExperimentRow] = {}
    tags: dict[str, list[str]] = {i: [] for i in ids}
    for chunk in chunks(ids):
        rows.update(
            (r.id, r) for r in session.scalars(select(ExperimentRow).where(ExperimentRow.id.in_(chunk)))
        )
        for experiment_id, tag in session.execute(
            select(TagRow.experiment_id, TagRow.tag).where(TagRow.experiment_id.in_(chunk))
        ):
            tags[experiment_id].append(tag)
    shas = {r.git_patch_sha256 for r in rows.values() if r.git_patch_sha256}
    patches = dict(
        session.execute(
            select(GitPatchRow.sha256, GitPatchRow.patch).where(GitPatchRow.sha256.in_(shas))
        ).all()
    )
    return [
        experiment_view(rows[i], tags[i], patches.get(rows[i].git_patch_sha256 or ""))
        for i in ids
        if i in rows
    ]


def find_experiments(db: Database, flt: ExperimentFilter) -> list[ExperimentView]:
    """The matching experiments as frozen views, in the filter's order."""
    _reconcile_if_writable(db)
    with db.read() as session:
        return _views(session, _ids(session, flt))


class MetricSummary(BaseModel):
    """The last logged value of one metric and how many values were logged."""

    model_config = ConfigDict(frozen=True)

    key: str
    value: JsonValue
    step: int
    count: int
    logged_at: datetime


def _metric_value(value: float | None, value_json: str | None) -> JsonValue:
    return json.loads(value_json) if value_json is not None else value


def latest_metrics(db: Database, ids: Sequence[str]) -> dict[str, dict[str, MetricSummary]]:
    """The last value of every metric of each experiment, by id then metric name."""
    with db.read() as session:
        return _latest(session, ids)


def _latest(session: Session, ids: Sequence[str]) -> dict[str, dict[str, MetricSummary]]:
    found: dict[str, dict[str, MetricSummary]] = {i: {} for i in ids}
    m = LatestMetricRow
    for chunk in chunks(ids):
        query = select(m.experiment_id, m.key, m.value, m.value_json, m.step, m.count, m.logged_at)
        for experiment_id, key, value, value_json, step, count, logged_at in session.execute(
            query.where(m.experiment_id.in_(chunk))
        ):
            found[experiment_id][key] = MetricSummary(
                key=key,
                value=_metric_value(value, value_json),
                step=step,
                count=count,
                logged_at=utc(logged_at),
            )
    return {i: dict(sorted(found[i].items())) for i in ids}


class ExperimentDetail(BaseModel):
    """What ``show`` prints: the experiment, its metric summaries and its patch size."""

    model_config = ConfigDict(frozen=True)

    experiment: ExperimentView
    metrics: dict[str, MetricSummary]
    patch_size: int | None


def experiment_detail(db: Database, reference: str) -> ExperimentDetail:
    """Everything known about the experiment ``reference`` names (see ``resolve_reference``)."""
    experiment_id = resolve_reference(db, reference)
    with db.read() as session:
        (view,) = _views(session, [experiment_id])
        size = None
        row = session.get(ExperimentRow, experiment_id)
        if row is not None and row.git_patch_sha256:
            size = session.scalar(select(GitPatchRow.size).where(GitPatchRow.sha256 == row.git_patch_sha256))
        return ExperimentDetail(
            experiment=view, metrics=_latest(session, [experiment_id])[experiment_id], patch_size=size
        )


class CompareRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str | None
    status: Status
    params: dict[str, JsonValue]  # flat, dotted keys
    metrics: dict[str, JsonValue]  # last values


class Comparison(BaseModel):
    """Rows side by side; ``params`` and ``metrics`` name the columns chosen, in order."""

    model_config = ConfigDict(frozen=True)

    params: list[str]
    metrics: list[str]
    rows: list[CompareRow]


def compare(
    db: Database,
    flt: ExperimentFilter,
    params: Sequence[str] = (),
    metrics: Sequence[str] = (),
) -> Comparison:
    """The matching experiments side by side.

    Without ``params``, the columns are the parameters whose values differ between the rows (all of
    them for a single row); without ``metrics``, every metric any row logged.
    """
    _reconcile_if_writable(db)
    with db.read() as session:
        ids = _ids(session, flt)
        heads: dict[str, tuple[str | None, str]] = {}
        raw: dict[str, dict[str, str]] = {i: {} for i in ids}  # JSON text: compared, then decoded
        latest: dict[str, dict[str, JsonValue]] = {i: {} for i in ids}
        for chunk in chunks(ids):
            heads_query = select(ExperimentRow.id, ExperimentRow.name, ExperimentRow.status)
            heads.update(
                (i, (n, s)) for i, n, s in session.execute(heads_query.where(ExperimentRow.id.in_(chunk)))
            )
            query = select(ParamRow.experiment_id, ParamRow.key, ParamRow.value).where(
                ParamRow.experiment_id.in_(chunk)
            )
            if params:
                query = query.where(ParamRow.key.in_(params))
            for experiment_id, key, value in session.execute(query):
                raw[experiment_id][key] = value
            metric_query = select(
                LatestMetricRow.experiment_id,
                LatestMetricRow.key,
                LatestMetricRow.value,
                LatestMetricRow.value_json,
            ).where(LatestMetricRow.experiment_id.in_(chunk))
            if metrics:
                metric_query = metric_query.where(LatestMetricRow.key.in_(metrics))
            for experiment_id, key, number, text in session.execute(metric_query):
                latest[experiment_id][key] = _metric_value(number, text)
    if params:
        param_keys = list(params)
    else:
        every = sorted({k for v in raw.values() for k in v})
        param_keys = [k for k in every if len(ids) == 1 or len({raw[i].get(k) for i in ids}) > 1]
    metric_keys = list(metrics) if metrics else sorted({k for m in latest.values() for k in m})
    rows = [
        CompareRow(
            id=i,
            name=heads[i][0],
            status=Status(heads[i][1]),
            params={k: json.loads(raw[i][k]) for k in param_keys if k in raw[i]},
            metrics={k: latest[i][k] for k in metric_keys if k in latest[i]},
        )
        for i in ids
    ]
    return Comparison(params=param_keys, metrics=metric_keys, rows=rows)


def _local(stored: datetime) -> datetime:
    """A stored (naive UTC) time on the local clock, as list and show print times."""
    return stored.replace(tzinfo=UTC).astimezone()


def resolve_reference(db: Database, reference: str) -> str:
    """The id of the one experiment ``reference`` names: a full id, a unique id prefix or a name.

    An exact id wins; otherwise every experiment whose id starts with it or whose name equals it is
    a candidate, and more than one is an ``AmbiguousReferenceError`` listing them.
    """
    return resolve_references(db, [reference])[0]


def resolve_references(db: Database, references: Sequence[str]) -> list[str]:
    """``resolve_reference`` for each, in order, in one read transaction."""
    _reconcile_if_writable(db)
    e = ExperimentRow
    resolved: list[str] = []
    with db.read() as session:
        for reference in references:
            ref = reference.strip()
            if text_problem(ref) is not None:  # bytes that were not UTF-8: no id or name equals it
                raise NotFoundError(
                    f"no experiment matches {reference!r} (by id, id prefix or name)",
                    hint="see `yanex list --all` for ids and names",
                )
            if session.get(ExperimentRow, ref) is not None:
                resolved.append(ref)
                continue
            matches = e.name == ref
            prefix = ref.lower()
            if prefix and set(prefix) <= _HEX:
                # A range, not LIKE: it walks the primary key index.
                matches = matches | and_(e.id >= prefix, e.id < prefix + "g")
            found = session.execute(
                select(e.id, e.name, e.status, e.created_at)
                .where(matches)
                .order_by(e.created_at.desc())
                .limit(11)
            ).all()
            if not found:
                raise NotFoundError(
                    f"no experiment matches {reference!r} (by id, id prefix or name)",
                    hint="see `yanex list --all` for ids and names",
                )
            if len(found) > 1:
                shown = "\n".join(
                    f"  {r.id}  {r.name or '-'}  {r.status}  {_local(r.created_at):%Y-%m-%d %H:%M:%S}"
                    for r in found[:10]
                )
                more = "\n  ..." if len(found) > 10 else ""
                raise AmbiguousReferenceError(
                    f"{reference!r} matches more than one experiment:\n{shown}{more}",
                    hint="use a longer id prefix or the full id",
                )
            resolved.append(found[0].id)
    return resolved
