"""More of the git state per experiment: what the patch left out, commit message, author, remotes.

Nullable columns added to ``experiments``; rows written before stay as they were (null: not
captured then). SQLite adds a column in place, so ``experiments`` is not rebuilt and the
``experiment_summary`` view that names it is untouched.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("git_patch_omitted", sa.JSON(none_as_null=True)),
    ("git_commit_message", sa.Text()),
    ("git_author_name", sa.String()),
    ("git_author_email", sa.String()),
    ("git_remotes", sa.JSON(none_as_null=True)),
    ("git_commit_on_remote", sa.Boolean()),
)


def upgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+) rather than a rebuild: the columns are in no index,
    # constraint or view, and a rebuild would have to drop and re-create experiment_summary.
    with op.batch_alter_table("experiments", recreate="never") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
