"""Initial schema: experiments, tags, params, metrics, latest_metrics, batches, git_patches.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 19:04:59.565885
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("parallel", sa.Integer(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("owner_host", sa.String(), nullable=True),
        sa.Column("owner_pid", sa.Integer(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
    )
    op.create_table(
        "git_patches",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("patch", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_git_patches")),
    )
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(length=8), nullable=False),
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
        sa.Column("batch_id", sa.String(length=8), nullable=True),
        sa.Column("retry_of", sa.String(length=8), nullable=True),
        sa.Column("archived", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("git_commit", sa.String(length=40), nullable=True),
        sa.Column("git_branch", sa.String(), nullable=True),
        sa.Column("git_dirty", sa.Boolean(), nullable=True),
        sa.Column("git_patch_sha256", sa.String(length=64), nullable=True),
        sa.Column("python_version", sa.String(), nullable=True),
        sa.Column("platform", sa.String(), nullable=True),
        sa.Column("hostname", sa.String(), nullable=True),
        sa.Column("yanex_version", sa.String(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("owner_host", sa.String(), nullable=True),
        sa.Column("owner_pid", sa.Integer(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_experiments_batch_id_batches"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["git_patch_sha256"],
            ["git_patches.sha256"],
            name=op.f("fk_experiments_git_patch_sha256_git_patches"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["retry_of"],
            ["experiments.id"],
            name=op.f("fk_experiments_retry_of_experiments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
    )
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_experiments_archived"), ["archived"], unique=False)
        batch_op.create_index(batch_op.f("ix_experiments_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_experiments_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_experiments_ended_at"), ["ended_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_experiments_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_experiments_retry_of"), ["retry_of"], unique=False)
        batch_op.create_index(batch_op.f("ix_experiments_script_path"), ["script_path"], unique=False)
        batch_op.create_index(batch_op.f("ix_experiments_spec_sha256"), ["spec_sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_experiments_started_at"), ["started_at"], unique=False)
        batch_op.create_index("ix_experiments_status_created_at", ["status", "created_at"], unique=False)

    op.create_table(
        "latest_metrics",
        sa.Column("experiment_id", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("value_json", sa.Text(), nullable=True),
        sa.Column("logged_at", sa.DateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_latest_metrics_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "key", name=op.f("pk_latest_metrics")),
    )
    with op.batch_alter_table("latest_metrics", schema=None) as batch_op:
        batch_op.create_index("ix_latest_metrics_key_value", ["key", "value"], unique=False)

    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("experiment_id", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("value_json", sa.Text(), nullable=True),
        sa.Column("logged_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_metrics_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics")),
    )
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.create_index(
            "ix_metrics_experiment_id_key_step", ["experiment_id", "key", "step"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_metrics_key"), ["key"], unique=False)

    op.create_table(
        "params",
        sa.Column("experiment_id", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("value_number", sa.Float(), nullable=True),
        sa.Column("value_text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_params_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "key", name=op.f("pk_params")),
    )
    with op.batch_alter_table("params", schema=None) as batch_op:
        batch_op.create_index("ix_params_key_value_number", ["key", "value_number"], unique=False)
        batch_op.create_index("ix_params_key_value_text", ["key", "value_text"], unique=False)

    op.create_table(
        "tags",
        sa.Column("experiment_id", sa.String(length=8), nullable=False),
        sa.Column("tag", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_tags_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "tag", name=op.f("pk_tags")),
    )
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tags_tag"), ["tag"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tags_tag"))

    op.drop_table("tags")
    with op.batch_alter_table("params", schema=None) as batch_op:
        batch_op.drop_index("ix_params_key_value_text")
        batch_op.drop_index("ix_params_key_value_number")

    op.drop_table("params")
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metrics_key"))
        batch_op.drop_index("ix_metrics_experiment_id_key_step")

    op.drop_table("metrics")
    with op.batch_alter_table("latest_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_latest_metrics_key_value")

    op.drop_table("latest_metrics")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index("ix_experiments_status_created_at")
        batch_op.drop_index(batch_op.f("ix_experiments_started_at"))
        batch_op.drop_index(batch_op.f("ix_experiments_spec_sha256"))
        batch_op.drop_index(batch_op.f("ix_experiments_script_path"))
        batch_op.drop_index(batch_op.f("ix_experiments_retry_of"))
        batch_op.drop_index(batch_op.f("ix_experiments_name"))
        batch_op.drop_index(batch_op.f("ix_experiments_ended_at"))
        batch_op.drop_index(batch_op.f("ix_experiments_created_at"))
        batch_op.drop_index(batch_op.f("ix_experiments_batch_id"))
        batch_op.drop_index(batch_op.f("ix_experiments_archived"))

    op.drop_table("experiments")
    op.drop_table("git_patches")
    op.drop_table("batches")
