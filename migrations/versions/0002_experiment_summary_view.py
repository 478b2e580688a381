"""The experiment_summary view: one row per experiment with its tags, params and last metrics.

For people querying the database by hand (``sqlite3 "$(yanex db path)"`` or ``yanex sql``):

    SELECT name, json_extract(params, '$.learning_rate') FROM experiment_summary
    ORDER BY json_extract(metrics, '$.accuracy') DESC;

``params`` is the config as given, nested (``$.model.depth``); ``metrics`` maps each metric name to
its last logged value (a name with dots needs quotes: ``$."train.loss"``); ``tags`` is a JSON array.

A later revision that rebuilds experiments, tags or latest_metrics in batch mode must drop this
view first and create it again afterwards: SQLite refuses to rename a table under a view that
names it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 19:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CREATE_VIEW = """
CREATE VIEW experiment_summary AS
SELECT
    e.id,
    e.name,
    e.description,
    e.status,
    e.script_path,
    e.working_dir,
    e.script_args,
    e.created_at,
    e.started_at,
    e.ended_at,
    e.duration,
    e.exit_code,
    e.error_message,
    e.batch_id,
    e.retry_of,
    e.archived,
    e.git_commit,
    e.git_branch,
    e.git_dirty,
    e.python_version,
    e.platform,
    e.hostname,
    e.yanex_version,
    (SELECT json_group_array(t.tag) FROM (
        SELECT tag FROM tags WHERE tags.experiment_id = e.id ORDER BY tag
    ) AS t) AS tags,
    json(e.config) AS params,
    (SELECT json_group_object(m.key, CASE WHEN m.value_json IS NULL THEN m.value ELSE json(m.value_json) END)
     FROM latest_metrics AS m WHERE m.experiment_id = e.id) AS metrics
FROM experiments AS e
"""


def upgrade() -> None:
    op.execute(CREATE_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW experiment_summary")
