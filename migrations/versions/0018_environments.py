"""environments: the installed packages experiments ran with, once per distinct set.

Each experiment refers to its set by hash (``experiments.environment_sha256``), as it refers to
its uncommitted changes in ``git_patches``: a batch of a thousand experiments on one interpreter
shares one row. Experiments recorded before this revision have none (null). ``experiments`` is
rebuilt (its views dropped and made again around it): SQLite's ADD COLUMN takes only an inline
REFERENCES clause, whose name and ON DELETE nobody reflects, so the schema would no longer read
back as the models declare it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _without_views() -> list[tuple[str, str]]:
    """Drop the views (returned, to be made again): renaming the rebuilt experiments checks them."""
    run = op.get_bind().exec_driver_sql
    views = run("SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY rowid").fetchall()
    for name, _ in reversed(views):
        run(f"DROP VIEW {name}")
    return [(str(name), str(sql)) for name, sql in views]


def _remake(views: list[tuple[str, str]]) -> None:
    for _, sql in views:
        op.get_bind().exec_driver_sql(sql)


def upgrade() -> None:
    op.create_table(
        "environments",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("packages", sa.JSON(), nullable=False),
        sa.Column("nvidia_driver", sa.String(), nullable=True),
        sa.Column("cuda", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_environments")),
    )
    views = _without_views()
    with op.batch_alter_table("experiments", recreate="always") as batch:
        batch.add_column(sa.Column("environment_sha256", sa.String(64), nullable=True))
        batch.create_foreign_key(
            "fk_experiments_environment_sha256_environments",
            "environments",
            ["environment_sha256"],
            ["sha256"],
            ondelete="SET NULL",
        )
    _remake(views)


def downgrade() -> None:
    views = _without_views()
    with op.batch_alter_table("experiments", recreate="always") as batch:
        batch.drop_constraint("fk_experiments_environment_sha256_environments", type_="foreignkey")
        batch.drop_column("environment_sha256")
    _remake(views)
    op.drop_table("environments")
