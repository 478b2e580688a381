"""experiments.imported_from: the other tracker an imported run came from, and its id there.

``yanex import --from mlflow`` (and the TensorBoard and file-based yanex readers) bring runs that
never had a yanex id. Their id is derived from the source's own (``mlflow:<run id>``), which this
column keeps so that a person can tell where an experiment came from and find it in the tool it
left. Null for experiments run by yanex. A nullable column is added in place, like 0015's.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("imported_from", sa.String(), nullable=True))


def downgrade() -> None:
    # DROP COLUMN in place (SQLite 3.35+): the column is in no index, constraint or view.
    with op.batch_alter_table("experiments", recreate="never") as batch:
        batch.drop_column("imported_from")
