"""metric_summary replaces latest_metrics; metric_goals records declared directions.

``metric_summary`` holds, per metric of each experiment, the last and first values and the
aggregates over its finite numbers (min, max, sum, mean, best and its step), kept at ingest in the
transaction of the points. It is filled here from ``metrics`` (not copied from ``latest_metrics``),
so an upgraded database holds exactly what ingesting its points would have written. The old
table's name stays as a view over the new one, for hand-written SQL and the ``experiment_summary``
view that reads it: one stored copy of each last value.

``goal`` is frozen here as the rule was when this revision was written (names containing loss,
err, mse, mae, perplexity, time, latency or regret are minimised), so the upgrade does not change
with later code.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 03:00:00
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LOWER_IS_BETTER = re.compile(r"loss|err|mse|mae|rmse|perplexity|time|latency|regret", re.IGNORECASE)
_NUMERIC = "value IS NOT NULL AND (value_json IS NULL OR value_json NOT IN ('true', 'false'))"
_AGGREGATES = ("last", "first", "min", "max", "mean", "best", "step_of_best", "count")

_FILL = f"""
INSERT INTO metric_summary (experiment_id, key, count, last, last_json, last_step, last_logged_at,
    first, first_json, first_step, numeric_count, min, max, sum, mean, goal, best, step_of_best)
SELECT g.experiment_id, g.key, g.total, l.value, l.value_json, l.step, l.logged_at,
    f.value, f.value_json, f.step, g.numbers, g.low, g.high, g.added,
    CASE WHEN g.numbers > 0 THEN g.added / g.numbers END,
    goals.goal, CASE goals.goal WHEN 'min' THEN g.low ELSE g.high END, NULL
FROM (
    SELECT experiment_id, key, COUNT(*) AS total, MIN(id) AS first_id, MAX(id) AS last_id,
        COUNT(number) AS numbers, MIN(number) AS low, MAX(number) AS high, SUM(number) AS added
    FROM (SELECT id, experiment_id, key, CASE WHEN {_NUMERIC} THEN value END AS number FROM metrics)
    GROUP BY experiment_id, key
) AS g
JOIN metrics AS l ON l.id = g.last_id
JOIN metrics AS f ON f.id = g.first_id
JOIN metric_goal_defaults AS goals ON goals.key = g.key
"""
# The first step at which the best value was logged.
_STEP_OF_BEST = f"""
UPDATE metric_summary SET step_of_best = (
    SELECT m.step FROM metrics AS m
    WHERE m.experiment_id = metric_summary.experiment_id AND m.key = metric_summary.key
        AND m.value = metric_summary.best AND ({_NUMERIC.replace("value", "m.value")})
    ORDER BY m.id LIMIT 1
) WHERE best IS NOT NULL
"""
_LATEST_VIEW = """
CREATE VIEW latest_metrics AS
SELECT experiment_id, key, last_step AS step, last AS value, last_json AS value_json,
    last_logged_at AS logged_at, count
FROM metric_summary
"""


def upgrade() -> None:
    op.create_table(
        "metric_summary",
        sa.Column("experiment_id", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last", sa.Float(), nullable=True),
        sa.Column("last_json", sa.Text(), nullable=True),
        sa.Column("last_step", sa.Integer(), nullable=False),
        sa.Column("last_logged_at", sa.DateTime(), nullable=False),
        sa.Column("first", sa.Float(), nullable=True),
        sa.Column("first_json", sa.Text(), nullable=True),
        sa.Column("first_step", sa.Integer(), nullable=False),
        sa.Column("numeric_count", sa.Integer(), nullable=False),
        sa.Column("min", sa.Float(), nullable=True),
        sa.Column("max", sa.Float(), nullable=True),
        sa.Column("sum", sa.Float(), nullable=True),
        sa.Column("mean", sa.Float(), nullable=True),
        sa.Column("goal", sa.String(length=3), nullable=False),
        sa.Column("best", sa.Float(), nullable=True),
        sa.Column("step_of_best", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_metric_summary_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "key", name=op.f("pk_metric_summary")),
    )
    op.create_table(
        "metric_goals",
        sa.Column("experiment_id", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("goal", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_metric_goals_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "key", name=op.f("pk_metric_goals")),
    )
    conn = op.get_bind()
    keys = [key for (key,) in conn.exec_driver_sql("SELECT DISTINCT key FROM metrics")]
    conn.exec_driver_sql("CREATE TEMPORARY TABLE metric_goal_defaults (key TEXT PRIMARY KEY, goal TEXT)")
    if keys:
        conn.exec_driver_sql(
            "INSERT INTO metric_goal_defaults (key, goal) VALUES (?, ?)",
            [(key, "min" if _LOWER_IS_BETTER.search(key) else "max") for key in keys],
        )
    conn.exec_driver_sql(_FILL)
    conn.exec_driver_sql(_STEP_OF_BEST)
    conn.exec_driver_sql("DROP TABLE metric_goal_defaults")
    # Indexes after the fill: building each once is faster than keeping eight up to date per row.
    for name in _AGGREGATES:
        op.create_index(f"ix_metric_summary_key_{name}", "metric_summary", ["key", name], unique=False)
    # A plain DROP TABLE (no batch rebuild): experiment_summary names latest_metrics, which the
    # view created next provides again.
    op.drop_index("ix_latest_metrics_key_value", table_name="latest_metrics")
    op.execute("DROP TABLE latest_metrics")
    op.execute(_LATEST_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW latest_metrics")
    op.create_table(
        "latest_metrics",
        sa.Column("experiment_id", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("value_json", sa.Text(), nullable=True),
        sa.Column("logged_at", sa.DateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_latest_metrics_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "key", name=op.f("pk_latest_metrics")),
    )
    op.execute(
        "INSERT INTO latest_metrics (experiment_id, key, step, value, value_json, logged_at, count) "
        "SELECT experiment_id, key, last_step, last, last_json, last_logged_at, count FROM metric_summary"
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"], unique=False)
    op.drop_table("metric_goals")
    for name in _AGGREGATES:
        op.drop_index(f"ix_metric_summary_key_{name}", table_name="metric_summary")
    op.drop_table("metric_summary")
