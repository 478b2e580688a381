"""Runs of another tracker as a yanex source: what ``yanex import --from mlflow|tensorboard|...``
reads is first written here as a small yanex home, which ``yanex.store.importing`` then imports
like any other store's (one import path: conflicts, re-imports and later points alike).

A reader turns its tracker's store into ``ForeignRun`` records; ``write_home`` writes them into a
scratch folder as a yanex database at this yanex's revision, with each artifact's content under
``blobs/`` and the run's other files (captured output) in its experiment folder. An experiment's
id is derived from the run's id in its tracker (``foreign_id``), so importing the same run again
finds it already there, and a run that logged more since adds only its new points. The tracker
and id are kept in ``experiments.imported_from`` (``mlflow:<run id>``). Nothing is invented: a run
has no git capture, environment or script arguments unless its tracker recorded them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from yanex.status import Status
from yanex.store.bundle import BLOBS, DATABASE
from yanex.store.bundle import EXPERIMENTS as EXPERIMENT_FOLDERS
from yanex.store.metric_values import JsonValue
from yanex.store.tables import GitInfo

if TYPE_CHECKING:
    from yanex.db.engine import Database

POINTS_PER_WRITE = 50_000  # a run of millions of points is written in transactions of this size


@dataclass(frozen=True)
class ForeignPoint:
    """One logged value: ``value`` a number, or any JSON value a tracker stored."""

    key: str
    step: int
    value: JsonValue
    logged_at: datetime  # aware


@dataclass(frozen=True)
class ForeignFile:
    """A file the run left: an artifact (``name`` as it was saved, its content by hash) or, with
    ``artifact=False``, a file of the experiment folder (``stdout.log``)."""

    name: str  # relative, with forward slashes
    path: Path  # where to read it now
    artifact: bool = True


@dataclass(frozen=True)
class ForeignRun:
    """One run of another tracker, as yanex records an experiment."""

    kind: str  # the tracker: "mlflow", "tensorboard", "yanex-files"
    source_id: str  # the run's id there; with ``kind``, what makes re-imports add nothing
    created_at: datetime  # aware
    status: Status = Status.COMPLETED
    name: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    config: dict[str, JsonValue] = field(default_factory=dict)  # nested, as get_param reads it
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error_message: str | None = None
    script_path: str = ""  # what ran, where the tracker says (MLflow's source name), else ""
    git: GitInfo = field(default_factory=GitInfo)  # what the tracker recorded of it, if anything
    id_prefix: str | None = None  # hex digits the id should start with (a file-based yanex id)
    points: Iterable[ForeignPoint] = ()
    files: tuple[ForeignFile, ...] = ()
    archived: bool = False
    # The runs (their ``source_id``s) this one ran on; an edge to a run not written with it is left out
    depends_on: tuple[str, ...] = ()


def foreign_id(kind: str, source_id: str, prefix: str | None = None) -> str:
    """The yanex id of a run of another tracker: 32 hex digits from a hash of ``kind:source_id``
    (the same run gets the same id in every store), led by ``prefix`` when it has one."""
    digest = hashlib.sha256(f"{kind}:{source_id}".encode()).hexdigest()
    head = (prefix or "").lower()
    return (head + digest)[:32]


def write_home(runs: Iterable[ForeignRun], folder: Path) -> Path:
    """Write ``runs`` into ``folder`` as a yanex home (``folder/yanex.db``, ``experiments/``,
    ``blobs/``) and return the database's path; ``folder`` must not hold a database yet."""
    from yanex.db.engine import Database

    folder.mkdir(parents=True, exist_ok=True)
    database = folder / DATABASE
    if database.exists():
        raise FileExistsError(database)
    db = Database(f"sqlite:///{database}")
    written: dict[str, str] = {}  # source id -> experiment id
    edges: list[tuple[str, str]] = []  # (experiment id, source id it depends on)
    try:
        for run in runs:
            written[run.source_id] = _write_run(db, folder, run)
            edges += [(written[run.source_id], parent) for parent in run.depends_on]
        with db.write() as conn:
            conn.executemany(
                "INSERT INTO dependencies (experiment_id, depends_on_id) VALUES (?, ?)",
                [(child, written[parent]) for child, parent in edges if parent in written],
            )
    finally:
        db.dispose()
    return database


def _write_run(db: Database, folder: Path, run: ForeignRun) -> str:
    from yanex.artifacts.blobs import store_file
    from yanex.artifacts.formats import media_type
    from yanex.artifacts.lines import ArtifactLine
    from yanex.db.engine import Database
    from yanex.store.artifacts import record_artifacts
    from yanex.store.convert import flatten_config, metric_value
    from yanex.store.experiments import insert_points
    from yanex.store.summary import PointRow
    from yanex.store.tables import EXPERIMENTS, EnvironmentInfo, ExperimentBookkeeping, ExperimentRecord

    assert isinstance(db, Database)
    experiment_id = foreign_id(run.kind, run.source_id, run.id_prefix)
    final = run.status.is_final
    duration = (
        (run.ended_at - run.started_at).total_seconds() if run.started_at and run.ended_at and final else None
    )
    record = ExperimentRecord(
        id=experiment_id,
        name=run.name,
        description=run.description,
        status=run.status,
        script_path=run.script_path,
        working_dir=None,
        script_args=[],
        config=run.config,
        tags=sorted(set(run.tags)),
        created_at=_utc(run.created_at),
        started_at=_utc(run.started_at) if run.started_at else None,
        ended_at=_utc(run.ended_at) if run.ended_at and final else None,
        duration=duration,
        exit_code=None,
        error_message=run.error_message,
        batch_id=None,
        retry_of=None,
        archived=run.archived,
        pid=None,
        imported_at=None,
        total_steps=None,
        imported_from=f"{run.kind}:{run.source_id}",
        git=run.git,
        environment=EnvironmentInfo(),
    )
    bookkeeping = ExperimentBookkeeping(
        local_id=None,
        spec_sha256=hashlib.sha256(f"{run.kind}:{run.source_id}".encode()).hexdigest(),
        git_patch_sha256=None,
        owner_host=None,
        owner_pid=None,
        heartbeat_at=None,
        metrics_offset=None,
    )
    blobs = folder / BLOBS
    artifacts: list[ArtifactLine] = []
    outputs = folder / EXPERIMENT_FOLDERS / experiment_id
    for file in run.files:
        if file.artifact:
            stored = store_file(blobs, file.path)
            moment = datetime.fromtimestamp(file.path.stat().st_mtime, UTC).replace(tzinfo=None)
            artifacts.append(
                ArtifactLine(file.name, stored.sha256, stored.size, media_type(file.name), moment)
            )
        else:
            target = outputs / file.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.path.read_bytes())
    with db.write() as conn:
        conn.execute(EXPERIMENTS.insert(), EXPERIMENTS.row(record, bookkeeping))
        conn.executemany(
            "INSERT INTO tags (experiment_id, tag) VALUES (?, ?)", [(experiment_id, t) for t in record.tags]
        )
        conn.executemany(
            "INSERT INTO params (experiment_id, key, value, value_number, value_text) VALUES (?, ?, ?, ?, ?)",
            [(experiment_id, *leaf) for leaf in flatten_config(run.config)],
        )
        record_artifacts(conn, experiment_id, artifacts)
    for chunk in _chunks(run.points):
        rows: list[PointRow] = [
            (
                experiment_id,
                point.key,
                point.step,
                *metric_value(point.value),
                _utc(point.logged_at).isoformat(sep=" ", timespec="microseconds"),
            )
            for point in chunk
        ]
        with db.write() as conn:
            insert_points(conn, rows)
    return experiment_id


def _chunks(points: Iterable[ForeignPoint]) -> Iterator[list[ForeignPoint]]:
    chunk: list[ForeignPoint] = []
    for point in points:
        chunk.append(point)
        if len(chunk) == POINTS_PER_WRITE:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _utc(moment: datetime) -> datetime:
    """Naive UTC, as the database stores times (an aware time is converted, a naive one is UTC)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
