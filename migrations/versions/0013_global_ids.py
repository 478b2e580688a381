"""Global ids: experiments and batches get 128-bit ids; metrics rows carry an integer key.

Ids were 8 random hex digits, unique in one store only. Each becomes 32 digits by appending 24
random ones, so every id a user wrote down (notes, scripts, ``--depends-on``) is still a prefix
of its experiment's id and still resolves. Every reference is rewritten in the same transaction:
``experiments.batch_id`` and ``retry_of``, and the ``experiment_id`` of tags, params,
metric_summary, metric_goals, dependencies (both ends) and artifacts.

``experiments`` is rebuilt with ``local_id INTEGER PRIMARY KEY`` (the rowid, kept as it was) and
``id`` unique, and ``metrics`` with ``experiment_local_id`` instead of ``experiment_id``: the one table
with millions of rows keeps an 8-byte key instead of 33 bytes of text (per million points: 101 MB
instead of 114 MB with 8-digit ids, 163 MB with 32-digit ones). Rebuilding ``metrics`` copies
every point once: 1.5 s per million points on the 2-core machine it was measured on.

``imported_at`` records when ``yanex import`` brought a row from another store.

The experiment folders, named by id, are renamed by ``yanex.db.schema.upgrade`` after this
transaction commits (a rename cannot be rolled back with it). The views name these tables, so
they are dropped first and created again, unchanged, at the end.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables whose experiment_id (and dependencies.depends_on_id) point at experiments.id.
_CHILDREN = {
    "tags": ["experiment_id"],
    "params": ["experiment_id"],
    "metric_summary": ["experiment_id"],
    "metric_goals": ["experiment_id"],
    "dependencies": ["experiment_id", "depends_on_id"],
    "artifacts": ["experiment_id"],
}
# Every column of experiments but local_id, id, batch_id and retry_of, copied as they are.
_KEPT = (
    "name, description, status, script_path, working_dir, script_args, config, spec_sha256, "
    "created_at, started_at, ended_at, duration, exit_code, error_message, archived, git_commit, "
    "git_branch, git_dirty, git_patch_sha256, git_patch_omitted, git_commit_message, "
    "git_author_name, git_author_email, git_remotes, git_commit_on_remote, git_submodules, "
    "python_version, platform, hostname, yanex_version, pid, owner_host, owner_pid, heartbeat_at, "
    "metrics_offset"
)
_EXPERIMENT_INDEXES = (
    "name",
    "script_path",
    "spec_sha256",
    "created_at",
    "started_at",
    "ended_at",
    "batch_id",
    "retry_of",
    "archived",
)


def _experiments_table(name: str, length: int) -> None:
    """``experiments`` as this revision makes it (``length`` 32), or as it was before (8)."""
    keyed = length == 32
    op.create_table(
        name,
        *([sa.Column("local_id", sa.Integer(), nullable=False)] if keyed else []),
        sa.Column("id", sa.String(length=length), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("script_path", sa.String(), nullable=False),
        sa.Column("working_dir", sa.String(), nullable=True),
        sa.Column("script_args", sa.JSON(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("spec_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("batch_id", sa.String(length=length), nullable=True),
        sa.Column("retry_of", sa.String(length=length), nullable=True),
        sa.Column("archived", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("git_commit", sa.String(length=40), nullable=True),
        sa.Column("git_branch", sa.String(), nullable=True),
        sa.Column("git_dirty", sa.Boolean(), nullable=True),
        sa.Column("git_patch_sha256", sa.String(length=64), nullable=True),
        sa.Column("git_patch_omitted", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("git_commit_message", sa.Text(), nullable=True),
        sa.Column("git_author_name", sa.String(), nullable=True),
        sa.Column("git_author_email", sa.String(), nullable=True),
        sa.Column("git_remotes", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("git_commit_on_remote", sa.Boolean(), nullable=True),
        sa.Column("git_submodules", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("python_version", sa.String(), nullable=True),
        sa.Column("platform", sa.String(), nullable=True),
        sa.Column("hostname", sa.String(), nullable=True),
        sa.Column("yanex_version", sa.String(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("owner_host", sa.String(), nullable=True),
        sa.Column("owner_pid", sa.Integer(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("metrics_offset", sa.Integer(), nullable=True),
        *([sa.Column("imported_at", sa.DateTime(), nullable=True)] if keyed else []),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name="fk_experiments_batch_id_batches", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["git_patch_sha256"],
            ["git_patches.sha256"],
            name="fk_experiments_git_patch_sha256_git_patches",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["retry_of"], ["experiments.id"], name="fk_experiments_retry_of_experiments", ondelete="SET NULL"
        ),
        *(
            [
                sa.PrimaryKeyConstraint("local_id", name="pk_experiments"),
                sa.UniqueConstraint("id", name="uq_experiments_id"),
            ]
            if keyed
            else [sa.PrimaryKeyConstraint("id", name="pk_experiments")]
        ),
    )


def _metrics_table(name: str, keyed: bool) -> None:
    """``metrics`` with ``experiment_local_id`` (this revision) or ``experiment_id`` (before)."""
    reference = (
        ("experiment_local_id", sa.Integer(), "experiments.local_id")
        if keyed
        else ("experiment_id", sa.String(8), "experiments.id")
    )
    column, kind, target = reference
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(column, kind, nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("value_json", sa.Text(), nullable=True),
        sa.Column("logged_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            [column], [target], name=f"fk_metrics_{column}_experiments", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_metrics"),
    )


def _start(new_id: str) -> list[tuple[str, str]]:
    """Drop the views (returned, to be made again) and map every experiment's and batch's id to
    ``new_id``, an SQL expression of ``id``, in temporary tables id_map and batch_map."""
    run = op.get_bind().exec_driver_sql
    views = run("SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY rowid").fetchall()
    for name, _ in reversed(views):
        run(f"DROP VIEW {name}")
    for table, mapping in (("experiments", "id_map"), ("batches", "batch_map")):
        run(f"CREATE TEMPORARY TABLE {mapping} (old TEXT PRIMARY KEY, new TEXT NOT NULL)")
        run(f"INSERT INTO {mapping} SELECT id, {new_id} FROM {table}")
    return [(str(name), str(sql)) for name, sql in views]


def upgrade() -> None:
    run = op.get_bind().exec_driver_sql
    # randomblob: SQLite's generator, seeded from the operating system's randomness.
    views = _start("substr(id || lower(hex(randomblob(16))), 1, 32)")

    with op.batch_alter_table("batches") as batch:
        batch.alter_column("id", type_=sa.String(length=32), existing_nullable=False)
    run("UPDATE batches SET id = (SELECT new FROM batch_map WHERE old = batches.id)")

    _experiments_table("experiments_0013", 32)
    run(
        f"INSERT INTO experiments_0013 (local_id, id, batch_id, retry_of, {_KEPT}) "
        "SELECT e.rowid, ids.new, (SELECT new FROM batch_map WHERE old = e.batch_id), "
        f"(SELECT new FROM id_map WHERE old = e.retry_of), {_KEPT} "
        "FROM experiments AS e JOIN id_map AS ids ON ids.old = e.id ORDER BY e.rowid"
    )
    _metrics_table("metrics_0013", keyed=True)
    run(
        "INSERT INTO metrics_0013 (id, experiment_local_id, key, step, value, value_json, logged_at) "
        "SELECT m.id, e.rowid, m.key, m.step, m.value, m.value_json, m.logged_at "
        "FROM metrics AS m JOIN experiments AS e ON e.id = m.experiment_id ORDER BY m.id"
    )
    _replace_tables("experiment_local_id")
    _rewrite_children(32)
    _finish(views)


def _replace_tables(metric_column: str) -> None:
    run = op.get_bind().exec_driver_sql
    run("DROP TABLE metrics")
    run("DROP TABLE experiments")
    run("ALTER TABLE experiments_0013 RENAME TO experiments")
    run("ALTER TABLE metrics_0013 RENAME TO metrics")
    for column in _EXPERIMENT_INDEXES:
        op.create_index(f"ix_experiments_{column}", "experiments", [column], unique=False)
    op.create_index("ix_experiments_status_created_at", "experiments", ["status", "created_at"], unique=False)
    op.create_index(
        f"ix_metrics_{metric_column}_key_step", "metrics", [metric_column, "key", "step"], unique=False
    )


def _rewrite_children(length: int) -> None:
    run = op.get_bind().exec_driver_sql
    for table, columns in _CHILDREN.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, type_=sa.String(length=length), existing_nullable=False)
        assignments = ", ".join(f"{c} = (SELECT new FROM id_map WHERE old = {table}.{c})" for c in columns)
        run(f"UPDATE {table} SET {assignments}")


def _finish(views: Sequence[tuple[str, str]]) -> None:
    run = op.get_bind().exec_driver_sql
    run("DROP TABLE id_map")
    run("DROP TABLE batch_map")
    for _, sql in views:
        run(sql)


def downgrade() -> None:
    """Ids back to their first 8 digits: unique for ids made in this store, which yanex drew so;
    refused when experiments imported from other stores share them."""
    run = op.get_bind().exec_driver_sql
    for table in ("experiments", "batches"):
        if run(f"SELECT 1 FROM {table} GROUP BY substr(id, 1, 8) HAVING count(*) > 1").fetchone():
            raise RuntimeError(f"two {table} share their first 8 id digits: they cannot be shortened")
    views = _start("substr(id, 1, 8)")
    run("UPDATE batches SET id = (SELECT new FROM batch_map WHERE old = batches.id)")
    with op.batch_alter_table("batches") as batch:
        batch.alter_column("id", type_=sa.String(length=8), existing_nullable=False)
    _experiments_table("experiments_0013", 8)
    run(
        f"INSERT INTO experiments_0013 (id, batch_id, retry_of, {_KEPT}) "
        "SELECT substr(id, 1, 8), substr(batch_id, 1, 8), substr(retry_of, 1, 8), "
        f"{_KEPT} FROM experiments ORDER BY local_id"
    )
    _metrics_table("metrics_0013", keyed=False)
    run(
        "INSERT INTO metrics_0013 (id, experiment_id, key, step, value, value_json, logged_at) "
        "SELECT m.id, substr(e.id, 1, 8), m.key, m.step, m.value, m.value_json, m.logged_at "
        "FROM metrics AS m JOIN experiments AS e ON e.local_id = m.experiment_local_id ORDER BY m.id"
    )
    _replace_tables("experiment_id")
    _rewrite_children(8)
    _finish(views)
