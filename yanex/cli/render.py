"""Output shared by the query commands: tables, JSON, CSV, Markdown and key/value sections.

Piped output is plain and stable (no colour, no wrapping, no box drawing) so scripts can parse it;
a terminal gets rich tables. rich honours ``NO_COLOR`` itself. User text is escaped in every
format (``yanex.terminal``): no control character reaches the terminal and a newline never splits
a table row; CSV keeps newlines and tabs inside quoted fields, JSON spells them as JSON does. rich,
json and csv load only when used: this module is imported by ``yanex --help``.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from yanex.cli.spec import Param
from yanex.display import format_float
from yanex.terminal import json_printable, printable

if TYPE_CHECKING:
    import sqlite3


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MARKDOWN = "markdown"


class DetailFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


FORMAT = Param("fmt", ("--format", "-f"), OutputFormat, OutputFormat.TABLE, "Output format.")
DETAIL_FORMAT = Param("fmt", ("--format", "-f"), DetailFormat, DetailFormat.TABLE, "Output format.")


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """One line (or ``text`` as is without ``nl``) to stdout or stderr."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text + ("\n" if nl else ""))


STATUS_STYLES = {
    "completed": "green",
    "failed": "red",
    "cancelled": "yellow",
    "pruned": "magenta",
    "running": "cyan",
    "queued": "blue",
    "created": "dim",
}


def pretty() -> bool:
    """Whether stdout is a terminal (rich output) rather than a pipe or file (plain output)."""
    return sys.stdout.isatty()


def format_time(moment: datetime | None) -> str:
    """Local wall-clock time to the second, as users read it."""
    return "" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


class Seconds(float):
    """A duration: ``0.72s`` or ``3m 05s`` for people, the number of seconds for programs."""


class ShownId(str):
    """An id: its shortest unique prefix for people, all 32 digits for programs (CSV)."""

    short: str

    def __new__(cls, full: str, short: str) -> ShownId:
        made = super().__new__(cls, full)
        made.short = short
        return made


def shown_ids(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, ShownId]:
    """Each id as a table cell (``ShownId``), by its full id."""
    from yanex.store.ids import short_ids

    return {full: ShownId(full, short) for full, short in short_ids(conn, ids).items()}


def cell(value: Any, *, exact: bool = False) -> str:
    """One value as text: JSON for structures, empty for missing, floats to 6 significant digits
    for people (``yanex.display.format_float``: ``1.0`` stays a float) or, ``exact``, every digit
    (``repr``) for programs."""
    # Exact types first, the common ones: a compare of 1,000 runs formats 11,000 cells.
    if type(value) is str:
        return value
    if type(value) is float:
        return repr(value) if exact else format_float(value)
    if type(value) is int:
        return str(value)
    if isinstance(value, ShownId):
        return str(value) if exact else value.short
    if value is None:
        return ""
    if isinstance(value, Seconds):
        return repr(float(value)) if exact else format_duration(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if exact else format_float(value)
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, sort_keys=True)
    return str(value)


def _finite(data: Any) -> Any:
    """``data`` with every NaN or infinite float replaced by None, which JSON can carry."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data


def to_json(data: Any) -> str:
    """Stable JSON for scripts: ISO-8601 UTC times, keys in a fixed order, NaN and infinities null.

    Python would write them as the bare words NaN and Infinity, which no strict JSON parser reads.
    """
    import json

    def default(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        raise TypeError(f"cannot encode {type(value).__name__}")

    text = json.dumps(_finite(data), indent=2, default=default, ensure_ascii=False, allow_nan=False)
    return json_printable(text)


def print_json(data: Any) -> None:
    echo(to_json(data))


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    styles: dict[tuple[int, int], str] | None = None,
) -> None:
    """Aligned columns; ``styles`` maps (row, column) to a rich style, shown on a terminal only.

    Piped, the header line is written to stderr and the rows to stdout.
    """
    columns = [printable(name) for name in columns]
    rows = [[printable(value) for value in row] for row in rows]
    if pretty():
        from rich import box
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        # Two spaces between columns, as piped: `yanex list` then fits an 80-column terminal
        # without folding its times (three, rich's default, folded them).
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
        for name in columns:
            table.add_column(Text(name), overflow="fold")  # Text: a name is not rich markup
        for r, row in enumerate(rows):
            table.add_row(*(Text(value, style=(styles or {}).get((r, c), "")) for c, value in enumerate(row)))
        Console().print(table)
        return
    widths = [max(map(len, column)) for column in zip(columns, *rows, strict=True)]
    line = "  ".join(f"{{:<{width}}}" for width in widths)  # one format call per row: 1,000 rows
    # The header goes to stderr: a person still sees it, while a pipe gets only rows, so that
    # `yanex list ... | head -n 1` is an experiment and `| wc -l` counts experiments.
    echo(line.format(*columns).rstrip(), err=True)
    if rows:
        echo("\n".join(line.format(*row).rstrip() for row in rows))


def print_csv(columns: Sequence[str], rows: Sequence[Sequence[str]], *, head: bool = True) -> None:
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    if head:
        writer.writerow([printable(name, keep="\n\t") for name in columns])
    writer.writerows([printable(value, keep="\n\t") for value in row] for row in rows)


def print_markdown(columns: Sequence[str], rows: Sequence[Sequence[str]], *, head: bool = True) -> None:
    def escape(value: str) -> str:
        return printable(value).replace("|", "\\|")

    if head:
        echo("| " + " | ".join(escape(c) for c in columns) + " |")
        echo("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        echo("| " + " | ".join(escape(v) for v in row) + " |")


def print_rows(
    fmt: OutputFormat,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    records: Any,
    *,
    styles: dict[tuple[int, int], str] | None = None,
) -> None:
    """``rows`` (values, made text by ``cell``) as a table, CSV or Markdown; ``records`` (the JSON
    form) for ``--format json``.

    Tables and Markdown are read by people and round numbers to 6 significant digits; CSV and JSON
    are read by programs and keep every digit.
    """
    if fmt is OutputFormat.JSON:
        print_json(records)
    elif fmt is OutputFormat.CSV:
        print_csv(columns, [[cell(value, exact=True) for value in row] for row in rows])
    elif fmt is OutputFormat.MARKDOWN:
        print_markdown(columns, [[cell(value) for value in row] for row in rows])
    else:
        print_table(columns, [[cell(value) for value in row] for row in rows], styles=styles)


_T = TypeVar("_T")
STREAM_CHUNK = 1000  # rows a streamed table sizes its columns from


def stream_rows(
    fmt: OutputFormat,
    columns: Sequence[str],
    items: Iterable[_T],
    row: Callable[[_T], Sequence[Any]],
    record: Callable[[_T], Any],
) -> int:
    """``print_rows`` for items that come one by one (a million points of a sweep), written as they
    come and never all held: ``row`` of each as a table, CSV or Markdown line, ``record`` of each
    for ``--format json``. The text is ``print_rows``'s, except that a table of more than
    ``STREAM_CHUNK`` rows has the column widths of its first ``STREAM_CHUNK``, and is plain even on
    a terminal. Returns how many items were written."""
    source = iter(items)
    count = 0
    if fmt is OutputFormat.JSON:
        out = sys.stdout
        for item in source:
            out.write(("[\n" if count == 0 else ",\n") + "  " + to_json(record(item)).replace("\n", "\n  "))
            count += 1
        out.write("[]\n" if count == 0 else "\n]\n")
        return count
    if fmt is not OutputFormat.TABLE:
        write = print_csv if fmt is OutputFormat.CSV else print_markdown
        exact = fmt is OutputFormat.CSV
        head = True
        while chunk := [
            [cell(v, exact=exact) for v in row(item)] for item in itertools.islice(source, STREAM_CHUNK)
        ]:
            write(columns, chunk, head=head)
            head, count = False, count + len(chunk)
        if head:
            write(columns, [])
        return count
    first = [[printable(cell(v)) for v in row(item)] for item in itertools.islice(source, STREAM_CHUNK)]
    following = next(source, None)
    if following is None:  # one chunk: laid out exactly, as print_table does
        print_table(columns, first)
        return len(first)
    names = [printable(name) for name in columns]
    widths = [max([len(name), *(len(line[c]) for line in first)]) for c, name in enumerate(names)]
    line = "  ".join(f"{{:<{width}}}" for width in widths)  # as print_table, one format call per row
    echo(line.format(*names).rstrip(), err=True)  # as print_table: a pipe gets only rows
    out = sys.stdout
    out.writelines(line.format(*values).rstrip() + "\n" for values in first)
    count = len(first)
    for item in itertools.chain([following], source):
        out.write(line.format(*[printable(cell(v)) for v in row(item)]).rstrip() + "\n")
        count += 1
    return count


Section = tuple[str, Sequence[tuple[str, str]]]


def print_sections(sections: Sequence[Section]) -> None:
    """Headed blocks of ``label: value`` lines; multi-line values are indented under their label.

    Newlines and tabs in values stay (descriptions, output tails): escape one-line values first.
    """
    console = None
    if pretty():
        from rich.console import Console

        console = Console(highlight=False, soft_wrap=True)
    first = True
    for title, items in sections:
        if not items:
            continue
        if not first:
            echo("")
        first = False
        if console is not None:
            from rich.markup import escape

            console.print(f"[bold]{escape(printable(title))}[/bold]")
        else:
            echo(printable(title))
        items = [(printable(label), printable(value, keep="\n\t")) for label, value in items]
        width = max(len(label) for label, _ in items)
        for label, value in items:
            lines = value.splitlines() or [""]  # only "\n" is left to split on
            echo(f"  {label.ljust(width)}  {lines[0]}".rstrip())
            for line in lines[1:]:
                echo(f"  {' ' * width}  {line}".rstrip())


def patch_text(patch: str) -> str:
    """A git patch as written, for a file or a pipe (``git apply`` needs every byte); on a terminal
    with its control characters escaped, like any other user text."""
    return printable(patch, keep="\n\t") if pretty() else patch


def status_style(status: str) -> str:
    return STATUS_STYLES.get(status, "")
