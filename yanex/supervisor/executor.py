"""The seam between a batch and whatever runs its experiments.

``Executor.submit(task)`` returns a ``concurrent.futures.Future`` resolving to the recorded
``Outcome``; ``interrupt`` forwards Ctrl-C (or a fail-fast cancel) to what is running; ``shutdown``
ends it all. A distributed engine (Ray, Dask, a cluster queue) fits behind the same three calls
without touching ``yanex.runner.batch``. The local ones: ``yanex.runner.inline.InlineExecutor``
(sequential, a thread of the caller) and ``yanex.runner.local_pool.LocalPool`` (worker processes);
the cluster ones are in ``yanex.executors``. This module sits below all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from yanex.db.engine import Database
from yanex.specs import Status
from yanex.store.reconcile import settle
from yanex.supervisor.launch import LaunchRequest, Outcome, OutputMode


class StopReason(StrEnum):
    """Why running experiments are being cancelled; the value is their recorded error message."""

    USER = "interrupted by the user"
    FAIL_FAST = "another experiment of the batch failed and fail_fast is set"
    ERROR = "the batch stopped on an error in yanex (see the orchestrator's traceback)"
    TERMINATED = "terminated: the batch's orchestrator received SIGTERM"


@dataclass(frozen=True)
class Task:
    """One try of one experiment, whose row already exists with status ``queued``."""

    request: LaunchRequest
    output: OutputMode = OutputMode.QUIET


class Executor(Protocol):
    """What a batch needs from whatever runs its experiments."""

    def submit(self, task: Task) -> Future[Outcome]:
        """Queue a task; the future resolves once its outcome is recorded in the database."""
        ...

    def interrupt(self, reason: StopReason) -> None:
        """Cancel queued tasks; ask running scripts to stop (they are recorded ``cancelled``)."""
        ...

    def shutdown(self, *, kill: bool = False) -> None:
        """Release the workers; with ``kill`` first SIGKILL every running script's process group."""
        ...


@runtime_checkable
class Prunable(Protocol):
    """An executor whose scripts run where the experiment's folder here is not seen (a Dask
    worker): it relays the batch's pruning decisions (``yanex.runner.pruning``) to them."""

    def prune(self, experiment_id: str, reason: str) -> None: ...


def drop(future: Future[Outcome]) -> None:
    """Cancel a queued future and wake its waiters (``wait`` ignores a cancelled future until then)."""
    future.cancel()
    future.set_running_or_notify_cancel()


def record_failure(db: Database, experiment_id: str, message: str) -> Outcome:
    """Record an experiment that yanex failed to run or lost (``yanex.store.reconcile.settle``:
    its journal ingested, the outcome its supervisor left winning over ``message``, a final row
    kept as it is), as the ``Outcome`` a batch reports."""
    recorded = settle(db, experiment_id, message)
    if recorded.status is None:  # deleted meanwhile
        return Outcome(experiment_id, Status.FAILED, None, message, None)
    return Outcome(
        experiment_id, recorded.status, recorded.exit_code, recorded.error_message, recorded.duration
    )


def resolve(future: Future[Outcome], record: Callable[[], Outcome]) -> None:
    """Resolve with the outcome ``record`` writes, or with its error (a database deleted under the
    batch): an executor's thread must survive it, or the batch would wait for this future forever.
    A future a stop dropped meanwhile records nothing: its row is cancelled with the batch."""
    if future.cancelled():
        return
    try:
        future.set_result(record())
    except Exception as error:
        future.set_exception(error)
