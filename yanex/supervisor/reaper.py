"""No process outlives its experiment: what a script leaves behind is found and killed when it ends.

Linux only, through ``/proc``. ``yanex run`` and batch workers are processes yanex owns whose only
children are scripts: they make themselves child subreapers, so orphans of a script's tree, a
double-forked ``setsid`` daemon included, re-parent to them instead of init, and every survivor is
among their descendants (read from ``/proc/<pid>/task/<tid>/children``, a few microseconds).

A sequential batch (``parallel=None``) supervises from the user's own process, which yanex does not
make a subreaper (its other orphans would become its zombies). There survivors are found by the
experiment id in their environment, which every descendant inherits unless it replaces its
environment; only processes started after the script are read, one scan of ``/proc`` per script.
Elsewhere than Linux nothing is found and the script's process group is all that is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from yanex.processes import marked, marker, start_ticks

_PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>
_ROUNDS = 20  # a tree forking while it is killed needs a few passes
_subreaper = False


def become_subreaper() -> None:
    """Make this process the reaper of its children's orphans; only in processes yanex owns."""
    global _subreaper
    if sys.platform == "linux" and not _subreaper:
        import ctypes

        _subreaper = ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as handle:
                found += map(int, handle.read().split())
    return found


def _descendants(pid: int) -> list[int]:
    found, todo = [], _children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo += _children(child)
    return found


class Sweeper:
    """Kills and reaps every process an experiment's script left behind."""

    def __init__(self, experiment_id: str) -> None:
        self.marker = marker(experiment_id)
        self.since: int | None = None
        # Children this process had before the script: not the script's (none in yanex's own).
        self.spared = frozenset(_children(os.getpid())) if _subreaper else frozenset()

    def started(self, script_pid: int) -> None:
        """Note when the script started: its descendants started no earlier."""
        self.since = start_ticks(script_pid)

    def sweep(self, script_pid: int) -> None:
        """SIGKILL the script's descendants; reap those that are our children, except the script
        itself (its ``Popen`` reaps it, or would read a wrong exit status)."""
        me = os.getpid()
        for _ in range(_ROUNDS):
            if _subreaper:
                targets = [pid for pid in _descendants(me) if pid not in self.spared]
            elif self.since is not None:
                targets = marked({self.marker}, self.since)
            else:
                return
            if not targets or targets == [script_pid]:
                return
            for pid in targets:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if _subreaper:  # our children among them become our zombies: reap them
                for pid in set(_children(me)) - self.spared - {script_pid}:
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, 0)
