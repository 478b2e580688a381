"""The tables, declared once: every column of every table, as the records the store reads.

Standard library only, so that the read path stays light (``yanex.store.columns`` says how a
declaration reads). ``yanex.db.models`` declares the same tables for SQLAlchemy and alembic, and
``tests/test_tables.py`` holds the two equal, and equal to docs/schema.md.

An experiment as read is an ``ExperimentRecord``: its columns, its tags (``tags`` table) and its
patch (``git_patches``), grouped as ``git`` and ``environment``. The columns only the store needs
(who owns a running row, how far its journal is ingested) are ``ExperimentBookkeeping``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from yanex.status import Status
from yanex.store.columns import JsonText, Table, column, record, related

JsonValue = Any  # JSON data as json.loads returns it


@dataclass(frozen=True)
class OmittedChange:
    """A change the git capture left out of the patch, so the patch is known to be partial."""

    path: str  # relative to the repository's top folder
    reason: str
    hunk: int | None = None  # 1-based hunk of the file's diff; None: the whole file

    def __str__(self) -> str:
        where = self.path if self.hunk is None else f"{self.path} hunk {self.hunk}"
        return f"{where} ({self.reason})"


@dataclass(frozen=True)
class Submodule:
    """A git submodule of the repository, as it was when the experiment ran; its uncommitted
    changes are in the experiment's patch, under its folder."""

    path: str  # relative to the repository's top folder (a nested submodule's too)
    commit: str | None  # checked out then; None: not checked out, so the script ran without it


@record
class GitInfo:
    """The code an experiment ran: commit, branch, uncommitted changes and where the commit lives."""

    commit: str | None = column("git_commit", default=None)
    branch: str | None = column("git_branch", default=None)
    dirty: bool | None = column("git_dirty", default=None)
    patch: str | None = related(default=None)  # git_patches.patch, by git_patch_sha256
    commit_message: str | None = column("git_commit_message", default=None)
    author_name: str | None = column("git_author_name", default=None)
    author_email: str | None = column("git_author_email", default=None)
    # name -> URL, credentials stripped
    remotes: dict[str, str] = column("git_remotes", factory=dict, empty_is_null=True)
    # reachable from a remote-tracking branch at capture time
    commit_on_remote: bool | None = column("git_commit_on_remote", default=None)
    omitted: list[OmittedChange] = column("git_patch_omitted", factory=list, empty_is_null=True)
    # Parents before their nested submodules; empty without submodules (or recorded before 0012)
    submodules: list[Submodule] = column("git_submodules", factory=list, empty_is_null=True)


@record
class EnvironmentInfo:
    """Where an experiment ran."""

    python_version: str | None = column(default=None)
    platform: str | None = column(default=None)
    hostname: str | None = column(default=None)
    yanex_version: str | None = column(default=None)


@record
class ExperimentRecord:
    """One experiment as read: what ``yanex.find`` returns (as ``yanex.specs.ExperimentView``),
    ``yanex show`` prints and ``--format json`` writes."""

    id: str = column()
    name: str | None = column()
    description: str | None = column()
    status: Status = column()
    script_path: str = column()  # absolute
    working_dir: str | None = column()
    script_args: list[str] = column()
    config: dict[str, JsonValue] = column()
    tags: list[str] = related()  # sorted
    created_at: datetime = column()
    started_at: datetime | None = column()
    ended_at: datetime | None = column()
    duration: float | None = column()
    exit_code: int | None = column()
    error_message: str | None = column()
    batch_id: str | None = column()
    retry_of: str | None = column()
    archived: bool = column()
    pid: int | None = column()
    # When `yanex import` brought it from another store (None: it ran from this one)
    imported_at: datetime | None = column()
    # The steps the script said it will log (``yanex.set_total``): its progress is step / total
    total_steps: int | None = column()
    # Another tracker's run it was imported from, as ``kind:id`` (``mlflow:<run id>``); None for
    # experiments run by yanex, also after a yanex-to-yanex import (the id says it all there)
    imported_from: str | None = column()
    git: GitInfo
    environment: EnvironmentInfo


@record
class ExperimentBookkeeping:
    """The columns of ``experiments`` the store keeps for itself."""

    # This store's integer handle (the rowid), which ``metrics`` rows carry; None until inserted
    local_id: int | None = column()
    # sha256 of (script_path, config, script_args): finds an earlier run of the same spec
    spec_sha256: str = column()
    git_patch_sha256: str | None = column()
    # The process answerable for the row while it is open, and its last sign of life
    owner_host: str | None = column()
    owner_pid: int | None = column()
    heartbeat_at: datetime | None = column()
    # Bytes of the metrics journal whose points are in the database
    metrics_offset: int | None = column()
    # The installed packages it ran with (``environments``), from its journal
    environment_sha256: str | None = column(default=None)


class BatchColumns:
    id: str
    created_at: datetime
    ended_at: datetime | None
    parallel: int | None
    total: int
    owner_host: str | None
    owner_pid: int | None
    heartbeat_at: datetime | None
    spec: dict[str, JsonValue] | None  # the sweep it runs
    executor: str | None  # where it ran when not on this machine


class GitPatchColumns:
    sha256: str
    patch: str
    size: int


class EnvironmentColumns:
    sha256: str
    packages: JsonText  # distribution name -> version
    nvidia_driver: str | None
    cuda: str | None
    created_at: datetime


class TagColumns:
    experiment_id: str
    tag: str


class ParamColumns:
    experiment_id: str
    key: str
    value: JsonText
    value_number: float | None
    value_text: str | None


class MetricColumns:
    id: int
    experiment_local_id: int
    key: str
    step: int
    value: float | None
    value_json: JsonText | None
    logged_at: datetime


class MetricSummaryColumns:
    experiment_id: str
    key: str
    count: int
    last: float | None
    last_json: JsonText | None
    last_step: int
    last_logged_at: datetime
    first: float | None
    first_json: JsonText | None
    first_step: int
    numeric_count: int
    min: float | None
    max: float | None
    sum: float | None
    sum_error: float | None
    mean: float | None
    goal: str
    best: float | None
    step_of_best: int | None


class MetricGoalColumns:
    experiment_id: str
    key: str
    goal: str


class DependencyColumns:
    experiment_id: str
    depends_on_id: str


@record
class ArtifactRecord:
    """One file an experiment saved; its content is the blob ``sha256``."""

    experiment_id: str = column()
    name: str = column()
    sha256: str = column()
    size: int = column()
    media_type: str = column()
    created_at: datetime = column()  # aware, UTC


EXPERIMENTS = Table("experiments", ExperimentRecord, ExperimentBookkeeping)
ARTIFACTS = Table("artifacts", ArtifactRecord)
METRIC_SUMMARY = Table("metric_summary", MetricSummaryColumns)


def tables() -> tuple[Table, ...]:
    """Every table yanex declares (``tests/test_tables.py`` holds them equal to the models and the
    docs); the read path needs only the three above, built at import."""
    return (
        Table("batches", BatchColumns),
        Table("git_patches", GitPatchColumns),
        Table("environments", EnvironmentColumns),
        EXPERIMENTS,
        Table("tags", TagColumns),
        Table("params", ParamColumns),
        Table("metrics", MetricColumns),
        METRIC_SUMMARY,
        Table("metric_goals", MetricGoalColumns),
        Table("dependencies", DependencyColumns),
        ARTIFACTS,
    )
