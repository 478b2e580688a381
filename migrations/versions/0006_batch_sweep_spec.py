"""batches.spec: the sweep a batch runs, as JSON, so that ``yanex sweep resume`` can finish it.

Null for every batch made before this revision and for batches of hand-made specs: nothing to
derive from existing rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column is a plain ALTER TABLE ADD COLUMN: no rebuild of batches.
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("spec", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE batches DROP COLUMN spec")
