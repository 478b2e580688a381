"""What a batch shows while it runs: a live display on a terminal, one line per event otherwise.

Everything goes to stderr, so that the orchestrator script's own stdout (its results summary) stays
exactly what it prints, whether on a terminal or redirected to a file. Failures are printed the
moment they happen, not only in the summary. rich is imported only for the live display.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from yanex.specs import ExperimentResult
from yanex.store.ids import shown
from yanex.terminal import printable

if TYPE_CHECKING:
    from rich.console import RenderableType

_MARKS = {"completed": "✓", "failed": "✗", "cancelled": "⊘", "pruned": "✂"}


def label(name: str | None, experiment_id: str) -> str:
    """How the output names an experiment (escaped)."""
    return f"{printable(name)} ({experiment_id})" if name else experiment_id


def describe(result: ExperimentResult) -> str:
    """One line about a finished experiment, as the progress output and a summary show it."""
    line = f"{_MARKS[result.status]} {label(result.name, shown(result.experiment_id))} {result.status}"
    if result.duration is not None:
        line += f" in {result.duration:.2f}s"
    if result.error_message and result.status != "pruned":  # its decision's line gave the reason
        line += f": {printable(result.error_message)}"
    return line


class BatchProgress(Protocol):
    def started(self, batch_id: str, total: int, how: str) -> None:
        """``how``: where the experiments run, as a phrase (``on 4 workers``)."""
        ...

    def running(self, labels: Sequence[str]) -> None: ...

    def finished(self, result: ExperimentResult) -> None: ...

    def skipped(self, result: ExperimentResult) -> None: ...

    def unstarted(self, count: int, reason: str) -> None:
        """``count`` experiments were cancelled before they started, all for ``reason``."""
        ...

    def retrying(self, failed: ExperimentResult, attempt: int, attempts: int) -> None: ...

    def note(self, message: str) -> None: ...

    def close(self) -> None: ...


class _Counts:
    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.failed = 0
        self.cancelled = 0
        self.pruned = 0  # stopped early by the sweep's pruning: neither completed nor failed
        self.skipped = 0
        self.batch_id = ""
        self.began = time.monotonic()
        self.last_done: float | None = None  # when the last experiment that ran finished

    def count(self, result: ExperimentResult) -> None:
        self.done += 1
        self.failed += result.status == "failed"
        self.cancelled += result.status == "cancelled"
        self.pruned += result.status == "pruned"

    @property
    def completed(self) -> int:
        return self.done - self.failed - self.cancelled - self.pruned

    def unstarted(self, count: int, reason: str) -> str:
        self.done += count
        self.cancelled += count
        experiments = f"{count} experiment{'s' * (count != 1)}"
        return f"{_MARKS['cancelled']} {experiments} that had not started: cancelled ({reason})"

    def summary(self) -> str:
        return (
            f"batch {self.batch_id}: {self.completed} completed, "
            + (f"{self.pruned} pruned, " if self.pruned else "")
            + f"{self.failed + self.cancelled} failed or cancelled, in {time.monotonic() - self.began:.1f}s"
        )

    def final_line(self) -> str:
        """The line a live display leaves behind: counts, time, and how to look at the batch."""
        parts = [f"{self.completed} completed", f"{self.failed} failed"]
        if self.pruned:
            parts.append(f"{self.pruned} pruned")
        if self.cancelled:
            parts.append(f"{self.cancelled} cancelled")
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        if self.done < self.total:
            parts.append(f"{self.total - self.done} not run")
        return (
            f"batch {self.batch_id}: {', '.join(parts)} in {time.monotonic() - self.began:.1f} s "
            f"— yanex list --batch {self.batch_id}"
        )

    def eta(self, now: float) -> float | None:
        """Seconds left at the pace so far, counting down between finishes; None before the first."""
        ran = self.done - self.skipped
        if ran <= 0 or self.last_done is None:
            return None
        per_experiment = (self.last_done - self.began) / ran
        return max(0.0, self.last_done + per_experiment * (self.total - self.done) - now)


class PlainProgress:
    """One line per event on stderr: for logs, pipes, CI and ``verbose=True``."""

    def __init__(self) -> None:
        self._counts = _Counts()

    def _print(self, line: str) -> None:
        print(f"yanex: {line}", file=sys.stderr, flush=True)

    def started(self, batch_id: str, total: int, how: str) -> None:
        self._counts.batch_id, self._counts.total = shown(batch_id), total
        self._print(f"batch {shown(batch_id)}: {total} experiment{'s' * (total != 1)} {how}")

    def running(self, labels: Sequence[str]) -> None:
        pass  # a line per start would double the output for no new information

    def finished(self, result: ExperimentResult) -> None:
        self._counts.count(result)
        self._print(f"[{self._counts.done}/{self._counts.total}] {describe(result)}")

    def skipped(self, result: ExperimentResult) -> None:
        self._counts.count(result)
        self._print(
            f"[{self._counts.done}/{self._counts.total}] = {label(result.name, shown(result.experiment_id))} "
            "already completed; skipped"
        )

    def unstarted(self, count: int, reason: str) -> None:
        line = self._counts.unstarted(count, reason)
        self._print(f"[{self._counts.done}/{self._counts.total}] {line}")

    def retrying(self, failed: ExperimentResult, attempt: int, attempts: int) -> None:
        self._print(f"↻ {describe(failed)}; retrying (try {attempt} of {attempts})")

    def note(self, message: str) -> None:
        self._print(printable(message))

    def close(self) -> None:
        if self._counts.batch_id:
            self._print(self._counts.summary())


_MIN_BAR = 10  # columns


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class LiveProgress:
    """A live display on stderr while the batch runs: a bar with counts (✓ completed, ✗ failed or
    cancelled, ▶ running), elapsed time and an ETA that counts down, and a line naming what runs.
    Failures and notes are printed above it and stay; at the end it leaves one summary line."""

    def __init__(self) -> None:
        from rich.console import Console, Group
        from rich.live import Live
        from rich.text import Text

        self._counts = _Counts()
        self._running: list[str] = []
        self._text = Text
        self._group = Group
        self._console = Console(stderr=True, highlight=False)
        self._live = Live(
            console=self._console,
            transient=True,
            auto_refresh=True,
            refresh_per_second=4,
            get_renderable=self._render,
        )

    def _render(self) -> RenderableType:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        counts, now = self._counts, time.monotonic()
        completed = counts.completed
        eta = "…" if (left := counts.eta(now)) is None else _clock(left)
        numbers = (completed, counts.failed + counts.cancelled, len(self._running))
        words = ("completed", "failed", "running")
        title = f"batch {counts.batch_id}"
        for legend in (True, False):  # the words are the legend; dropped when they do not fit
            marks = [
                f"{mark} {n}{' ' + word if legend else ''}"
                for mark, n, word in zip("✓✗▶", numbers, words, strict=True)
            ]
            elapsed = _clock(now - counts.began)
            status = f"{counts.done}/{counts.total}  {'  '.join(marks)}  {elapsed} elapsed, ETA {eta}"
            room = self._console.width - len(title) - len(status) - 2
            if room >= _MIN_BAR:
                break
        line = Table.grid(padding=(0, 1))
        styles = {"✓": "green", "✗": "red", "▶": "cyan"}
        line.add_row(
            self._text(title, style="bold"),
            ProgressBar(
                total=max(counts.total, 1), completed=counts.done, width=max(_MIN_BAR, min(room, 30))
            ),
            self._text.assemble(*((char, styles.get(char, "")) for char in status)),
        )
        running = ", ".join(self._running) if self._running else "none at the moment"
        what = self._text(f"▶ running: {running}", no_wrap=True, overflow="ellipsis", style="cyan")
        return self._group(line, what)

    def started(self, batch_id: str, total: int, how: str) -> None:
        self._counts.batch_id, self._counts.total = shown(batch_id), total
        self._live.start()

    def running(self, labels: Sequence[str]) -> None:
        self._running = list(labels)

    def finished(self, result: ExperimentResult) -> None:
        self._counts.count(result)
        self._counts.last_done = time.monotonic()
        if result.status != "completed":
            self._console.print(describe(result), markup=False, highlight=False)

    def skipped(self, result: ExperimentResult) -> None:
        self._counts.count(result)
        self._counts.skipped += 1

    def unstarted(self, count: int, reason: str) -> None:
        self._console.print(printable(self._counts.unstarted(count, reason)), markup=False, highlight=False)

    def retrying(self, failed: ExperimentResult, attempt: int, attempts: int) -> None:
        self._console.print(
            f"↻ {describe(failed)}; retrying (try {attempt} of {attempts})", markup=False, highlight=False
        )

    def note(self, message: str) -> None:
        self._console.print(printable(message), markup=False, highlight=False)

    def close(self) -> None:
        self._live.stop()
        if self._counts.batch_id:
            self._console.print(self._counts.final_line(), markup=False, highlight=False)


def make_progress(verbose: bool) -> BatchProgress:
    """Live display only when a person watches a terminal and no child output is streamed."""
    if not verbose and sys.stdout.isatty() and sys.stderr.isatty():
        return LiveProgress()
    return PlainProgress()
