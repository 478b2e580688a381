"""MLflow tracking stores, read with the standard library (and PyYAML, which yanex needs anyway
for config files): no MLflow install, nothing written to the store (docs/moving.md).

Two layouts: a SQLite database (MLflow 3's default backend: its tables ``experiments``, ``runs``,
``params``, ``tags``, ``metrics`` and ``alembic_version``) and the ``mlruns`` file store
(``<experiment id>/meta.yaml``, ``<experiment id>/<run id>/{meta.yaml,params,tags,metrics}``).
Either way every metric point is read from the history (``metrics``, ``metrics/<key>``), not the
``latest_metrics`` summary, in the order it was logged; runs and experiments MLflow marks deleted
are left out. An MLflow run becomes a ``yanex.store.foreign.ForeignRun``:

- ``mlflow.runName``, ``mlflow.note.content`` and ``mlflow.source.name`` are its name, description
  and script; ``mlflow.source.git.commit``/``.branch`` its git commit and branch;
  a nested run's ``mlflow.parentRunId`` is a tag ``parent=<the parent's yanex id, 8 digits>``;
  MLflow's other system tags (user, source type, logged-model history) are not kept;
- each user tag is a tag ``key=value`` (``key`` alone when its value is empty), and the
  experiment's name is a tag of each of its runs;
- params are numbers where their text is one (``"0.01"`` -> 0.01, ``"32"`` -> 32), else text;
- the artifacts are the files under the run's artifact folder. MLflow records it as an absolute
  path, which a store copied from another machine no longer has: the folder is looked for beside
  the store first (``<mlruns>/<experiment>/<run>/artifacts``; for a database, in the ``mlruns``
  or ``mlartifacts`` folder beside it), then where MLflow recorded it. A run whose artifacts are
  in remote storage (``s3://``) is imported without them.
"""

from __future__ import annotations

import heapq
import math
import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from yanex.errors import UsageError
from yanex.status import Status
from yanex.store.bundle import FolderHome
from yanex.store.foreign import ForeignFile, ForeignPoint, ForeignRun, foreign_id, write_home
from yanex.store.metric_values import JsonValue
from yanex.store.sources import Source
from yanex.store.tables import GitInfo

KIND = "mlflow"
_SQLITE_HEADER = b"SQLite format 3\x00"
_TABLES = frozenset({"experiments", "runs", "params", "tags", "metrics", "alembic_version"})
_STATUSES = {
    "RUNNING": Status.RUNNING,
    "SCHEDULED": Status.CREATED,
    "FINISHED": Status.COMPLETED,
    "FAILED": Status.FAILED,
    "KILLED": Status.CANCELLED,
}
# The file store writes a run's status as RunStatus's number
_STATUS_NUMBERS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
# MLflow's SQL store writes an infinity as the largest float (SQL has no infinity)
_LARGEST = 1.7976931348623157e308
_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"[+-]?((0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _RunInfo:
    """What both layouts record of a run besides its params, tags and points."""

    run_id: str
    experiment: str  # its experiment's name
    name: str | None
    status: str  # "FINISHED", ...
    start_time: int | None  # milliseconds since the epoch
    end_time: int | None
    artifact_uri: str


def detect(path: Path) -> bool:
    """An ``mlruns`` folder (experiment folders with ``meta.yaml``) or an MLflow SQLite database."""
    if path.is_dir():
        return _is_file_store(path)
    return path.is_file() and _is_database(path)


def open_source(path: Path, scratch: Path) -> Source:
    """The runs of the store at ``path``, written as a yanex home in ``scratch``."""
    home = scratch / "home"
    if path.is_dir() and _is_file_store(path):
        return Source(
            path, "MLflow file store", write_home(_file_store_runs(path), home), FolderHome(home), still=True
        )
    if path.is_file() and _is_database(path):
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            database = write_home(_database_runs(conn, path.parent), home)
        return Source(path, "MLflow database", database, FolderHome(home), still=True)
    raise UsageError(
        f"{path} is no MLflow store: neither an mlruns folder nor an MLflow SQLite database",
        hint="pass the folder or the .db file your MLFLOW_TRACKING_URI names (file:./mlruns, sqlite:///mlflow.db)",
    )


# The SQLite store


def _is_database(path: Path) -> bool:
    with path.open("rb") as handle:
        if handle.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
            return False
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            names = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError:
        return False
    return names >= _TABLES


def _database_runs(conn: sqlite3.Connection, folder: Path) -> Iterator[ForeignRun]:
    runs = conn.execute(
        "SELECT r.run_uuid, e.name, r.name, r.status, r.start_time, r.end_time, r.artifact_uri "
        "FROM runs AS r JOIN experiments AS e ON e.experiment_id = r.experiment_id "
        "WHERE r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active' "
        "ORDER BY r.start_time, r.run_uuid"
    ).fetchall()
    bases = (folder / "mlruns", folder / "mlartifacts", folder)
    for run_id, experiment, name, status, start_time, end_time, artifact_uri in runs:
        info = _RunInfo(run_id, experiment, name, status, start_time, end_time, artifact_uri or "")
        params = dict(conn.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,)).fetchall())
        tags = dict(conn.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,)).fetchall())
        yield _foreign_run(info, params, tags, _database_points(conn, run_id), bases)


def _database_points(conn: sqlite3.Connection, run_id: str) -> Iterator[ForeignPoint]:
    rows = conn.execute(
        "SELECT key, step, value, is_nan, timestamp FROM metrics WHERE run_uuid = ? ORDER BY rowid", (run_id,)
    )
    for key, step, value, is_nan, timestamp in rows:
        if is_nan:
            value = float("nan")
        elif abs(value) == _LARGEST:
            value = value * float("inf")
        yield ForeignPoint(key, int(step), float(value), _moment(timestamp))


# The mlruns file store


def _is_file_store(path: Path) -> bool:
    try:
        return any(child.name.isdigit() and (child / "meta.yaml").is_file() for child in path.iterdir())
    except OSError:
        return False


def _file_store_runs(root: Path) -> Iterator[ForeignRun]:
    experiments = sorted(
        (child for child in root.iterdir() if child.name.isdigit() and (child / "meta.yaml").is_file()),
        key=lambda folder: int(folder.name),
    )
    for folder in experiments:
        experiment = _meta(folder / "meta.yaml")
        if experiment.get("lifecycle_stage") != "active":
            continue
        metas = [(run, _meta(run / "meta.yaml")) for run in folder.iterdir() if (run / "meta.yaml").is_file()]
        metas.sort(key=lambda pair: (_integer(pair[1].get("start_time")) or 0, pair[0].name))
        for run, meta in metas:
            if meta.get("lifecycle_stage") != "active":
                continue
            status = meta.get("status")
            info = _RunInfo(
                run_id=str(meta.get("run_id") or run.name),
                experiment=str(experiment.get("name") or folder.name),
                name=str(meta["run_name"]) if meta.get("run_name") else None,
                status=_STATUS_NUMBERS.get(status, "") if isinstance(status, int) else str(status),
                start_time=_integer(meta.get("start_time")),
                end_time=_integer(meta.get("end_time")),
                artifact_uri=str(meta.get("artifact_uri") or ""),
            )
            yield _foreign_run(
                info, _texts(run / "params"), _texts(run / "tags"), _file_points(run / "metrics"), (root,)
            )


def _meta(path: Path) -> Mapping[str, object]:
    import yaml

    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _texts(folder: Path) -> dict[str, str]:
    """One file per key (a key with ``/`` is a file in a subfolder), its content the value."""
    if not folder.is_dir():
        return {}
    return {
        file.relative_to(folder).as_posix(): file.read_text(encoding="utf-8")
        for file in sorted(folder.rglob("*"))
        if file.is_file()
    }


def _file_points(folder: Path) -> Iterator[ForeignPoint]:
    """Every key's points, merged by time: each ``metrics/<key>`` file holds its key's points in
    the order they were logged, one ``timestamp value step`` line each."""
    files = sorted(folder.rglob("*")) if folder.is_dir() else []
    keys = [_file_lines(file, file.relative_to(folder).as_posix()) for file in files if file.is_file()]
    yield from heapq.merge(*keys, key=lambda point: point.logged_at)


def _file_lines(file: Path, key: str) -> Iterator[ForeignPoint]:
    with file.open(encoding="utf-8") as lines:
        for line in lines:
            fields = line.split()
            if len(fields) >= 2:
                step = int(fields[2]) if len(fields) > 2 else 0
                yield ForeignPoint(key, step, float(fields[1]), _moment(int(fields[0])))


# Both


def _foreign_run(
    info: _RunInfo,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    points: Iterator[ForeignPoint],
    bases: tuple[Path, ...],
) -> ForeignRun:
    user_tags = [
        f"{key}={value}" if value else key for key, value in tags.items() if not key.startswith("mlflow.")
    ]
    if parent := tags.get("mlflow.parentRunId"):  # as the id yanex shows of the parent run
        user_tags.append(f"parent={foreign_id(KIND, parent)[:8]}")
    first = info.start_time if info.start_time is not None else info.end_time
    artifacts = _artifact_folder(info.artifact_uri, info.run_id, bases)
    return ForeignRun(
        kind=KIND,
        source_id=info.run_id,
        created_at=_moment(first or 0),
        status=_STATUSES.get(info.status.upper(), Status.CREATED),
        name=info.name or tags.get("mlflow.runName") or None,
        description=tags.get("mlflow.note.content") or None,
        tags=(info.experiment, *user_tags),
        config={key: _param(value) for key, value in params.items()},
        started_at=_moment(info.start_time) if info.start_time is not None else None,
        ended_at=_moment(info.end_time) if info.end_time is not None else None,
        script_path=tags.get("mlflow.source.name", ""),
        git=GitInfo(commit=tags.get("mlflow.source.git.commit"), branch=tags.get("mlflow.source.git.branch")),
        points=points,
        files=_files(artifacts) if artifacts else (),
    )


def _files(folder: Path) -> tuple[ForeignFile, ...]:
    return tuple(
        ForeignFile(file.relative_to(folder).as_posix(), file)
        for file in sorted(folder.rglob("*"))
        if file.is_file()
    )


def _param(text: str) -> JsonValue:
    """A number where ``text`` is one as written (``"32"``, ``"0.01"``, ``"1e-3"``), else the text
    (``"007"``, ``"nan"`` and ``"1e999"`` stay text: no number gives them back)."""
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text) and math.isfinite(number := float(text)):
        return number
    return text


def _artifact_folder(uri: str, run_id: str, bases: tuple[Path, ...]) -> Path | None:
    """The run's artifact folder: beside the store (from ``<experiment>/<run>/...`` at the end
    of the recorded URI) or, failing that, where the URI says on this machine."""
    parsed = urlparse(uri)
    local = parsed.scheme in ("", "file")
    path = PurePosixPath(unquote(parsed.path) if local else parsed.path)
    if run_id in path.parts[1:]:
        tail = path.parts[path.parts.index(run_id) - 1 :]
        for base in bases:
            if (candidate := base.joinpath(*tail)).is_dir():
                return candidate
    recorded = Path(path)
    return recorded if local and path.is_absolute() and recorded.is_dir() else None


def _moment(milliseconds: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=milliseconds)
