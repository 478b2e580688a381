"""No process outlives its experiment: what a script leaves behind is found and killed when it ends.

A script's descendants are found two ways (Linux, through ``/proc``): by the experiment id in their
environment, which every descendant inherits unless it replaces its environment, and, in a process
that made itself a child subreaper (``yanex run`` and batch workers), as its own children: orphans
of the script's tree, a double-forked ``setsid`` daemon included, re-parent to the subreaper instead
of init. The calling process of a sequential batch (``parallel=None``) is the user's own and is not
made a subreaper; there only the environment finds them. Elsewhere than Linux, nothing is found and
the script's process group is all that is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from yanex import config

_PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>
_ROUNDS = 20  # a tree forking while it is killed needs a few passes
_subreaper = False


def become_subreaper() -> None:
    """Make this process the reaper of its children's orphans; only in processes yanex owns."""
    global _subreaper
    if sys.platform == "linux" and not _subreaper:
        import ctypes

        _subreaper = ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, state) of every process; empty without ``/proc``."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    stat = handle.read()
            except OSError:  # exited meanwhile
                continue
            state, ppid = stat[stat.rindex(b")") + 2 :].split()[:2]
            found.append((int(entry.name), int(ppid), state.decode()))
    return found


def _has_marker(pid: int, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return marker in handle.read().split(b"\0")
    except OSError:  # exited, or another user's process
        return False


def own_children() -> frozenset[int]:
    """This process's children now: spared by ``Sweeper`` (they are not the script's)."""
    me = os.getpid()
    return frozenset(pid for pid, ppid, _ in _processes() if ppid == me) if _subreaper else frozenset()


class Sweeper:
    """Kills and reaps every process an experiment's script left behind."""

    def __init__(self, experiment_id: str) -> None:
        self.marker = f"{config.EXPERIMENT_ID_ENV}={experiment_id}".encode()
        self.spared = own_children()

    def sweep(self, script_pid: int | None) -> None:
        """SIGKILL the script's descendants; reap those that are our children, except the script
        itself (its ``Popen`` reaps it, or would read a wrong exit status)."""
        me = os.getpid()
        for _ in range(_ROUNDS):
            targets: list[tuple[int, int]] = []
            for pid, ppid, state in _processes():
                if pid == me or pid in self.spared:
                    continue
                adopted = _subreaper and ppid == me and pid != script_pid
                if state == "Z":  # already dead: only our own zombies need reaping
                    if adopted:
                        targets.append((pid, ppid))
                elif adopted or _has_marker(pid, self.marker):
                    targets.append((pid, ppid))
            if not targets:
                return
            for pid, _ in targets:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            for pid, ppid in targets:
                if ppid == me and pid != script_pid:
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, 0)
