"""metric_summary.sum_error: what the rounded sum leaves out, so that a mean stays exact.

A running sum of floats loses what does not fit its precision: 5, 1e308, -1e308 summed to 0 and
gave a mean of 0. Ingest now keeps the exact sum as two floats, ``sum`` (the exact sum rounded)
and ``sum_error`` (the rest, rounded), and adds each chunk of points to them exactly
(``yanex.store.summary``).

Null for every row summed before this revision: their plain sum may already have lost something,
and recomputing every sum here would read every point of the database during an upgrade. The
next point ingested into such a metric sums its stored points again instead; the rows of finished
experiments keep the sum and mean they had.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column is a plain ALTER TABLE ADD COLUMN: no rebuild of metric_summary.
    with op.batch_alter_table("metric_summary") as batch:
        batch.add_column(sa.Column("sum_error", sa.Float(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE metric_summary DROP COLUMN sum_error")
