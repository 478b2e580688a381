"""Moving an experiment's metrics journal into the database: resumable, idempotent, by anyone.

The journal (``metrics.jsonl``, appended by ``yanex.run_api``) is the record of what a script
logged; ``experiments.metrics_offset`` says how many of its bytes are in the database. One step
reads complete lines past that offset and, in one transaction, advances the offset only if it is
still where the step began (compare and set) and inserts the points. So the supervisor, a
reconciler that found the supervisor dead and ``yanex db repair`` can all ingest the same journal,
even at once, and every point lands exactly once. Lines yanex cannot store are skipped and
counted, never allowed to stop the ingest. The same transaction keeps ``metric_summary`` current
(``yanex.store.summary``), records goal lines (``yanex.set_goal``) in ``metric_goals``, total
lines (``yanex.set_total``) in ``experiments.total_steps`` and the supervisor's environment line
(``yanex.store.environments``), so a crash between two steps leaves points, summaries, goals,
totals and packages as they were.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from yanex import config
from yanex.artifacts import lines as artifact_lines
from yanex.db.engine import Database
from yanex.specs import Status
from yanex.status import OPEN_STATUSES
from yanex.store.artifacts import record_artifacts
from yanex.store.convert import metric_value, now_utc
from yanex.store.dialect import sqlite_value, stored_time
from yanex.store.environments import Packages, record_environment
from yanex.store.experiments import OPEN_SQL, insert_points
from yanex.store.metric_names import GOALS, Goal
from yanex.store.summary import PointRow, set_goals

# Bytes per transaction once the script has ended (about 130,000 points of two small keys): large
# enough that a million points take a few seconds, small enough that each write stays well under a
# second and other writers get the lock in between.
FINAL_READ = 4 * 1024 * 1024
_SQLITE_INTEGER = range(-(2**63), 2**63)


class _Timestamps:
    """``logged_at`` text as ``datetime.fromtimestamp`` would give it, at a fraction of the cost:
    the journal's times share their second with the previous line most of the time."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def text(self, moment: float) -> str:
        fraction, whole = math.modf(moment)
        micros = round(fraction * 1e6)
        second = int(whole)
        if micros >= 1_000_000:
            second, micros = second + 1, micros - 1_000_000
        elif micros < 0:
            second, micros = second - 1, micros + 1_000_000
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S")
            self._second = second
        return f"{self._prefix}.{micros:06d}"


def _entries(lines: list[bytes]) -> list[Any]:
    """Decoded lines; one ``json.loads`` for a whole chunk when every line is JSON (3x faster
    than a call per line), else per line with None for each bad one."""
    try:
        entries: list[Any] = json.loads(b"[" + b",".join(lines) + b"]")
        if len(entries) == len(lines):
            return entries
    except (ValueError, RecursionError):
        pass
    decoded: list[Any] = []
    for line in lines:
        try:
            decoded.append(json.loads(line))
        except (ValueError, RecursionError):
            decoded.append(None)
    return decoded


def _storable_key(key: str) -> bool:
    """A lone surrogate (``os.fsdecode(b"file\\xff.txt")``) cannot be written as UTF-8 text."""
    try:
        key.encode()
    except UnicodeEncodeError:
        return False
    return True


class Parsed(NamedTuple):
    """What complete journal lines hold: points, goals declared (``yanex.set_goal``, the last
    declaration of a key wins), how many lines could not be stored, the last total of steps
    declared (``yanex.set_total``) and the installed packages (the supervisor's line), if any."""

    points: list[PointRow]
    skipped: int
    goals: dict[str, Goal]
    total: int | None = None
    environment: Packages | None = None


def _goals(entry: Any) -> dict[str, Goal] | None:
    """A goal line's declarations (``{"goals": {"loss": "min"}, "t": ...}``), None if it is none."""
    declared = entry.get("goals") if type(entry) is dict else None
    if type(declared) is not dict or not declared:
        return None
    if not all(goal in GOALS and _storable_key(key) for key, goal in declared.items()):
        return None
    return declared


def _total(entry: Any) -> int | None:
    """A total line's steps (``{"total": 500, "t": ...}``), None if it is none."""
    total = entry.get("total") if type(entry) is dict else None
    return total if type(total) is int and 0 < total < 2**63 else None


def parse_journal(experiment_id: str, lines: list[bytes]) -> Parsed:
    """The points and goals of complete journal lines and how many lines could not be stored.

    The hot loop of every ingest (a million points in a few seconds): one pass, no call for the
    common finite float.
    """
    points: list[PointRow] = []
    append = points.append
    skipped = 0
    goals: dict[str, Goal] = {}
    total: int | None = None
    environment: Packages | None = None
    stamp = _Timestamps().text
    good_keys: set[str] = set()
    for entry in _entries(lines):
        try:
            step, values, logged_at = entry["step"], entry["values"], stamp(entry["t"])
        except (TypeError, KeyError, ValueError, OverflowError, OSError):
            declared, steps = _goals(entry), _total(entry)
            packages = Packages.from_json(entry.get("environment")) if type(entry) is dict else None
            if declared is not None:
                goals.update(declared)
            elif steps is not None:
                total = steps
            elif packages is not None:
                environment = packages
            else:
                skipped += 1
            continue
        if type(step) is not int or step not in _SQLITE_INTEGER or type(values) is not dict:
            skipped += 1
            continue
        first = len(points)
        for key, raw in values.items():
            if key not in good_keys:
                if not _storable_key(key):
                    del points[first:]
                    skipped += 1
                    break
                good_keys.add(key)
            # x - x is 0.0 for a finite float, NaN for NaN and the infinities.
            if type(raw) is float and raw - raw == 0.0:
                append((experiment_id, key, step, raw, None, logged_at))
            else:
                append((experiment_id, key, step, *metric_value(raw), logged_at))
    return Parsed(points, skipped, goals, total, environment)


def _read_lines(path: Path, offset: int, limit: int) -> tuple[bytes, bool]:
    """Complete lines from ``offset``, about ``limit`` bytes (more if one line is longer), and
    whether the read stopped at its limit (more is waiting)."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read(limit)
            while len(chunk) >= limit and b"\n" not in chunk:
                more = handle.read(limit)
                if not more:
                    break
                chunk += more
    except OSError:  # no journal (yet), or unreadable: nothing to ingest now, it stays on disk
        return b"", False
    return chunk[: chunk.rfind(b"\n") + 1], len(chunk) >= limit


def stored_offset(db: Database, experiment_id: str) -> int | None:
    """How many bytes of the experiment's journal are in the database (None: no such row). Read on
    the writer, which every ingest opens anyway."""
    with db.write() as conn:
        row = conn.execute("SELECT metrics_offset FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
    return None if row is None else row[0]


class _Chunk(NamedTuple):
    """Journal bytes [start, end) parsed into points; ``full``: the read stopped at its limit."""

    start: int
    end: int
    points: list[PointRow]
    skipped: int
    goals: dict[str, Goal]
    total: int | None
    full: bool
    artifacts: list[artifact_lines.ArtifactLine]
    environment: Packages | None


class JournalIngest:
    """One experiment's journal, ingested from the offset the database holds.

    ``gone`` turns true when the row was deleted or predates ingest offsets: nothing is ingested
    then (and never into another experiment's id).
    """

    def __init__(self, db: Database, experiment_id: str) -> None:
        self.db = db
        self.experiment_id = experiment_id
        self.path = config.experiment_dir(experiment_id) / config.METRICS_FILE
        self.offset: int | None = None  # read from the database by the first step
        self.points = 0
        self.skipped = 0
        self.gone = False

    def _offset(self) -> int | None:
        if self.offset is None and not self.gone:
            self.offset = stored_offset(self.db, self.experiment_id)
            self.gone = self.offset is None
        return None if self.gone else self.offset

    def _prepare(self, start: int, limit: int) -> _Chunk:
        """Read and parse the lines from ``start``: no database access, so it can run ahead."""
        lines, full = _read_lines(self.path, start, limit)
        rows = [line for line in lines.split(b"\n") if line.strip()]
        rows, saved = artifact_lines.split(rows) if artifact_lines.PREFIX in lines else (rows, [])
        parsed = parse_journal(self.experiment_id, rows) if rows else Parsed([], 0, {})
        artifacts, unreadable = artifact_lines.parse(saved)
        skipped = parsed.skipped + unreadable
        return _Chunk(
            start,
            start + len(lines),
            parsed.points,
            skipped,
            parsed.goals,
            parsed.total,
            full,
            artifacts,
            parsed.environment,
        )

    def _commit(self, chunk: _Chunk, *, beat: bool = False) -> bool:
        """Store a chunk in one transaction if the offset is still where it starts; else follow
        the offset another process moved (or notice the row is gone) and return False."""
        with self.db.write() as conn:
            claimed = conn.execute(
                "UPDATE experiments SET metrics_offset = ? WHERE id = ? AND metrics_offset = ?",
                (chunk.end, self.experiment_id, chunk.start),
            ).rowcount
            if claimed != 1:
                row = conn.execute(
                    "SELECT metrics_offset FROM experiments WHERE id = ?", (self.experiment_id,)
                ).fetchone()
                self.offset = None if row is None else row[0]
                self.gone = self.offset is None
                return False
            # Goals first: the chunk's points are then summed up under them.
            set_goals(conn, self.experiment_id, chunk.goals)
            if chunk.total is not None:
                conn.execute(
                    "UPDATE experiments SET total_steps = ? WHERE id = ?", (chunk.total, self.experiment_id)
                )
            if chunk.environment is not None:
                record_environment(conn, self.experiment_id, chunk.environment)
            insert_points(conn, chunk.points)
            record_artifacts(conn, self.experiment_id, chunk.artifacts)
            if beat:
                conn.execute(
                    f"UPDATE experiments SET heartbeat_at = ? WHERE id = ? AND status IN {OPEN_SQL}",
                    (sqlite_value(now_utc()), self.experiment_id),
                )
        self.offset = chunk.end
        self.points += len(chunk.points)
        self.skipped += chunk.skipped
        return True

    def step(self, limit: int, *, beat: bool = False) -> bool:
        """Ingest about ``limit`` bytes in one transaction (with ``beat``, also refresh the
        heartbeat of a row still open); True if more may be waiting."""
        start = self._offset()
        if start is None:
            return False
        chunk = self._prepare(start, limit)
        if chunk.end == start and not beat:
            return False
        if not self._commit(chunk, beat=beat):
            return not self.gone
        return chunk.full

    def drain(self, limit: int = FINAL_READ) -> None:
        """Ingest every complete line, one bounded transaction at a time. (Parsing the next chunk
        on a thread while this one is written was measured slower: the binding of each row waits
        for the GIL the parser holds.)"""
        while self.step(limit):
            pass


# Recovery from a cluster worker's spool (``yanex ingest``) -------------------------------------

# Final rows whose outcome a spool may correct: recorded by someone who could not know it.
SCHEDULER_LOST = "the Dask scheduler at "  # ... went away while it ran / before it was seen to start
_LOST_PREFIXES = ("worker lost:", "the process running this experiment died", SCHEDULER_LOST)


def record_recovered(
    db: Database,
    experiment_id: str,
    status: Status,
    exit_code: int | None,
    error_message: str | None,
    ended_at: datetime,
) -> bool:
    """Record the outcome a worker's spool kept for a row still open or recorded lost (its
    orchestrator died, or lost the worker or the scheduler); True if the row changed. Any other
    final row keeps what it has, so running this again changes nothing."""
    with db.write() as conn:
        row = conn.execute(
            "SELECT status, error_message, started_at FROM experiments WHERE id = ?", (experiment_id,)
        ).fetchone()
        if row is None:
            return False
        recorded, message, started_text = row
        lost = recorded in (Status.FAILED.value, Status.CANCELLED.value) and (message or "").startswith(
            _LOST_PREFIXES
        )
        if recorded not in OPEN_STATUSES and not lost:
            return False
        started_at = stored_time(started_text)
        duration = (ended_at - started_at).total_seconds() if started_at is not None else None
        conn.execute(
            "UPDATE experiments SET status = ?, ended_at = ?, duration = ?, exit_code = ?, "
            "error_message = ?, owner_host = NULL, owner_pid = NULL WHERE id = ?",
            (
                status.value,
                sqlite_value(ended_at),
                duration if duration is None or duration >= 0 else None,
                exit_code,
                error_message,
                experiment_id,
            ),
        )
    return True


__all__ = [
    "FINAL_READ",
    "SCHEDULER_LOST",
    "JournalIngest",
    "Parsed",
    "parse_journal",
    "record_recovered",
    "stored_offset",
]
