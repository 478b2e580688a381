"""Reading experiments: the filter's ids, then only the matching rows, on a plain sqlite3 snapshot.

The read path imports neither SQLAlchemy nor pydantic (``yanex list`` answers in tens of
milliseconds): ``Database.connect`` opens the file read-only, and the results are frozen
dataclasses. ``yanex.store.query`` turns them into the pydantic views the Python API returns.
Before reading, rows of dead owners are marked failed (``reconcile_before_read``).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from yanex.errors import DatabaseBusyError, DatabaseError, ReadOnlyDatabaseError, YanexWarning
from yanex.status import OPEN_STATUSES, Status
from yanex.store.dialect import Sql, marks, stored_time
from yanex.store.filters import SORT_COLUMNS, ExperimentFilter, compile_filter
from yanex.store.references import AGGREGATES, MetricRef, metric_ref

if TYPE_CHECKING:
    from yanex.db.engine import Database
    from yanex.store.where import Field

JsonValue = Any  # JSON data as json.loads returns it
CHUNK = 5_000  # ids per IN (...) list, well under SQLite's bound-parameter limit
# Seconds a reader's reconcile may wait for the write lock: a reader never waits behind a writer.
READER_PATIENCE = 0.5


def chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    """``ids`` in slices of at most ``CHUNK``, one per ``IN (...)`` list."""
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def utc(moment: datetime | None) -> datetime | None:
    """Columns hold naive UTC; records carry aware datetimes."""
    return None if moment is None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Omitted:
    """A change the git capture left out of the patch (see ``yanex.specs.OmittedChange``)."""

    path: str
    reason: str
    hunk: int | None = None

    def __str__(self) -> str:
        where = self.path if self.hunk is None else f"{self.path} hunk {self.hunk}"
        return f"{where} ({self.reason})"


@dataclass(frozen=True)
class GitRecord:
    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    patch: str | None = None
    commit_message: str | None = None
    author_name: str | None = None
    author_email: str | None = None
    remotes: dict[str, str] = field(default_factory=dict)
    commit_on_remote: bool | None = None
    omitted: list[Omitted] = field(default_factory=list)


@dataclass(frozen=True)
class EnvironmentRecord:
    python_version: str | None = None
    platform: str | None = None
    hostname: str | None = None
    yanex_version: str | None = None


@dataclass(frozen=True)
class ExperimentRecord:
    """One experiment as read; the same fields as ``yanex.specs.ExperimentView``."""

    id: str
    name: str | None
    description: str | None
    status: Status
    script_path: str
    working_dir: str | None
    script_args: list[str]
    config: dict[str, JsonValue]
    tags: list[str]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    duration: float | None
    exit_code: int | None
    error_message: str | None
    batch_id: str | None
    retry_of: str | None
    archived: bool
    pid: int | None
    git: GitRecord
    environment: EnvironmentRecord


_COLUMNS = (
    "id, name, description, status, script_path, working_dir, script_args, config, created_at, "
    "started_at, ended_at, duration, exit_code, error_message, batch_id, retry_of, archived, pid, "
    "git_commit, git_branch, git_dirty, git_patch_sha256, git_commit_message, git_author_name, "
    "git_author_email, git_remotes, git_commit_on_remote, git_patch_omitted, python_version, "
    "platform, hostname, yanex_version"
)


def _flag(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _record(row: sqlite3.Row, tags: list[str], patch: str | None) -> ExperimentRecord:
    created = utc(stored_time(row["created_at"]))
    assert created is not None
    omitted = json.loads(row["git_patch_omitted"]) if row["git_patch_omitted"] else []
    return ExperimentRecord(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        status=Status(row["status"]),
        script_path=row["script_path"],
        working_dir=row["working_dir"],
        script_args=list(json.loads(row["script_args"] or "[]")),
        config=dict(json.loads(row["config"] or "{}")),
        tags=sorted(tags),
        created_at=created,
        started_at=utc(stored_time(row["started_at"])),
        ended_at=utc(stored_time(row["ended_at"])),
        duration=row["duration"],
        exit_code=row["exit_code"],
        error_message=row["error_message"],
        batch_id=row["batch_id"],
        retry_of=row["retry_of"],
        archived=bool(row["archived"]),
        pid=row["pid"],
        git=GitRecord(
            commit=row["git_commit"],
            branch=row["git_branch"],
            dirty=_flag(row["git_dirty"]),
            patch=patch,
            commit_message=row["git_commit_message"],
            author_name=row["git_author_name"],
            author_email=row["git_author_email"],
            remotes=json.loads(row["git_remotes"]) if row["git_remotes"] else {},
            commit_on_remote=_flag(row["git_commit_on_remote"]),
            omitted=[Omitted(o["path"], o["reason"], o.get("hunk")) for o in omitted],
        ),
        environment=EnvironmentRecord(
            python_version=row["python_version"],
            platform=row["platform"],
            hostname=row["hostname"],
            yanex_version=row["yanex_version"],
        ),
    )


def _dead_owner(conn: sqlite3.Connection) -> bool:
    """Whether an open row or an unended batch has an owner that looks dead (``yanex.owners``)."""
    from datetime import timedelta

    from yanex import config
    from yanex.owners import owner_may_be_alive

    def moment(text: str | None) -> datetime | None:
        return datetime.fromisoformat(text) if text else None

    now = datetime.now(UTC).replace(tzinfo=None)
    fresh = timedelta(seconds=config.stale_after())
    owners = conn.execute(
        "SELECT owner_host, owner_pid, heartbeat_at, COALESCE(started_at, created_at) "
        f"FROM experiments WHERE status IN ({marks(len(OPEN_STATUSES))}) UNION ALL "
        "SELECT owner_host, owner_pid, heartbeat_at, created_at FROM batches WHERE ended_at IS NULL",
        OPEN_STATUSES,
    ).fetchall()
    return any(
        not owner_may_be_alive(host, pid, moment(beat), moment(since), now, fresh)
        for host, pid, beat, since in owners
    )


def reconcile_before_read(db: Database) -> None:
    """Before a read, settle rows of dead owners, if the database can be written at once.

    One sqlite3 query finds the (few) open rows and their owners; only when an owner looks dead
    does the write path load (``reconcile_orphans``). When that write cannot be made (a read-only
    or busy database, a full disk) the rows are read as recorded, and a ``YanexWarning`` names the
    open ones, which may be stale. Reads never create a database (``NoDatabaseError``).
    """
    statuses = list(OPEN_STATUSES)  # a `created` row whose owner died is settled too
    query = f"SELECT id FROM experiments WHERE status IN ({marks(len(statuses))}) ORDER BY id"
    with db.connect() as conn:
        if not _dead_owner(conn):
            return
    from yanex.store.reconcile import reconcile_orphans

    try:
        with db.impatient(READER_PATIENCE):
            reconcile_orphans(db)
    except DatabaseError as error:
        with db.connect() as conn:
            active = [row[0] for row in conn.execute(query, statuses)]
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


def select_ids(conn: sqlite3.Connection, flt: ExperimentFilter) -> list[str]:
    """The filter's ids, in its order, on an open snapshot.

    A field the where condition or the sort names that no experiment of the selection has is
    said in a ``YanexWarning`` (``yanex list --where "lr > 0.1"`` printing nothing is otherwise
    silent), with the nearest names stored.
    """
    sql = compile_filter(flt)
    ids = [row[0] for row in conn.execute(sql.text, sql.sqlite_params())]
    for named, use in _named_fields(flt, ids):
        if not _has_field(conn, named, ids) and not _has_field(conn, named, _selection(flt)):
            warnings.warn(YanexWarning(_unmatched(conn, named, use)), stacklevel=3)
    return ids


def _named_fields(flt: ExperimentFilter, ids: Sequence[str]) -> list[tuple[Field, str]]:
    """The fields worth checking: those of a where condition that matched nothing, and the
    param or metric sorted by."""
    sorted_by_field = flt.sort is not None and flt.sort.startswith(("params.", "metrics."))
    if not sorted_by_field and (flt.where is None or ids):
        return []
    from yanex.store.where import Field, fields_of, parse_where

    named: list[tuple[Field, str]] = []
    if flt.where is not None and not ids:
        named += [
            (field, "in the where condition") for field in dict.fromkeys(fields_of(parse_where(flt.where)))
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
    query = f"SELECT 1 FROM {_table(field)} WHERE key = :field_key AND experiment_id IN "
    if isinstance(among, Sql):
        found = conn.execute(
            f"{query}({among.text}) LIMIT 1", {**among.sqlite_params(), "field_key": field.key}
        )
        return found.fetchone() is not None
    for chunk in chunks(among):
        names = {f"i{n}": i for n, i in enumerate(chunk)}
        marks = ", ".join(f":{name}" for name in names)
        if conn.execute(f"{query}({marks}) LIMIT 1", {**names, "field_key": field.key}).fetchone():
            return True
    return False


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


def find_ids(db: Database, flt: ExperimentFilter) -> list[str]:
    """Ids of the matching experiments, in the filter's order."""
    reconcile_before_read(db)
    with db.connect() as conn:
        return select_ids(conn, flt)


def load_records(conn: sqlite3.Connection, ids: Sequence[str]) -> list[ExperimentRecord]:
    """The experiments ``ids`` names, in that order (ids not found are left out)."""
    conn.row_factory = sqlite3.Row
    rows: dict[str, sqlite3.Row] = {}
    tags: dict[str, list[str]] = {i: [] for i in ids}
    for chunk in chunks(ids):
        in_chunk = marks(len(chunk))
        rows.update(
            (r["id"], r)
            for r in conn.execute(f"SELECT {_COLUMNS} FROM experiments WHERE id IN ({in_chunk})", chunk)
        )
        for experiment_id, tag in conn.execute(
            f"SELECT experiment_id, tag FROM tags WHERE experiment_id IN ({in_chunk})", chunk
        ):
            tags[experiment_id].append(tag)
    shas = sorted({r["git_patch_sha256"] for r in rows.values() if r["git_patch_sha256"]})
    patches: dict[str, str] = {}
    for chunk in chunks(shas):
        query = f"SELECT sha256, patch FROM git_patches WHERE sha256 IN ({marks(len(chunk))})"
        patches.update((sha, patch) for sha, patch in conn.execute(query, chunk))
    return [
        _record(rows[i], tags[i], patches.get(rows[i]["git_patch_sha256"] or "")) for i in ids if i in rows
    ]


def find_records(db: Database, flt: ExperimentFilter) -> list[ExperimentRecord]:
    """The matching experiments, in the filter's order."""
    reconcile_before_read(db)
    with db.connect() as conn:
        return load_records(conn, select_ids(conn, flt))


def metric_value(value: float | None, value_json: str | None) -> JsonValue:
    """A stored metric as logged: JSON text when there is one (an int, text, a structure), else
    the number."""
    return json.loads(value_json) if value_json is not None else value


@dataclass(frozen=True)
class MetricSummary:
    """One metric of one experiment as ``metric_summary`` holds it: the last value (``value``, as
    logged), how many values were logged, and the aggregates over its finite numbers (None when it
    has none; see ``yanex.store.summary``)."""

    key: str
    value: JsonValue
    step: int
    count: int
    logged_at: datetime
    first: JsonValue = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    best: float | None = None
    step_of_best: int | None = None
    goal: str = "max"

    def aggregate(self, name: str) -> JsonValue:
        """The value ``metrics.KEY.<name>`` names (``last`` is ``value``)."""
        return self.value if name == "last" else getattr(self, name)


_SUMMARY_COLUMNS = (
    "experiment_id, key, last, last_json, last_step, count, last_logged_at, first, first_json, "
    "min, max, mean, best, step_of_best, goal"
)


# The aggregates that are one of the logged values: an int metric's read back as ints.
_PICKED = frozenset(("min", "max", "best"))


def _as_logged(number: Any, last_json: str | None) -> Any:
    """``number`` (stored as REAL) as an int when the metric is logged as ints (its last value's
    JSON is an int literal) and it is whole: ``metrics.count.max`` is 22, as ``.last`` is."""
    whole = isinstance(number, float) and number.is_integer()
    if whole and last_json is not None and last_json.lstrip("-").isdigit():
        return int(number)
    return number


def _summary(row: tuple[Any, ...]) -> MetricSummary:
    _, key, last, last_json, step, count, logged_at, first, first_json, low, high, mean, best, *rest = row
    moment = utc(stored_time(logged_at))
    assert moment is not None
    low, high, best = (_as_logged(number, last_json) for number in (low, high, best))
    return MetricSummary(
        key,
        metric_value(last, last_json),
        step,
        count,
        moment,
        metric_value(first, first_json),
        low,
        high,
        mean,
        best,
        *rest,
    )


def latest_of(
    conn: sqlite3.Connection, ids: Sequence[str], keys: Sequence[str] = ()
) -> dict[str, dict[str, MetricSummary]]:
    """The summary of every metric (or of ``keys``) of each experiment, by id then name."""
    found: dict[str, dict[str, MetricSummary]] = {i: {} for i in ids}
    wanted = set(keys)
    for chunk in chunks(ids):
        query = f"SELECT {_SUMMARY_COLUMNS} FROM metric_summary WHERE experiment_id IN ({marks(len(chunk))})"
        for row in conn.execute(query, list(chunk)):
            if not wanted or row[1] in wanted:
                found[row[0]][row[1]] = _summary(row)
    return {i: dict(sorted(found[i].items())) for i in ids}


def latest_metrics(db: Database, ids: Sequence[str]) -> dict[str, dict[str, MetricSummary]]:
    """The summary of every metric of each experiment, by id then metric name."""
    with db.connect() as conn:
        return latest_of(conn, ids)


def field_values(db: Database, ids: Sequence[str], name: str) -> dict[str, JsonValue]:
    """One field of each experiment, by id: ``params.X``, ``metrics.X`` (last value),
    ``metrics.X.AGG`` or a sort column (``SORT_COLUMNS``); experiments without it are left out."""
    prefix, _, key = name.partition(".")
    with db.connect() as conn:
        if prefix == "metrics" and key:
            ref = metric_ref(key)
            summaries = latest_of(conn, ids, [ref.key]).items()
            return {i: m[ref.key].aggregate(ref.aggregate.name) for i, m in summaries if ref.key in m}
        found: dict[str, JsonValue] = {}
        for chunk in chunks(ids):
            if prefix == "params" and key:
                query = "SELECT experiment_id, value FROM params WHERE key = ? AND experiment_id IN "
                query += f"({marks(len(chunk))})"
                found.update((i, json.loads(v)) for i, v in conn.execute(query, [key, *chunk]))
            else:
                column = SORT_COLUMNS[name]
                query = f"SELECT id, {column} FROM experiments WHERE id IN ({marks(len(chunk))})"
                for i, value in conn.execute(query, chunk):
                    if value is not None:
                        found[i] = utc(stored_time(value)) if column.endswith("_at") else value
        return found


@dataclass(frozen=True)
class BatchInfo:
    """A batch as ``yanex show`` describes it: how many experiments it ran, how many at a time."""

    id: str
    total: int  # experiments submitted (retries excluded)
    parallel: int | None  # None: one at a time in the caller's process; 0: one per CPU
    executor: str | None = None  # where it ran when not on this machine (``dask://...``, ``slurm:...``)


@dataclass(frozen=True)
class Lineage:
    """Where an experiment comes from along ``retry_of``: ``attempt`` 1 is the original (``root``);
    ``rerun`` when its parent is in another batch (``yanex rerun``), not a retry of the same batch."""

    root: str
    attempt: int
    parent: str
    rerun: bool


@dataclass(frozen=True)
class Relative:
    """A parent or child of an experiment along the ``dependencies`` table, as ``show`` lists it."""

    id: str
    name: str | None
    status: str


def _relatives(conn: sqlite3.Connection, experiment_id: str) -> tuple[list[Relative], list[Relative]]:
    """The experiments ``experiment_id`` depends on, and those that depend on it, oldest first."""

    def along(mine: str, theirs: str) -> list[Relative]:
        rows = conn.execute(
            f"SELECT e.id, e.name, e.status FROM dependencies AS d JOIN experiments AS e ON e.id = d.{theirs}"
            f" WHERE d.{mine} = ? ORDER BY e.created_at, e.id",
            (experiment_id,),
        )
        return [Relative(*row) for row in rows]

    return along("experiment_id", "depends_on_id"), along("depends_on_id", "experiment_id")


@dataclass(frozen=True)
class ExperimentDetail:
    """What ``show`` prints: the experiment, its metric summaries, patch size, batch and lineage."""

    experiment: ExperimentRecord
    metrics: dict[str, MetricSummary]
    patch_size: int | None
    rerun_as: list[str] = field(default_factory=list)  # later attempts that re-ran this one
    batch: BatchInfo | None = None
    lineage: Lineage | None = None  # None for an original
    parents: list[Relative] = field(default_factory=list)  # what it depends on
    children: list[Relative] = field(default_factory=list)  # what depends on it


def _batch(conn: sqlite3.Connection, batch_id: str | None) -> BatchInfo | None:
    row = conn.execute(
        "SELECT id, total, parallel, executor FROM batches WHERE id = ?", (batch_id,)
    ).fetchone()
    return None if row is None else BatchInfo(*row)


def _lineage(conn: sqlite3.Connection, experiment_id: str) -> Lineage | None:
    """Follow ``retry_of`` to the original, newest first (a deleted ancestor ends the chain)."""
    chain = conn.execute(
        "WITH RECURSIVE chain(id, retry_of, batch_id, depth) AS ("
        " SELECT id, retry_of, batch_id, 0 FROM experiments WHERE id = ?"
        " UNION ALL SELECT e.id, e.retry_of, e.batch_id, chain.depth + 1"
        " FROM experiments e JOIN chain ON e.id = chain.retry_of WHERE chain.depth < 10000)"
        " SELECT id, batch_id FROM chain ORDER BY depth",
        (experiment_id,),
    ).fetchall()
    if len(chain) < 2:
        return None
    (_, batch_id), (parent, parent_batch) = chain[0], chain[1]
    rerun = parent_batch is None or parent_batch != batch_id
    return Lineage(root=chain[-1][0], attempt=len(chain), parent=parent, rerun=rerun)


def experiment_detail(db: Database, reference: str) -> ExperimentDetail:
    """Everything known about the experiment ``reference`` names (see ``resolve_reference``)."""
    from yanex.store.references import resolve_reference

    experiment_id = resolve_reference(db, reference)
    with db.connect() as conn:
        (record,) = load_records(conn, [experiment_id])
        size = None
        sha = conn.execute(
            "SELECT git_patch_sha256 FROM experiments WHERE id = ?", (experiment_id,)
        ).fetchone()
        if sha is not None and sha[0]:
            found = conn.execute("SELECT size FROM git_patches WHERE sha256 = ?", (sha[0],)).fetchone()
            size = found[0] if found else None
        later = conn.execute(
            "SELECT id FROM experiments WHERE retry_of = ? ORDER BY created_at, id", (experiment_id,)
        )
        return ExperimentDetail(
            record,
            latest_of(conn, [experiment_id])[experiment_id],
            size,
            [i for (i,) in later],
            _batch(conn, record.batch_id),
            _lineage(conn, experiment_id),
            *_relatives(conn, experiment_id),
        )


@dataclass(frozen=True)
class CompareRow:
    id: str
    name: str | None
    status: Status
    params: dict[str, JsonValue]  # flat, dotted keys
    metrics: dict[str, JsonValue]  # by reference: last values (loss) or aggregates (loss.min)

    def as_json(self) -> dict[str, JsonValue]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status.value,
            "params": self.params,
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class Comparison:
    """Rows side by side; ``params`` and ``metrics`` name the columns chosen, in order."""

    params: list[str]
    metrics: list[str]
    rows: list[CompareRow]
    # The goal of each metric column's key when every row that has it agrees (metric_summary.goal).
    goals: dict[str, str] = field(default_factory=dict)


# Metric rows are read by experiment (the primary key) and picked by key here: with both
# ``experiment_id IN (1,000 ids)`` and ``key IN (3 keys)`` SQLite walks a (key, aggregate) index
# through every experiment's row of those keys instead (compare at 100,000 experiments: 2.2x
# slower than at 10,000).


def _goals_of(conn: sqlite3.Connection, ids: Sequence[str], keys: Sequence[str]) -> dict[str, str]:
    """The goal in force for each of ``keys`` when all of ``ids`` that have the metric share it."""
    seen: dict[str, set[str]] = {}
    wanted = set(keys)
    for chunk in chunks(ids):
        query = f"SELECT DISTINCT key, goal FROM metric_summary WHERE experiment_id IN ({marks(len(chunk))})"
        for key, goal in conn.execute(query, list(chunk)):
            if key in wanted:
                seen.setdefault(key, set()).add(goal)
    return {key: next(iter(goals)) for key, goals in seen.items() if len(goals) == 1}


def _metric_values(
    conn: sqlite3.Connection, ids: Sequence[str], names: Sequence[str]
) -> dict[str, dict[str, JsonValue]]:
    """The values of metric references ``names`` (``loss``, ``loss.min``: ``metric_ref``) of each
    experiment, by id then name; without ``names``, the last value of every metric by key. No
    ``MetricSummary`` per cell: a thousand rows side by side."""
    refs = {name: metric_ref(name) for name in names}
    keys = {ref.key for ref in refs.values()}
    found: dict[str, dict[str, JsonValue]] = {i: {} for i in ids}
    columns = ", ".join(a.number for a in AGGREGATES.values())
    numbers = {name: position for position, name in enumerate(AGGREGATES, start=4)}
    for chunk in chunks(ids):
        args = list(chunk)
        if not refs:  # the common case, as lean as it was: last values only
            query = "SELECT experiment_id, key, last, last_json FROM metric_summary WHERE experiment_id IN "
            for experiment_id, key, last, last_json in conn.execute(f"{query}({marks(len(chunk))})", args):
                found[experiment_id][key] = metric_value(last, last_json)
            continue
        query = f"SELECT experiment_id, key, last_json, first_json, {columns} FROM metric_summary "
        query += f"WHERE experiment_id IN ({marks(len(chunk))})"
        by_key: dict[str, dict[str, tuple[Any, ...]]] = {}
        for row in conn.execute(query, args):
            if row[1] in keys:
                by_key.setdefault(row[0], {})[row[1]] = row
        for experiment_id, rows in by_key.items():
            values = found[experiment_id]
            for name, ref in refs.items():
                row = rows.get(ref.key)
                if row is None:
                    continue
                number = row[numbers[ref.aggregate.name]]
                if ref.aggregate.json is not None:
                    number = metric_value(number, row[2 if ref.aggregate.name == "last" else 3])
                elif ref.aggregate.name in _PICKED:
                    number = _as_logged(number, row[2])
                values[name] = number
    return found


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


def compare(
    db: Database,
    flt: ExperimentFilter,
    params: Sequence[str] = (),
    metrics: Sequence[str] = (),
) -> Comparison:
    """The matching experiments side by side.

    Without ``params``, the columns are the parameters whose values differ between the selected
    experiments (all of them for a single one), over the whole selection even when ``limit``
    shows only some: the swept parameters stay when comparing the best 3. Without ``metrics``,
    every metric any row logged.
    """
    reconcile_before_read(db)
    with db.connect() as conn:
        ids = select_ids(conn, flt)
        heads: dict[str, tuple[str | None, str]] = {}
        raw: dict[str, dict[str, str]] = {i: {} for i in ids}  # JSON text: compared, then decoded
        for chunk in chunks(ids):
            in_chunk = marks(len(chunk))
            query = f"SELECT id, name, status FROM experiments WHERE id IN ({in_chunk})"
            heads.update((i, (n, s)) for i, n, s in conn.execute(query, chunk))
            query = f"SELECT experiment_id, key, value FROM params WHERE experiment_id IN ({in_chunk})"
            args = list(chunk)
            if params:
                query += f" AND key IN ({marks(len(params))})"
                args += params
            for experiment_id, key, value in conn.execute(query, args):
                raw[experiment_id][key] = value
        latest = _metric_values(conn, ids, metrics)
        if params:
            param_keys = list(params)
        elif flt.limit is not None:
            param_keys = differing_params(conn, dataclasses.replace(flt, sort=None, desc=False, limit=None))
        else:
            every = sorted({k for v in raw.values() for k in v})
            param_keys = [k for k in every if len(ids) == 1 or len({raw[i].get(k) for i in ids}) > 1]
        metric_keys = list(metrics) if metrics else sorted({k for m in latest.values() for k in m})
        by_key = _goals_of(conn, ids, [metric_ref(name).key for name in metric_keys])
    goals = {name: by_key[ref.key] for name in metric_keys if (ref := metric_ref(name)).key in by_key}
    texts: dict[str, JsonValue] = {}  # a sweep repeats few values: each JSON text is decoded once

    def decoded(text: str) -> JsonValue:
        if text not in texts:
            texts[text] = json.loads(text)
        return texts[text]

    rows = [
        CompareRow(
            id=i,
            name=heads[i][0],
            status=Status(heads[i][1]),
            params={k: decoded(raw[i][k]) for k in param_keys if k in raw[i]},
            metrics={k: latest[i][k] for k in metric_keys if k in latest[i]},
        )
        for i in ids
    ]
    return Comparison(params=param_keys, metrics=metric_keys, rows=rows, goals=goals)
