"""The one declaration of the filters, and the one place they become SQL.

Every filter is one field of ``ExperimentFilter``, declared with ``option(...)``: its command-line
flags, help, Python keyword and value kind. The CLI options of every selecting command
(``yanex.cli.spec``) and the keywords of ``yanex.find``/``compare_frame`` are derived from
these fields, and ``compile_filter`` turns a filter into one parameterised ``SELECT
experiments.id ...``. Adding a filter is one field here plus its condition in ``_conditions``.
Standard library only: the read path runs on sqlite3 (see ``yanex.store.reading``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from yanex.errors import UsageError
from yanex.status import Status
from yanex.store.dialect import INSERTION_ORDER, Binder, Sql
from yanex.store.metric_names import metric_ref
from yanex.store.times import parse_time, to_naive_utc

if TYPE_CHECKING:
    from yanex.store.where import Node

Archived = Literal["hide", "only", "include"]
# texts: repeatable text option; text: one value; flag: on/off; count: a number; archive: the
# --archived/--all pair, which sets ``archived``.
Kind = Literal["texts", "text", "flag", "count", "archive"]
# select: every selecting command; archive: commands that can show archived experiments;
# order: commands that sort and cut (list, get).
Group = Literal["select", "archive", "order"]

TIME_HELP = "ISO date/datetime or a phrase: 'today', 'yesterday', '2 hours ago', '1 week ago'."

# Sortable columns by the names users type; ``params.X`` and ``metrics.X`` are sortable too.
SORT_COLUMNS: dict[str, str] = {
    "id": "experiments.id",
    "name": "experiments.name",
    "status": "experiments.status",
    "script": "experiments.script_path",
    "created": "experiments.created_at",
    "created_at": "experiments.created_at",
    "started": "experiments.started_at",
    "started_at": "experiments.started_at",
    "ended": "experiments.ended_at",
    "ended_at": "experiments.ended_at",
    "duration": "experiments.duration",
    "exit_code": "experiments.exit_code",
}


@dataclass(frozen=True)
class Option:
    """How a filter field is given: on the command line (``flags``) and to ``find`` (``keyword``)."""

    flags: tuple[str, ...]
    help: str
    kind: Kind
    group: Group = "select"
    keyword: str = ""  # the find() keyword when it differs from the field name


def option(
    default: Any, *flags: str, help: str, kind: Kind, group: Group = "select", keyword: str = ""
) -> Any:
    """A declared filter field (see the module docstring)."""
    return dataclasses.field(default=default, metadata={"option": Option(flags, help, kind, group, keyword)})


@dataclass(frozen=True)
class Declared:
    """One declared filter field: its name in ``ExperimentFilter``, its default and its option."""

    name: str
    default: Any
    option: Option

    @property
    def keyword(self) -> str:
        return self.option.keyword or self.name


def declared() -> Iterator[Declared]:
    """The declared filter fields, in declaration order."""
    for item in dataclasses.fields(ExperimentFilter):
        if "option" in item.metadata:
            yield Declared(item.name, item.default, item.metadata["option"])


def _texts(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value or ())


def _statuses(value: Any) -> tuple[Status, ...]:
    valid = [s.value for s in Status]
    for item in _texts(value):
        if str(item) not in valid:
            raise UsageError(f"unknown status {item!r}", hint=f"use one of: {', '.join(valid)}")
    return tuple(Status(str(item)) for item in _texts(value))


def _time(value: Any) -> datetime | None:
    """An aware UTC datetime (so that a filter copied with ``dataclasses.replace`` keeps it)."""
    if isinstance(value, str):
        return parse_time(value).replace(tzinfo=UTC)
    if isinstance(value, datetime):
        # A naive datetime is local time, as the same time typed is.
        return to_naive_utc(value).replace(tzinfo=UTC)
    return None if value is None else value


def _where(value: Any) -> Node | None:
    """The condition parsed once, when the filter is made: a bad one fails here, with the
    position, and a copy of the filter (``dataclasses.replace``) keeps the parsed tree."""
    if not isinstance(value, str):
        return value  # type: ignore[no-any-return]  # None, or a condition parsed already
    from yanex.store.where import parse_where  # the grammar loads only for a where condition

    return parse_where(value)


def _sort(value: str | None) -> str | None:
    if value is None or value in SORT_COLUMNS:
        return value
    for prefix in ("params.", "metrics."):
        if value.startswith(prefix) and len(value) > len(prefix):
            return value
    raise UsageError(
        f"cannot sort by {value!r}",
        hint=f"use one of {', '.join(SORT_COLUMNS)}, params.NAME or metrics.NAME",
    )


def _limit(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise UsageError(f"--limit must be at least 1, got {value}")
    # Past SQLite's largest integer no table has that many rows: no limit, not an overflow.
    return value if value is None or value < 2**63 else None


_NORMALISE: dict[str, Callable[[Any], Any]] = {
    "ids": lambda v: None if v is None else _texts(v),
    "statuses": _statuses,
    "tags": _texts,
    "started_after": _time,
    "started_before": _time,
    "ended_after": _time,
    "ended_before": _time,
    "where": _where,
    "sort": _sort,
    "limit": _limit,
}


@dataclass(frozen=True, init=False)
class ExperimentFilter:
    """Which experiments, in which order. Every condition given must hold (tags: all of them).

    Times accept datetimes (naive ones are local time) or the strings ``parse_time`` reads;
    statuses accept their names. ``ids`` are exact ids: resolve user references first with
    ``resolve_references``. Bad values raise ``UsageError`` when the filter is made: the fields
    are typed as stored, and the keywords take what users pass (lists, strings), hence ``Any``.
    """

    ids: tuple[str, ...] | None = None
    statuses: tuple[Status, ...] = option(
        (),
        "--status",
        "-s",
        help="Only this status (repeatable): created, queued, running, completed, failed, cancelled, pruned.",
        kind="texts",
        keyword="status",
    )
    tags: tuple[str, ...] = option(
        (), "--tag", "-t", help="Only experiments with this tag (repeatable: all must match).", kind="texts"
    )
    name: str | None = option(
        None, "--name", "-n", help="Name glob, e.g. 'grid-*' (case-sensitive).", kind="text"
    )
    script: str | None = option(
        None, "--script", help="Script file name (train.py) or absolute path.", kind="text"
    )
    batch: str | None = option(None, "--batch", help="Batch id, or its first digits.", kind="text")
    started_after: datetime | None = option(  # noqa: RUF009 (a field specifier)
        None, "--started-after", help=f"Started at or after: {TIME_HELP}", kind="text"
    )
    started_before: datetime | None = option(  # noqa: RUF009 (a field specifier)
        None, "--started-before", help=f"Started before: {TIME_HELP}", kind="text"
    )
    ended_after: datetime | None = option(  # noqa: RUF009 (a field specifier)
        None, "--ended-after", help=f"Ended at or after: {TIME_HELP}", kind="text"
    )
    ended_before: datetime | None = option(  # noqa: RUF009 (a field specifier)
        None, "--ended-before", help=f"Ended before: {TIME_HELP}", kind="text"
    )
    where: Node | None = option(  # noqa: RUF009 (a field specifier)
        None,
        "--where",
        "-w",
        help="Condition on params and metrics (last values, or .min .max .mean .first .best "
        ".step_of_best .count) and git.commit (a prefix), git.dirty, git.branch, e.g. "
        '"lr > 0.01 and metrics.accuracy >= 0.9", "metrics.loss.min < 0.1", '
        '"batch_size in (16, 32)", "optimizer = \'adam\'", "git.commit = \'8dda34f\'".',
        kind="text",
    )
    latest_attempts: bool = option(
        False,
        "--latest-attempts",
        help="Only the latest attempt of each experiment: not one that was re-run (retry_of) later.",
        kind="flag",
    )
    archived: Archived = option(  # noqa: RUF009 (a field specifier)
        "hide",
        "--archived",
        "--all",
        help="hide, only or include archived experiments",
        kind="archive",
        group="archive",
    )
    sort: str | None = option(
        None,
        "--sort",
        help="Order by a column (name, status, created, started, ended, duration, script), "
        "params.NAME, metrics.NAME (last value) or metrics.NAME.AGG (min, max, mean, first, best, "
        "step_of_best, count). Default: newest first.",
        kind="text",
        group="order",
    )
    desc: bool = option(False, "--desc", help="Sort descending (largest first).", kind="flag", group="order")
    limit: int | None = option(
        None, "--limit", "-l", help="At most this many experiments.", kind="count", group="order"
    )

    def __init__(self, **values: Any) -> None:
        for item in dataclasses.fields(self):
            value = values.pop(item.name, item.default)
            normalise = _NORMALISE.get(item.name)
            object.__setattr__(self, item.name, normalise(value) if normalise else value)
        if values:
            names = ", ".join(item.name for item in dataclasses.fields(self))
            raise UsageError(f"unknown filter {next(iter(values))!r}", hint=f"filters are: {names}")
        if self.archived not in ("hide", "only", "include"):
            raise UsageError(f"archived must be 'hide', 'only' or 'include', got {self.archived!r}")

    @classmethod
    def from_keywords(cls, keywords: dict[str, Any]) -> ExperimentFilter:
        """A filter from ``find``'s keywords (``status``, ``tags``, ...: see ``declared``)."""
        names = {d.keyword: d.name for d in declared()}
        unknown = sorted(set(keywords) - set(names))
        if unknown:
            raise UsageError(f"unknown filter {unknown[0]!r}", hint=f"filters are: {', '.join(names)}")
        return cls(**{names[k]: v for k, v in keywords.items()})

    def naming(self, ids: Sequence[str]) -> ExperimentFilter:
        """The filter restricted to the exact ``ids`` a user named, which are found even when
        archived (unless the filter asks for archived experiments only)."""
        return dataclasses.replace(
            self, ids=tuple(ids), archived="only" if self.archived == "only" else "include"
        )

    def narrows(self) -> bool:
        """Whether the filter selects anything less than everything (destructive commands refuse
        a bare filter). Ordering does not narrow, nor does showing archived experiments too."""
        if self.ids is not None or self.archived == "only":
            return True
        return any(getattr(self, d.name) != d.default for d in declared() if d.option.group == "select")


def from_options(values: dict[str, Any]) -> ExperimentFilter:
    """A filter from option values by field name, as the command line and the web view receive
    them (``archived`` and ``all_`` for the --archived/--all pair; None for an option not given).
    Raises ``UsageError`` naming the flag of a bad value."""
    from yanex.terminal import text_problem

    given = {name: value for name, value in values.items() if value is not None}
    archived, all_ = given.pop("archived", False), given.pop("all_", False)
    if archived and all_:
        raise UsageError("--archived and --all contradict each other", hint="pass one of them")
    for field in declared():
        value = given.get(field.name)
        for text in [value] if isinstance(value, str) else value if isinstance(value, list) else ():
            problem = text_problem(text)
            if problem:
                raise UsageError(f"{field.option.flags[0]} {problem}", hint="pass text that is valid UTF-8")
    return ExperimentFilter(archived="only" if archived else "include" if all_ else "hide", **given)


def _conditions(flt: ExperimentFilter, binder: Binder) -> list[str]:
    bind = binder.bind
    conds: list[str] = []
    if flt.ids is not None:
        conds.append(f"experiments.id IN ({binder.bind_all(flt.ids)})" if flt.ids else "1 = 0")
    if flt.statuses:
        # A status holds for a large share of all experiments; SQLite, which has no statistics
        # here, would still walk its index in place of a tag's, ids' or batch's few rows (50 ms
        # over 80,000 of 100,000 completed rows for a 1,000-row tag). A unary + keeps it off the
        # status index when one of those is given.
        narrower = flt.ids is not None or bool(flt.tags) or flt.batch is not None
        column = "+experiments.status" if narrower else "experiments.status"
        conds.append(f"{column} IN ({binder.bind_all(s.value for s in flt.statuses)})")
    # IN, not EXISTS: a tag names a sweep, usually a small share of all experiments, so reading its
    # members through the tag index beats walking every experiment.
    for tag in dict.fromkeys(flt.tags):
        conds.append(f"experiments.id IN (SELECT experiment_id FROM tags WHERE tag = {bind(tag)})")
    if flt.name is not None:
        conds.append(f"experiments.name GLOB {bind(flt.name)}")  # case-sensitive: *, ?, [...]
    if flt.script is not None:
        if "/" in flt.script:
            conds.append(f"experiments.script_path = {bind(flt.script)}")
        else:
            escaped = ("/" + flt.script).replace("/", "//").replace("%", "/%").replace("_", "/_")
            conds.append(f"experiments.script_path LIKE {bind('%' + escaped)} ESCAPE '/'")
    if flt.batch is not None:
        # Any prefix, as batch ids are shown; a range walks the batch_id index.
        prefix = flt.batch.lower()
        conds.append(
            f"experiments.batch_id >= {bind(prefix)} AND experiments.batch_id < {bind(prefix + 'g')}"
        )
    for column, bound, op in (
        ("started_at", flt.started_after, ">="),
        ("started_at", flt.started_before, "<"),
        ("ended_at", flt.ended_after, ">="),
        ("ended_at", flt.ended_before, "<"),
    ):
        if bound is not None:
            conds.append(f"experiments.{column} {op} {bind(bound)}")
    if flt.where is not None:
        from yanex.store.where import compile_where

        conds.append(compile_where(flt.where, binder).text)
    if flt.latest_attempts:
        conds.append("NOT EXISTS (SELECT 1 FROM experiments AS later WHERE later.retry_of = experiments.id)")
    if flt.archived == "only":
        conds.append("experiments.archived IS TRUE")
    elif flt.archived == "hide":
        # IS NOT TRUE (false or null) is no index range, so SQLite does not pick the archived
        # index for the ~all rows it matches over the created_at or status index that serves
        # the ORDER BY.
        conds.append("experiments.archived IS NOT TRUE")
    return conds


def compile_filter(flt: ExperimentFilter) -> Sql:
    """One parameterised ``SELECT experiments.id`` in the filter's order, newest first by default."""
    binder = Binder()
    joins = ""
    columns: list[str] = []
    metric: tuple[str, str] | None = None  # (key placeholder, summary column) of a metric sort
    if flt.sort is not None:
        prefix, _, key = flt.sort.partition(".")
        if prefix == "params" and key:
            joins = (
                " LEFT JOIN params AS sort_param ON sort_param.experiment_id = experiments.id"
                f" AND sort_param.key = {binder.bind(key)}"
            )
            columns = ["sort_param.value_number", "sort_param.value_text"]
        elif prefix == "metrics" and key:
            ref = metric_ref(key)
            metric = (binder.bind(ref.key), ref.aggregate.number)
            joins = (
                " LEFT JOIN metric_summary AS sort_metric ON sort_metric.experiment_id = experiments.id"
                f" AND sort_metric.key = {metric[0]}"
            )
            columns = [f"sort_metric.{metric[1]}"]
        else:
            columns = [SORT_COLUMNS[flt.sort]]
    conds = _conditions(flt, binder)
    direction = "DESC" if flt.desc else "ASC"
    # Newest first, then insertion order: experiments of one batch share their created_at.
    tiebreak = INSERTION_ORDER
    if metric is not None and flt.limit is not None:
        return _top_by_metric(conds, metric, direction, tiebreak, binder.bind(flt.limit), binder)
    order = [f"{c} {direction} NULLS LAST" for c in columns]
    order += ["experiments.created_at DESC", f"{tiebreak} DESC"]
    text = f"SELECT experiments.id FROM experiments{joins}"
    if conds:
        text += " WHERE " + " AND ".join(conds)
    text += " ORDER BY " + ", ".join(order)
    if flt.limit is not None:
        text += f" LIMIT {binder.bind(flt.limit)}"
    return Sql(text, binder.params)


def _top_by_metric(
    conds: list[str], metric: tuple[str, str], direction: str, tiebreak: str, limit: str, binder: Binder
) -> Sql:
    """The first ``limit`` experiments by a metric aggregate, read from its ``(key, column)``
    index: those with a value walk the index in order and stop at the limit; only if fewer than
    ``limit`` have one are those without read, newest first (a condition on no row, which SQLite
    checks once before the scan). One outer join sorted whole would read every experiment:
    100,000 rows for the top 10."""
    key, column = metric
    where = " AND ".join(conds) or "1 = 1"
    newest = f"experiments.created_at DESC, {tiebreak} DESC"
    having = (
        f"SELECT experiments.id AS id, 0 AS part, sort_metric.{column} AS sort_value, "
        f"experiments.created_at AS created, {tiebreak} AS seq "
        "FROM metric_summary AS sort_metric JOIN experiments ON experiments.id = sort_metric.experiment_id "
        f"WHERE sort_metric.key = {key} AND sort_metric.{column} IS NOT NULL AND {where} "
        f"ORDER BY sort_metric.{column} {direction}, {newest} LIMIT {limit}"
    )
    lacking = (
        f"SELECT experiments.id AS id, 1 AS part, NULL AS sort_value, experiments.created_at AS created, "
        f"{tiebreak} AS seq FROM experiments WHERE (SELECT COUNT(*) FROM having_value) < {limit} "
        f"AND {where} AND NOT EXISTS (SELECT 1 FROM metric_summary AS m WHERE m.experiment_id = "
        f"experiments.id AND m.key = {key} AND m.{column} IS NOT NULL) ORDER BY {newest} LIMIT {limit}"
    )
    text = (
        f"WITH having_value AS ({having}) SELECT id FROM (SELECT * FROM having_value UNION ALL "
        f"SELECT * FROM ({lacking}) AS lacking_value) AS top "
        f"ORDER BY part, sort_value {direction}, created DESC, seq DESC LIMIT {limit}"
    )
    return Sql(text, binder.params)
