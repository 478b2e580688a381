"""batches.executor: where a batch ran, when not on this machine's pool (``yanex show`` says so).

Null for every batch made before this revision, all of which ran on the local pool or Dask, and
for batches run locally: nothing to derive from existing rows.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column is a plain ALTER TABLE ADD COLUMN: no rebuild of batches.
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("executor", sa.String(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE batches DROP COLUMN executor")
