"""``yanex list``: the matching experiments, newest first, one per row."""

from __future__ import annotations

from typing import Any

from yanex.cli.render import FORMAT, OutputFormat
from yanex.cli.spec import Command, FilterOptions

COLUMNS = ["id", "name", "status", "tags", "started", "duration"]
# The record's fields a listing's JSON carries (``yanex show --format json`` has them all).
JSON_FIELDS = (
    "id",
    "name",
    "status",
    "tags",
    "created_at",
    "started_at",
    "ended_at",
    "duration",
    "script_path",
    "batch_id",
    "retry_of",
    "archived",
)
SHOWN = {"started_at": "started"}  # sort names of columns shown under another name


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
    from yanex.cli.render import Seconds, format_time, print_rows, shown_ids, status_style
    from yanex.cli.store import store
    from yanex.store.reading import reading
    from yanex.store.records import field_values, find_records
    from yanex.terminal import tag_list

    flt = filters.build()
    columns, extra = list(COLUMNS), {}
    # The sort key is always a column: a list sorted by accuracy shows the accuracy.
    sort_column = flt.sort is not None and SHOWN.get(flt.sort, flt.sort) not in COLUMNS
    with reading(store()) as conn:
        experiments = find_records(conn, flt)
        ids = shown_ids(conn, [e.id for e in experiments])
        if flt.sort is not None and sort_column:
            columns.append(flt.sort)
            extra = field_values(conn, [e.id for e in experiments], flt.sort)
    rows = [
        [
            ids[e.id],
            e.name or "",
            e.status.value,
            tag_list(e.tags),
            format_time(e.started_at),
            None if e.duration is None else Seconds(e.duration),
            *([extra.get(e.id)] if sort_column else []),
        ]
        for e in experiments
    ]
    records: list[dict[str, Any]] = [{name: getattr(e, name) for name in JSON_FIELDS} for e in experiments]
    styles = {(r, 2): status_style(e.status.value) for r, e in enumerate(experiments)}
    print_rows(fmt, columns, rows, records, styles=styles)


COMMAND = Command(list_command, (FORMAT,), filters=("select", "archive", "order"))
