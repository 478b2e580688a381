"""The ``dependencies`` table: which experiments an experiment ran on (pipelines).

A new table only; no existing row derives a dependency, so nothing is filled in.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dependencies",
        sa.Column("experiment_id", sa.String(length=8), nullable=False),
        sa.Column("depends_on_id", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name="fk_dependencies_experiment_id_experiments",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["depends_on_id"],
            ["experiments.id"],
            name="fk_dependencies_depends_on_id_experiments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "depends_on_id", name="pk_dependencies"),
    )
    op.create_index("ix_dependencies_depends_on_id", "dependencies", ["depends_on_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_dependencies_depends_on_id", table_name="dependencies")
    op.drop_table("dependencies")
