"""``yanex list``: the matching experiments, newest first, one per row."""

from __future__ import annotations

from typing import Any

from yanex.cli.render import FORMAT, OutputFormat
from yanex.cli.spec import Command, FilterOptions

COLUMNS = ["id", "name", "status", "tags", "started", "duration"]


def list_command(fmt: OutputFormat, *, filters: FilterOptions) -> None:
    """List experiments, newest first (archived ones only with --archived or --all).

    Piped output is a plain table whose header line goes to stderr, so `| head -n 1` is the first
    experiment; use --format json/csv/markdown for other tools. An empty match prints no rows (or
    []) and exits 0.

    Examples:

      yanex list --tag grid-search

      yanex list -s completed -s failed --started-after yesterday

      yanex list --where "learning_rate > 0.01 and metrics.accuracy >= 0.9"

      yanex list --tag grid-search --status completed --sort metrics.accuracy --desc --limit 1

      yanex list --name 'grid-*' --format json
    """
    from yanex.cli.render import format_duration, format_time, print_rows, status_style
    from yanex.cli.store import store
    from yanex.store.reads import find_records
    from yanex.terminal import tag_list

    experiments = find_records(store(), filters.build())
    rows = [
        [
            e.id,
            e.name or "",
            e.status.value,
            tag_list(e.tags),
            format_time(e.started_at),
            format_duration(e.duration),
        ]
        for e in experiments
    ]
    records: list[dict[str, Any]] = [
        {
            "id": e.id,
            "name": e.name,
            "status": e.status.value,
            "tags": e.tags,
            "created_at": e.created_at,
            "started_at": e.started_at,
            "ended_at": e.ended_at,
            "duration": e.duration,
            "script": e.script_path,
            "batch_id": e.batch_id,
            "archived": e.archived,
        }
        for e in experiments
    ]
    styles = {(r, 2): status_style(e.status.value) for r, e in enumerate(experiments)}
    print_rows(fmt, COLUMNS, rows, records, styles=styles)


COMMAND = Command(list_command, (FORMAT,), filters=("select", "archive", "order"))
