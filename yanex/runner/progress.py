"""What a batch shows while it runs: a live display on a terminal, one line per event otherwise.

Everything goes to stderr, so that the orchestrator script's own stdout (its results summary) stays
exactly what it prints, whether on a terminal or redirected to a file. Failures are printed the
moment they happen, not only in the summary. rich is imported only for the live display.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Protocol

from yanex.specs import ExperimentResult
from yanex.terminal import printable

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

_MARKS = {"completed": "✓", "failed": "✗", "cancelled": "⊘"}


def _label(name: str | None, experiment_id: str) -> str:
    return f"{printable(name)} ({experiment_id})" if name else experiment_id


def describe(result: ExperimentResult) -> str:
    """One line about a finished experiment, as the progress output and a summary show it."""
    line = f"{_MARKS[result.status]} {_label(result.name, result.experiment_id)} {result.status}"
    if result.duration is not None:
        line += f" in {result.duration:.2f}s"
    if result.error_message:
        line += f": {printable(result.error_message)}"
    return line


class BatchProgress(Protocol):
    def started(self, batch_id: str, total: int, workers: int | None) -> None: ...

    def running(self, count: int) -> None: ...

    def finished(self, result: ExperimentResult) -> None: ...

    def skipped(self, result: ExperimentResult) -> None: ...

    def retrying(self, failed: ExperimentResult, attempt: int, attempts: int) -> None: ...

    def note(self, message: str) -> None: ...

    def close(self) -> None: ...


class _Counts:
    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.failed = 0
        self.batch_id = ""
        self.began = time.monotonic()

    def count(self, result: ExperimentResult) -> None:
        self.done += 1
        self.failed += result.status != "completed"

    def summary(self) -> str:
        return (
            f"batch {self.batch_id}: {self.done - self.failed} completed, {self.failed} failed or "
            f"cancelled, in {time.monotonic() - self.began:.1f}s"
        )


class PlainProgress:
    """One line per event on stderr: for logs, pipes, CI and ``verbose=True``."""

    def __init__(self) -> None:
        self._counts = _Counts()

    def _print(self, line: str) -> None:
        print(f"yanex: {line}", file=sys.stderr, flush=True)

    def started(self, batch_id: str, total: int, workers: int | None) -> None:
        self._counts.batch_id, self._counts.total = batch_id, total
        how = "one at a time" if workers is None else f"on {workers} worker{'s' * (workers != 1)}"
        self._print(f"batch {batch_id}: {total} experiment{'s' * (total != 1)} {how}")

    def running(self, count: int) -> None:
        pass  # a line per start would double the output for no new information

    def finished(self, result: ExperimentResult) -> None:
        self._counts.count(result)
        self._print(f"[{self._counts.done}/{self._counts.total}] {describe(result)}")

    def skipped(self, result: ExperimentResult) -> None:
        self._counts.count(result)
        self._print(
            f"[{self._counts.done}/{self._counts.total}] = {_label(result.name, result.experiment_id)} "
            "already completed; skipped"
        )

    def retrying(self, failed: ExperimentResult, attempt: int, attempts: int) -> None:
        self._print(f"↻ {describe(failed)}; retrying (try {attempt} of {attempts})")

    def note(self, message: str) -> None:
        self._print(printable(message))

    def close(self) -> None:
        if self._counts.batch_id:
            self._print(self._counts.summary())


class LiveProgress:
    """A rich progress bar (done, failed, running, elapsed, ETA) that vanishes when the batch ends;
    failures and notes are printed above it and stay."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._counts = _Counts()
        self._progress: Progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("✗ {task.fields[failed]}  ▶ {task.fields[running]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task: TaskID | None = None

    def started(self, batch_id: str, total: int, workers: int | None) -> None:
        self._counts.batch_id, self._counts.total = batch_id, total
        self._task = self._progress.add_task(f"batch {batch_id}", total=total, failed=0, running=0)
        self._progress.start()

    def _update(self, running: int | None = None) -> None:
        if self._task is not None:
            fields = {"failed": self._counts.failed} | ({} if running is None else {"running": running})
            self._progress.update(self._task, completed=self._counts.done, **fields)  # type: ignore[arg-type]

    def running(self, count: int) -> None:
        self._update(running=count)

    def finished(self, result: ExperimentResult) -> None:
        self._counts.count(result)
        if result.status != "completed":
            self._progress.console.print(describe(result), markup=False, highlight=False)
        self._update()

    def skipped(self, result: ExperimentResult) -> None:
        self._counts.count(result)
        self._update()

    def retrying(self, failed: ExperimentResult, attempt: int, attempts: int) -> None:
        self._progress.console.print(
            f"↻ {describe(failed)}; retrying (try {attempt} of {attempts})", markup=False, highlight=False
        )

    def note(self, message: str) -> None:
        self._progress.console.print(printable(message), markup=False, highlight=False)

    def close(self) -> None:
        self._progress.stop()


def make_progress(verbose: bool) -> BatchProgress:
    """Live display only when a person watches a terminal and no child output is streamed."""
    if not verbose and sys.stdout.isatty() and sys.stderr.isatty():
        return LiveProgress()
    return PlainProgress()
