"""``yanex sql``: ad-hoc, read-only SQL on the database, its rows written as they are read."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import typer

from yanex.cli.render import FORMAT, OutputFormat
from yanex.cli.spec import REQUIRED, Command, Param

if TYPE_CHECKING:
    from pydantic import JsonValue

    from yanex.store.sql import QueryLimit, SqlQuery


def sql_command(statement: str, fmt: OutputFormat, timeout: str) -> None:
    """Run one read-only SQL statement; anything that would write is refused and changes nothing.

    Tables: experiments, tags, params, metrics, metric_summary, batches, git_patches, and the
    experiment_summary view (one row per experiment; params and metrics as JSON objects).
    JSON output is an array of objects keyed by column name; a repeated name gets a suffix in
    every format (SELECT 1 AS a, 2 AS a gives columns a and a_2). The table rounds numbers to 6
    significant digits; CSV and JSON keep every digit, JSON writes NaN and infinities as null.

    Rows are written as they are read, so any number of them fits in memory; a table sizes its
    columns from the first 1000 rows. Ctrl-C stops a query at once (exit 130).

    Examples:

      yanex sql "SELECT status, count(*) AS n FROM experiments GROUP BY status"

      yanex sql "SELECT name, json_extract(params, '$.learning_rate') AS lr FROM experiment_summary
      ORDER BY json_extract(metrics, '$.accuracy') DESC LIMIT 5"

      yanex sql "SELECT key, count(*) FROM metrics GROUP BY key" --format csv
    """
    from yanex.db.engine import Database
    from yanex.store.sql import SqlQuery, query_limit

    limit = query_limit(timeout)
    try:
        with _ctrl_c_stops(limit), SqlQuery(Database().url, statement, limit) as query:
            _write(fmt, query)
    except KeyboardInterrupt:
        typer.echo("Interrupted: the query was stopped.", err=True)
        raise typer.Exit(130) from None


@contextlib.contextmanager
def _ctrl_c_stops(limit: QueryLimit) -> Iterator[None]:
    """Ctrl-C sets the query's flag, which SQLite's progress handler reads and stops at; a
    KeyboardInterrupt raised inside SQLite's callbacks would be swallowed there."""
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: limit.interrupt())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if limit.interrupted:
        raise KeyboardInterrupt


def _write(fmt: OutputFormat, query: SqlQuery) -> None:
    from yanex.cli.render import cell, print_table, to_json

    columns = query.columns
    chunks = query.chunks()
    out = sys.stdout
    if fmt is OutputFormat.JSON:
        first = True
        for chunk in chunks:
            for row in chunk:
                record = to_json(dict(zip(columns, row, strict=True)))
                out.write(("[\n" if first else ",\n") + "  " + record.replace("\n", "\n  "))
                first = False
        out.write("[]\n" if first else "\n]\n")
    elif fmt is OutputFormat.CSV:
        import csv

        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for chunk in chunks:
            writer.writerows([cell(value, exact=True) for value in row] for row in chunk)
    elif fmt is OutputFormat.MARKDOWN:

        def escape(value: str) -> str:
            return value.replace("|", "\\|").replace("\n", " ")

        out.write("| " + " | ".join(escape(c) for c in columns) + " |\n")
        out.write("|" + "|".join("---" for _ in columns) + "|\n")
        for chunk in chunks:
            out.writelines("| " + " | ".join(escape(cell(v)) for v in row) + " |\n" for row in chunk)
    else:
        first_chunk = [[cell(value) for value in row] for row in next(chunks, [])]
        rest = _text_rows(chunks)
        following = next(rest, None)
        if following is None:  # one chunk: the whole result, laid out exactly
            print_table(columns, first_chunk)
            return
        # More rows than one chunk: columns sized from the first, every row written as it comes.
        widths = [max([len(name), *(len(row[c]) for row in first_chunk)]) for c, name in enumerate(columns)]

        def aligned(line: Sequence[str]) -> str:
            return "  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip()

        typer.echo(aligned(columns), err=True)  # as print_table: a pipe gets only rows
        out.writelines(aligned(row) + "\n" for row in first_chunk)
        out.write(aligned(following) + "\n")
        out.writelines(aligned(row) + "\n" for row in rest)
    out.flush()


def _text_rows(chunks: Iterator[list[list[JsonValue]]]) -> Iterator[list[str]]:
    from yanex.cli.render import cell

    for chunk in chunks:
        for row in chunk:
            yield [cell(value) for value in row]


COMMAND = Command(
    sql_command,
    (
        Param("statement", (), str, REQUIRED, "One SELECT (or read-only PRAGMA) statement.", metavar="SQL"),
        FORMAT,
        Param(
            "timeout",
            ("--timeout",),
            str,
            "60s",  # yanex.store.sql.DEFAULT_TIMEOUT, not imported: that module loads only when a query runs
            "Stop a query that keeps SQLite busy longer than DURATION (90, 90s, 5m, 2h, 1h30m).",
            metavar="DURATION",
        ),
    ),
)
