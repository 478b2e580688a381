"""CPU, memory and GPU use of a running script, sampled by its supervisor into its journal.

The script does nothing for it: every ``interval`` seconds (the first sample one second after the
start, so that a short run has one) the supervisor reads ``/proc`` for the script's process tree
and NVML for the visible GPUs, and appends one journal line of ``system/...`` points, which reach
the database as every point does. The step is the sample's number (0, 1, 2...); ``logged_at``
holds its time.

- ``system/cpu_percent``: CPU time of the tree since the previous sample over the wall time, in
  percent of one core (400 is four busy cores). Times of children that exited are counted through
  their parent's ``cutime``.
- ``system/memory_mb``: the sum of the tree's resident set sizes, in MiB. A page shared by several
  processes of the tree (forked data-loader workers before they write, shared libraries) counts
  once per process, so a tree of forked workers can show more than it uses. The proportional set
  size would count it once, but reading it walks the page tables (2.6 ms per 500 MB measured) at
  every sample; RSS is one small read per process.
- ``system/gpu<i>/utilization_percent`` and ``system/gpu<i>/memory_mb``: the whole device's use
  (all its processes, not only the script's), for each GPU the script sees (``CUDA_VISIBLE_DEVICES``
  in its environment; ``i`` is its number there). Only with the extra ``[gpu]`` and a driver.

Linux only (``/proc``); elsewhere no samples are taken.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from typing import Any

from yanex import config
from yanex.processes import stat_fields
from yanex.supervisor.packages import nvml

FIRST_SAMPLE = 1.0  # seconds after the start
_PPID, _UTIME, _CUTIME = 1, 11, 13  # fields after the command name in /proc/<pid>/stat
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_MIB = 1024 * 1024


def process_tree(root: int) -> list[int]:
    """``root`` and every process descended from it that is still alive: one pass over ``/proc``
    (under a millisecond for 100 processes)."""
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                fields = stat_fields(int(entry.name))
                if fields is not None:
                    children.setdefault(int(fields[_PPID]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, ())
    return tree


def tree_usage(pids: list[int]) -> tuple[int, int]:
    """CPU clock ticks used (their own and their waited-for children's) and resident bytes."""
    ticks = resident = 0
    for pid in pids:
        fields = stat_fields(pid)
        if fields is None:
            continue
        ticks += sum(int(value) for value in fields[_UTIME : _CUTIME + 2])
        try:
            with open(f"/proc/{pid}/statm", "rb") as handle:
                resident += int(handle.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return ticks, resident


class Gpus:
    """The GPUs the script sees, through NVML; none without the library, a driver or a device."""

    def __init__(self, visible: str | None) -> None:
        self.library = nvml()
        self.handles: list[Any] = []
        if self.library is None:
            return
        try:
            count = self.library.nvmlDeviceGetCount()
            wanted = [str(n) for n in range(count)] if visible is None else visible.split(",")
            for item in (item.strip() for item in wanted):
                if item.isdigit() and int(item) < count:
                    self.handles.append(self.library.nvmlDeviceGetHandleByIndex(int(item)))
                elif item.startswith("GPU-"):
                    self.handles.append(self.library.nvmlDeviceGetHandleByUUID(item))
                else:  # CUDA stops at the first entry it cannot use, and so do we
                    break
        except Exception:  # an NVMLError
            self.handles = []

    def sample(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for number, handle in enumerate(self.handles):
            prefix = f"{config.SYSTEM_METRICS_PREFIX}gpu{number}/"
            try:
                values[prefix + "utilization_percent"] = float(
                    self.library.nvmlDeviceGetUtilizationRates(handle).gpu
                )
                values[prefix + "memory_mb"] = self.library.nvmlDeviceGetMemoryInfo(handle).used / _MIB
            except Exception:  # an NVMLError: a device lost mid-run
                continue
        return values


class SystemSampler:
    """Samples one script's tree into its journal; ``next_at`` says when (monotonic seconds)."""

    def __init__(self, journal: str, root: int, interval: float, visible_gpus: str | None) -> None:
        self.journal, self.root, self.interval = journal, root, interval
        self.step = 0
        self.last_at = time.monotonic()
        self.last_ticks = 0  # the script had used none when it started
        self.next_at = self.last_at + min(FIRST_SAMPLE, interval)
        self.gpus = Gpus(visible_gpus)

    def sample(self, now: float) -> None:
        """Append one line of the tree's use since the last sample; a journal that cannot be
        written loses the sample, never the run."""
        ticks, resident = tree_usage(process_tree(self.root))
        elapsed = now - self.last_at
        prefix = config.SYSTEM_METRICS_PREFIX
        values = {
            # A process that left the tree takes its ticks along: never a negative rate.
            f"{prefix}cpu_percent": max(0, ticks - self.last_ticks) / _TICKS / elapsed * 100
            if elapsed > 0
            else 0.0,
            f"{prefix}memory_mb": resident / _MIB,
            **self.gpus.sample(),
        }
        self.last_at, self.last_ticks = now, ticks
        self.next_at = now + self.interval
        line = json.dumps({"step": self.step, "t": time.time(), "values": values}, separators=(",", ":"))
        self.step += 1
        with contextlib.suppress(OSError):
            descriptor = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(descriptor, (line + "\n").encode())
            finally:
                os.close(descriptor)


def sampler(journal: str, root: int, interval: float, env: dict[str, str]) -> SystemSampler | None:
    """A sampler for the script ``root`` (None when ``interval`` is 0 or there is no ``/proc``)."""
    if interval <= 0 or not os.path.isdir("/proc/self"):
        return None
    return SystemSampler(journal, root, interval, env.get("CUDA_VISIBLE_DEVICES"))
