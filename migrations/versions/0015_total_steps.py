"""experiments.total_steps: the steps a script said it will log (``yanex.set_total``).

``yanex watch`` and ``yanex show`` give a running experiment's progress as a percentage and an
estimated time left, from its latest step, this total and the time since it started. The script
declares it in its journal, so it is ingested with the points around it and survives the
supervisor being killed. Null for experiments that never declared one, every experiment made
before this revision among them. A nullable column is added in place: ``experiments`` is not
rebuilt and the ``experiment_summary`` view that names it is untouched.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("total_steps", sa.Integer(), nullable=True))


def downgrade() -> None:
    # DROP COLUMN in place (SQLite 3.35+): the column is in no index, constraint or view.
    with op.batch_alter_table("experiments", recreate="never") as batch:
        batch.drop_column("total_steps")
