"""``yanex sql``: ad-hoc, read-only SQL on the database."""

from __future__ import annotations

from typing import Annotated

import typer

from yanex.cli.render import FormatOpt, OutputFormat


def sql_command(
    statement: Annotated[
        str, typer.Argument(metavar="SQL", help="One SELECT (or read-only PRAGMA) statement.")
    ],
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Run one read-only SQL statement; anything that would write is refused and changes nothing.

    Tables: experiments, tags, params, metrics, latest_metrics, batches, git_patches, and the
    experiment_summary view (one row per experiment; params and metrics as JSON objects).
    JSON output is an array of objects keyed by column name; a repeated name gets a suffix in
    every format (SELECT 1 AS a, 2 AS a gives columns a and a_2). The table rounds numbers to 6
    significant digits; CSV and JSON keep every digit, JSON writes NaN and infinities as null.

    Examples:

      yanex sql "SELECT status, count(*) AS n FROM experiments GROUP BY status"

      yanex sql "SELECT name, json_extract(params, '$.learning_rate') AS lr FROM experiment_summary
      ORDER BY json_extract(metrics, '$.accuracy') DESC LIMIT 5"

      yanex sql "SELECT key, count(*) FROM metrics GROUP BY key" --format csv
    """
    from yanex.cli.render import print_rows
    from yanex.db.engine import Database
    from yanex.store.sql import run_sql

    result = run_sql(Database().url, statement)
    records = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    print_rows(fmt, result.columns, result.rows, records)
