"""experiments.git_submodules: each git submodule's path and the commit it had checked out.

``yanex rerun --exact`` checks each submodule out at its commit before it applies the patch (which
holds the submodules' uncommitted changes, under their folders). Null for every experiment made
before this revision: whether they had submodules, and at which commits, was not recorded, so
``--exact`` refuses to rebuild one whose commit has submodules. A nullable column is added in place:
``experiments`` is not rebuilt and the ``experiment_summary`` view that names it is untouched.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("git_submodules", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    # DROP COLUMN in place (SQLite 3.35+): the column is in no index, constraint or view.
    with op.batch_alter_table("experiments", recreate="never") as batch:
        batch.drop_column("git_submodules")
