"""The public schema as typed SQLAlchemy 2.0 models.

Users query these tables by hand, so names are a contract. Every change to this file needs an
alembic revision in ``migrations/versions``; a test compares the migrated schema to these models.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class BatchRow(Base):
    """One ``run_multiple`` call; owns its queued experiments until a worker takes them."""

    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # 32 hex (revision 0013)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    parallel: Mapped[int | None] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    owner_host: Mapped[str | None] = mapped_column(String)
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Sweeps (revision 0006): the sweep a batch runs, as JSON, so that `yanex sweep resume` can
    # expand it again; null for a batch of hand-made specs.
    spec: Mapped[dict[str, object] | None] = mapped_column(JSON(none_as_null=True))
    # Revision 0010: where it ran when not on this machine (``dask://HOST:PORT``, ``slurm:...``).
    executor: Mapped[str | None] = mapped_column(String)


class GitPatchRow(Base):
    """Uncommitted changes, stored once per distinct patch and shared by every experiment."""

    __tablename__ = "git_patches"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    patch: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)


class EnvironmentRow(Base):
    """Revision 0018: installed packages, stored once per distinct set and shared by every
    experiment that ran with it."""

    __tablename__ = "environments"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    packages: Mapped[dict[str, str]] = mapped_column(JSON)  # distribution name -> version
    nvidia_driver: Mapped[str | None] = mapped_column(String)
    cuda: Mapped[str | None] = mapped_column(String)  # the CUDA version the driver supports
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ExperimentRow(Base):
    """One experiment. ``id`` is global (32 random hex digits, the same in every store it is
    imported into); ``key`` is this store's compact handle for it, which ``metrics`` rows use."""

    __tablename__ = "experiments"

    # Revision 0013: the rowid alias, so that a million metric rows carry an integer, not 32 hex.
    local_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str | None] = mapped_column(String, index=True)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    script_path: Mapped[str] = mapped_column(String, index=True)  # absolute
    working_dir: Mapped[str | None] = mapped_column(String)
    script_args: Mapped[list[str]] = mapped_column(JSON)
    config: Mapped[dict[str, object]] = mapped_column(JSON)
    # sha256 of (script_path, config, script_args): finds an earlier run of the same spec.
    spec_sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    duration: Mapped[float | None] = mapped_column(Float)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id", ondelete="SET NULL"), index=True)
    retry_of: Mapped[str | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="SET NULL"), index=True
    )
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0", index=True)
    git_commit: Mapped[str | None] = mapped_column(String(40), index=True)  # --where git.commit
    git_branch: Mapped[str | None] = mapped_column(String)
    git_dirty: Mapped[bool | None] = mapped_column(Boolean)
    git_patch_sha256: Mapped[str | None] = mapped_column(
        ForeignKey("git_patches.sha256", ondelete="SET NULL")
    )
    # What the patch leaves out and why: [{"path", "hunk", "reason"}], null when nothing was.
    git_patch_omitted: Mapped[list[dict[str, object]] | None] = mapped_column(JSON(none_as_null=True))
    git_commit_message: Mapped[str | None] = mapped_column(Text)
    git_author_name: Mapped[str | None] = mapped_column(String)
    git_author_email: Mapped[str | None] = mapped_column(String)
    git_remotes: Mapped[dict[str, str] | None] = mapped_column(JSON(none_as_null=True))  # name -> URL
    git_commit_on_remote: Mapped[bool | None] = mapped_column(Boolean)
    # Revision 0012: each submodule's path and checked-out commit, [{"path", "commit"}].
    git_submodules: Mapped[list[dict[str, object]] | None] = mapped_column(JSON(none_as_null=True))
    python_version: Mapped[str | None] = mapped_column(String)
    platform: Mapped[str | None] = mapped_column(String)
    hostname: Mapped[str | None] = mapped_column(String)
    yanex_version: Mapped[str | None] = mapped_column(String)
    pid: Mapped[int | None] = mapped_column(Integer)
    # The process answerable for this row while it is queued or running; a reader that finds the
    # owner gone marks the row failed instead of leaving it active forever.
    owner_host: Mapped[str | None] = mapped_column(String)
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Bytes of the metrics journal whose points are in the database, advanced in the same
    # transaction as those points; NULL for rows older than revision 0003 (see its migration).
    metrics_offset: Mapped[int | None] = mapped_column(Integer)
    # Revision 0013: when `yanex import` brought the row from another store, whose process owns
    # it while it is open there; null for an experiment run by this store.
    imported_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Revision 0015: the steps the script said it will log (yanex.set_total); null if it did not.
    total_steps: Mapped[int | None] = mapped_column(Integer)
    # Revision 0017: the tracker an imported run came from and its id there ("mlflow:<run id>").
    imported_from: Mapped[str | None] = mapped_column(String)
    # Revision 0018: the installed packages it ran with, in environments.
    environment_sha256: Mapped[str | None] = mapped_column(
        ForeignKey("environments.sha256", ondelete="SET NULL")
    )

    # `list --status S` newest first is the most common query: one index serves filter and order.
    __table_args__ = (Index("ix_experiments_status_created_at", "status", "created_at"),)


class TagRow(Base):
    __tablename__ = "tags"

    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String, primary_key=True, index=True)


class ParamRow(Base):
    """One leaf of an experiment's config; nested keys are flattened with dots."""

    __tablename__ = "params"

    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON text
    value_number: Mapped[float | None] = mapped_column(Float)
    value_text: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_params_key_value_number", "key", "value_number"),
        Index("ix_params_key_value_text", "key", "value_text"),
    )


class MetricRow(Base):
    """One value of one key from one ``log_metrics`` call."""

    __tablename__ = "metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Revision 0013: experiments.local_id, not the 32-hex id: 101 MB per million rows instead of 163.
    experiment_local_id: Mapped[int] = mapped_column(ForeignKey("experiments.local_id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String)
    step: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float)
    value_json: Mapped[str | None] = mapped_column(Text)
    logged_at: Mapped[datetime] = mapped_column(DateTime)

    # Revision 0014: the value too, so that a chart reads a series from the index alone.
    __table_args__ = (
        Index("ix_metrics_experiment_local_id_key_step_value", "experiment_local_id", "key", "step", "value"),
    )


class MetricSummaryRow(Base):
    """Each metric of each experiment summed up: its last and first values and aggregates over its
    finite numbers, kept in the same transaction as the points (``yanex.store.summary``).

    Replaces the ``latest_metrics`` table of revisions 0001-0005, which is now a view over this
    one. ``count`` counts every point; ``numeric_count`` and the aggregates take only finite ints
    and floats (not booleans, NaN, the infinities, text or structures).
    """

    __tablename__ = "metric_summary"

    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    last: Mapped[float | None] = mapped_column(Float)
    last_json: Mapped[str | None] = mapped_column(Text)
    last_step: Mapped[int] = mapped_column(Integer)
    last_logged_at: Mapped[datetime] = mapped_column(DateTime)
    first: Mapped[float | None] = mapped_column(Float)
    first_json: Mapped[str | None] = mapped_column(Text)
    first_step: Mapped[int] = mapped_column(Integer)
    numeric_count: Mapped[int] = mapped_column(Integer)
    min: Mapped[float | None] = mapped_column(Float)
    max: Mapped[float | None] = mapped_column(Float)
    sum: Mapped[float | None] = mapped_column(Float)
    # What sum leaves out (revision 0011): sum + sum_error is the exact sum to about 106 bits.
    sum_error: Mapped[float | None] = mapped_column(Float)
    mean: Mapped[float | None] = mapped_column(Float)
    goal: Mapped[str] = mapped_column(String(3))  # min or max: the one in force for best
    best: Mapped[float | None] = mapped_column(Float)
    step_of_best: Mapped[int | None] = mapped_column(Integer)

    # One index per aggregate a filter or sort can name: `--sort metrics.accuracy.max --desc
    # --limit 10` walks (key, max) and stops after ten rows.
    __table_args__ = (
        Index("ix_metric_summary_key_last", "key", "last"),
        Index("ix_metric_summary_key_first", "key", "first"),
        Index("ix_metric_summary_key_min", "key", "min"),
        Index("ix_metric_summary_key_max", "key", "max"),
        Index("ix_metric_summary_key_mean", "key", "mean"),
        Index("ix_metric_summary_key_best", "key", "best"),
        Index("ix_metric_summary_key_step_of_best", "key", "step_of_best"),
        Index("ix_metric_summary_key_count", "key", "count"),
    )


class MetricGoalRow(Base):
    """A metric's direction declared for one experiment (``yanex run --goal``, ``yanex.set_goal``);
    a metric without one follows the default rule (``yanex.store.metric_names.default_goal``)."""

    __tablename__ = "metric_goals"

    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String, primary_key=True)
    goal: Mapped[str] = mapped_column(String(3))  # min or max


class DependencyRow(Base):
    """A pipeline edge: ``experiment_id`` ran on what ``depends_on_id`` produced, after it completed.

    The primary key reads an experiment's parents; the index on ``depends_on_id`` its children.
    Deleting either experiment deletes the edge.
    """

    __tablename__ = "dependencies"

    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    depends_on_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ArtifactRow(Base):
    """One file an experiment saved, by name; its content is the blob ``sha256`` under
    ``$YANEX_HOME/blobs``, shared by every artifact with the same content."""

    __tablename__ = "artifacts"

    experiment_id: Mapped[str] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String, primary_key=True)  # relative path, "/"-separated
    sha256: Mapped[str] = mapped_column(String(64), index=True)  # which blobs are still referenced
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(DateTime)
