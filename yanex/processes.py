"""A script must not outlive the yanex process that supervises it, even one killed outright.

Linux only. The kernel's parent-death signal stops the script itself when its supervisor dies
(``dying_with_parent``). What the script started is found afterwards by the experiment id: every
process of its tree inherits ``YANEX_EXPERIMENT_ID`` in its environment unless it replaces its
environment, and the next yanex command that settles the dead supervisor's row kills those
(``kill_leftovers``). Elsewhere than Linux neither happens. Standard library only: readers
settling a dead owner's rows use it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from functools import cache

from yanex import config

_STARTTIME = 19  # index of starttime among the fields after the command name in /proc/<pid>/stat
_KILL_ROUNDS = 20  # a tree forking while it is killed needs a few passes
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_PR_SET_NAME = 15


@cache
def _prctl() -> Callable[..., int]:
    import ctypes

    prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    return prctl


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Have the kernel send ``signum`` to this process when the thread that started it ends."""
    if sys.platform == "linux":
        _prctl()(_PR_SET_PDEATHSIG, signum, 0, 0, 0)


def call_this_process(name: str) -> None:
    """The name ``ps -o comm`` and ``top`` show for this process (its first 15 bytes)."""
    if sys.platform == "linux":
        _prctl()(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def dying_with_parent(
    argv: list[str], signum: int = signal.SIGTERM
) -> tuple[list[str], Callable[[], None] | None]:
    """The command and ``preexec_fn`` that start ``argv`` so that it gets ``signum`` when the
    thread starting it ends (start children only from a thread that outlives them).

    Through util-linux's ``setpriv --pdeathsig`` where it can (one more exec, under a
    millisecond), else a ``preexec_fn``, which makes Python fork this whole process instead of
    vforking it (3 to 6 ms per experiment in an orchestrator). A parent killed in the millisecond
    before ``setpriv`` set the signal leaves the child to ``kill_leftovers``. Off Linux: ``argv``
    unchanged."""
    if sys.platform != "linux":
        return argv, None
    setpriv = _setpriv()
    if setpriv is not None:
        return [setpriv, "--pdeathsig", signal.Signals(signum).name.removeprefix("SIG"), "--", *argv], None
    prctl, parent = _prctl(), os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() != parent:  # gone before the signal was set
            os.kill(os.getpid(), signum)

    return argv, hook


@cache
def _setpriv() -> str | None:
    """``setpriv`` if it takes ``--pdeathsig`` (util-linux 2.33, 2018, and later)."""
    path = shutil.which("setpriv")
    if path is None:
        return None
    try:
        usage = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return path if "--pdeathsig" in usage else None


def marker(experiment_id: str) -> bytes:
    return f"{config.EXPERIMENT_ID_ENV}={experiment_id}".encode()


def stat_fields(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name; None once it has exited."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:  # exited, or no /proc
        return None
    return stat[stat.rindex(b")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot."""
    fields = stat_fields(pid)
    return None if fields is None else int(fields[_STARTTIME])


def marked(markers: Collection[bytes], since: int = 0) -> list[int]:
    """Running processes (not this one) started at or after ``since`` (clock ticks) whose
    environment holds one of ``markers``: one pass over ``/proc`` however many markers."""
    wanted = frozenset(markers)
    found = []
    me = os.getpid()
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == me:
                continue
            fields = stat_fields(int(entry.name))
            if fields is None or fields[0] == b"Z" or int(fields[_STARTTIME]) < since:
                continue
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as handle:
                    if not wanted.isdisjoint(handle.read().split(b"\0")):
                        found.append(int(entry.name))
            except OSError:  # exited, or another user's process
                continue
    return found


def kill_leftovers(experiment_ids: Collection[str], patience: float = 5.0) -> list[int]:
    """SIGKILL every process of these experiments still running on this machine, and wait (up to
    ``patience`` seconds) until they are gone, so that their journals have their last lines.
    For rows whose supervisor died: nothing may run on unrecorded. Returns the pids killed."""
    markers = {marker(experiment_id) for experiment_id in experiment_ids}
    killed: list[int] = []
    deadline = time.monotonic() + patience
    for _ in range(_KILL_ROUNDS):
        found = marked(markers)
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed += [pid for pid in found if pid not in killed]
        while (found := [pid for pid in found if _running(pid)]) and time.monotonic() < deadline:
            time.sleep(0.01)
    return killed


def _running(pid: int) -> bool:
    fields = stat_fields(pid)
    return fields is not None and fields[0] != b"Z"
