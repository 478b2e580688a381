"""Whether the process answerable for an open row may still write to it. Standard library only:
readers check owners before deciding to load the write path at all.

An owner on this host is alive while its process is (a pid reused by a newer process does not
count); a stopped (SIGSTOP, Ctrl-Z) or slow owner is alive. An owner on another host is alive
while its heartbeat is fresher than ``config.stale_after()``.
"""

from __future__ import annotations

import os
import socket
import sys
from datetime import UTC, datetime, timedelta

# A process's start time read from /proc (boot time + ticks) moves with every step of the wall
# clock since, so a live owner could look younger than its row by as much as the clock was stepped:
# a generous margin, because taking a live owner for dead is far worse than keeping a dead one's
# row open a little longer (a pid reused within minutes of the row starting is rare).
_START_SLACK = timedelta(minutes=10)


def _started_at(pid: int) -> datetime | None:
    """When ``pid`` started (naive UTC), from /proc; None where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            ticks = int(handle.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/stat", "rb") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith(b"btime "))
        seconds = boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def process_alive(pid: int, *, started_by: datetime | None = None) -> bool:
    """True while ``pid`` runs (and, given ``started_by``, started no later than that: a newer
    process has reused the pid). A zombie counts as dead (an orphan's zombie may never be reaped
    when PID 1 does not reap, as in many containers)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            if handle.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                return False
    except OSError:  # gone since the kill above, or no /proc at all (macOS)
        return sys.platform != "linux"
    if started_by is not None:
        started = _started_at(pid)
        if started is not None and started > started_by + _START_SLACK:
            return False
    return True


def owner_may_be_alive(
    host: str | None,
    pid: int | None,
    heartbeat_at: datetime | None,
    owned_since: datetime | None,
    now: datetime,
    fresh: timedelta,
) -> bool:
    """Whether the process answerable for a row may still write to it (see the module docstring).

    ``owned_since`` is a moment the owner already existed at (the row's ``started_at`` or else
    its ``created_at``): a process with that pid started later is another one. ``fresh`` is how
    long an owner on another host may stay silent (``config.stale_after``).
    """
    if host is None and pid is None:
        return False
    if host == socket.gethostname():
        return pid is not None and process_alive(pid, started_by=owned_since)
    return heartbeat_at is not None and now - heartbeat_at <= fresh
