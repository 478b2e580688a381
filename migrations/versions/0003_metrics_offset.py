"""experiments.metrics_offset: how much of the metrics journal is already in the database.

Kept in the same transaction as the points it covers, so any process can resume an ingest where
another left it (a reconciler after a dead supervisor, ``yanex db repair``) without duplicating a
point. Rows from before this revision get NULL, "not known": their journals were ingested by an
older yanex and are never ingested again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Adding a nullable column needs no table rebuild, so the experiment_summary view stays.
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("metrics_offset", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Native DROP COLUMN (SQLite 3.35+): a batch rebuild would fail under the summary view.
    op.execute("ALTER TABLE experiments DROP COLUMN metrics_offset")
