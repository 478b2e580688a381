"""``yanex watch``: a live table of running and just-finished experiments.

Read-only: every refresh is one read snapshot (``reading(db, settle=False)``), and nothing is
written, not even the settling of dead owners other readers do, so a run whose process died shows as stale
(its last point ages) rather than failed. On a terminal the table is redrawn in the alternate
screen about once a second until ``q`` or Ctrl-C, and the terminal is restored however it ends;
piped, it prints one snapshot.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from yanex.cli.spec import Command, FilterOptions, Param

if TYPE_CHECKING:
    from sqlite3 import Connection

    from yanex.db.engine import Database
    from yanex.store.filters import ExperimentFilter
    from yanex.store.history import Progress

RECENT = timedelta(minutes=10)  # finished this recently: still shown
STALE_SECONDS = 30.0  # a running experiment with no point for this long stands out
SPARK = 20  # points in the trend column
INTERVAL = 1.0  # seconds between refreshes
NAME_WIDTH = 24  # longer names are cut, so that the columns after them stay on an 80-column screen
NAME_MIN = 12  # and cut shorter still, to this, when the progress column needs the room
COLUMNS = [
    "id",
    "name",
    "status",
    "progress",
    "metric",
    "step",
    "last",
    "trend",
    "rate",
    "last point",
    "others",
]


def _selected(conn: Connection, flt: ExperimentFilter, explicit_status: bool) -> list[str]:
    """The ids to show: the filter's, and without --status only running experiments and those
    that ended in the last ``RECENT`` (running first)."""
    from yanex.status import Status
    from yanex.store.selection import select_ids

    if explicit_status:
        return select_ids(conn, flt)
    running = select_ids(conn, dataclasses.replace(flt, statuses=(Status.RUNNING,)))
    since = datetime.now(UTC) - RECENT
    ended = select_ids(conn, dataclasses.replace(flt, ended_after=since))
    return list(dict.fromkeys([*running, *ended]))


def _age(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.0f}s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def time_left(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h10m``: a time left, to the second only when it is short."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole // 60 % 60:02d}m"


def progress_text(done: tuple[float, float | None] | None) -> str:
    """``42% 3m05s left``: a share of the declared total steps and the time left, if known."""
    if done is None:
        return ""
    part, seconds = done
    return f"{part:.0%}" + ("" if seconds is None else f" {time_left(seconds)} left")


def _cells(p: Progress, now: datetime, trend: bool) -> tuple[list[str], bool]:
    """One row's cells, and whether the experiment is stale (running, no point for a while)."""
    from yanex.cli.render import cell
    from yanex.plotting.sparkline import sparkline
    from yanex.store.history import completion

    age = _age(p.last_point, now)
    stale = p.status == "running" and (age is None or age > STALE_SECONDS)
    others = "  ".join(f"{k}={cell(v)}" for k, v in p.last.items() if k != p.metric)
    row = [
        p.id,
        p.name or "",
        p.status,
        progress_text(completion(p.latest_step, p.total, p.started_at, p.ended_at, now)),
        p.metric or "",
        "" if p.step is None else str(p.step),
        cell(p.last.get(p.metric)) if p.metric else "",
        sparkline(p.recent, SPARK) if trend else "",
        "" if p.rate is None else f"{p.rate:.3g}/s",
        _ago(age) + (" (stale)" if stale and age is not None else " (no point yet)" if stale else ""),
        others,
    ]
    return row, stale


def _snapshot(db: Database, flt: ExperimentFilter, explicit: bool, metric: str | None) -> list[Progress]:
    import dataclasses

    from yanex.store.history import progress
    from yanex.store.ids import short_ids
    from yanex.store.reading import reading

    with reading(db, settle=False) as conn:
        rows = progress(conn, _selected(conn, flt, explicit), metric, SPARK)
        shown = short_ids(conn, [p.id for p in rows])
    return [dataclasses.replace(p, id=shown[p.id]) for p in rows]


def _kept(rows: list[list[str]], optional: str) -> list[int]:
    """The columns to show: all but ``optional`` when no row has a value in it (no experiment
    shown declared its total steps: the column would only take room)."""
    empty = all(not cells[COLUMNS.index(optional)] for cells in rows)
    return [c for c, name in enumerate(COLUMNS) if not (empty and name == optional)]


def _fitted(rows: list[Progress], room: int) -> tuple[list[Progress], str | None]:
    """The rows that fit in ``room`` lines: every open experiment (running first, as selected),
    then the finished ones newest first; and the line saying what was left out, which takes one
    of the lines when anything is."""
    pinned = [p for p in rows if p.ended_at is None]
    ended = sorted(((p.ended_at, n) for n, p in enumerate(rows) if p.ended_at is not None), reverse=True)
    done = [rows[n] for _, n in ended]
    if len(pinned) + len(done) <= room:
        return pinned + done, None
    room -= 1  # the line that says what is not shown
    if len(pinned) >= room:
        hidden = len(pinned) - room
        finished = f", {len(done)} finished" if done else ""
        return pinned[:room], f"{hidden} more open{finished} not shown"
    shown = pinned + done[: room - len(pinned)]
    return shown, f"{len(done) - (room - len(pinned))} more finished not shown"


def _frame(rows: list[Progress], width: int, height: int, colour: bool) -> list[str]:
    """The screen, at most ``height`` lines of at most ``width`` characters: a heading, the
    table's header, every open experiment, and the finished ones newest first in what room is
    left, with a line saying how many did not fit."""
    from yanex.cli.render import status_style
    from yanex.terminal import printable

    now = datetime.now(UTC)
    running = sum(p.status == "running" for p in rows)
    head = (
        f"yanex watch  {now.astimezone():%H:%M:%S}  {running} running, {len(rows) - running} other  (q quits)"
    )
    rows, left_out = _fitted(rows, max(1, height - 3))
    made = [_cells(p, now, True) for p in rows]
    keep = _kept([cells for cells, _ in made], "progress")
    names = [COLUMNS[c] for c in keep]
    table = [[printable(cells[c]) for c in keep] for cells, _ in made]
    widths = [max([len(name), *(len(r[c]) for r in table)]) for c, name in enumerate(names)]
    # Names give way first: cut to NAME_WIDTH, and further (down to NAME_MIN) while the columns up
    # to the last value would not fit the window otherwise.
    through_last = sum(w + 2 for w in widths[: names.index("last") + 1]) if "last" in names else 0
    name_width = min(NAME_WIDTH, widths[1], max(NAME_MIN, widths[1] - max(0, through_last - width)))
    for cells in table:
        if len(cells[1]) > name_width:
            cells[1] = cells[1][: name_width - 1] + "…"
    widths[1] = min(widths[1], name_width)
    stale = [is_stale for _, is_stale in made]
    codes = {"green": 32, "red": 31, "yellow": 33, "cyan": 36, "blue": 34, "dim": 2}

    def line(cells: list[str], styles: dict[int, int]) -> str:
        text, used = "", 0
        for c, (value, w) in enumerate(zip(cells, widths, strict=True)):
            piece = (value.ljust(w) + "  ")[: max(0, width - used)]
            used += len(piece)
            text += f"\x1b[{styles[c]}m{piece}\x1b[0m" if colour and c in styles and piece else piece
        return text.rstrip()

    lines = [head[:width], "", line(names, {c: 1 for c in range(len(names))})]
    for r, (cells, is_stale) in enumerate(zip(table, stale, strict=True)):
        styles = {2: codes.get(status_style(rows[r].status), 0)}
        if is_stale:
            styles[names.index("last point")] = 91
        lines.append(line(cells, styles))
    if left_out is not None:
        lines.append(f"\x1b[2m{left_out[:width]}\x1b[0m" if colour else left_out[:width])
    if not rows:
        lines.append("(no running or recently finished experiment matches)"[:width])
    return lines


def _live(draw: Callable[[], list[str]]) -> None:
    """Redraw ``draw()``'s lines about once a second until q or Ctrl-C; the terminal's mode,
    cursor and screen are restored whatever ends it."""
    import os
    import select
    import termios
    import tty

    out = sys.stdout
    fd = sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else None
    saved = termios.tcgetattr(fd) if fd is not None else None
    out.write("\x1b[?1049h\x1b[?25l")  # alternate screen, hidden cursor
    try:
        if fd is not None:
            tty.setcbreak(fd)  # keys arrive one by one, unechoed; Ctrl-C still interrupts
        while True:
            # No newline after the last line: on the window's last row it would scroll the top away.
            out.write("\x1b[H" + "\n".join(f"{text}\x1b[K" for text in draw()) + "\x1b[J")
            out.flush()
            if fd is None:
                select.select([], [], [], INTERVAL)
            elif select.select([fd], [], [], INTERVAL)[0] and os.read(fd, 64).lower().count(b"q"):
                return
    except KeyboardInterrupt:
        return
    finally:
        if fd is not None and saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        out.write("\x1b[?25h\x1b[?1049l")
        out.flush()


def watch_command(metric: str | None, *, filters: FilterOptions) -> None:
    """Watch running and just-finished experiments live: progress and time left (of a script that
    declared its steps with yanex.set_total), the last value of each metric, a trend
    of one metric (--metric, else each experiment's first by name), steps per second, and the time
    since the last point (a running experiment silent for 30 s is marked stale).

    Without --status it shows running experiments and those that ended in the last 10 minutes.
    It refreshes about once a second; q or Ctrl-C quits. Read-only. Piped, it prints one
    snapshot (without the trend column).

    Examples:

      yanex watch

      yanex watch --tag grid-search --metric loss

      yanex watch --status running | cat
    """
    import os
    import shutil

    from yanex.cli.render import print_table
    from yanex.cli.store import store

    db = store()
    flt = filters.build()
    explicit = bool(flt.statuses)
    if not sys.stdout.isatty():
        now = datetime.now(UTC)
        rows = [_cells(p, now, False)[0] for p in _snapshot(db, flt, explicit, metric)]
        keep = [c for c in _kept(rows, "progress") if COLUMNS[c] != "trend"]
        print_table([COLUMNS[c] for c in keep], [[r[c] for c in keep] for r in rows])
        return
    colour = "NO_COLOR" not in os.environ

    def draw() -> list[str]:
        size = shutil.get_terminal_size()  # asked every time: the window may be resized
        return _frame(_snapshot(db, flt, explicit, metric), size.columns, size.lines, colour)

    _live(draw)


COMMAND = Command(
    watch_command,
    (
        Param(
            "metric",
            ("--metric", "-m"),
            str,
            None,
            "The metric whose trend and rate are shown (default: each experiment's first by name).",
        ),
    ),
    filters=("select", "archive"),
)
