"""``TaskRunner``: runs one task at a time to its recorded outcome, and keeps an interrupt sticky.

Both local executors use it: the inline one from a thread of the caller, the local pool inside
each worker process.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable

from yanex.db.engine import Database
from yanex.specs import Status
from yanex.store.experiments import Owner, finish
from yanex.supervisor.executor import StopReason, Task
from yanex.supervisor.launch import ExperimentProcess, Outcome


def kill_group(pid: int | None) -> None:
    """SIGKILL a script's whole process group (a batch's scripts each have their own session)."""
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


class TaskRunner:
    """No locks: in a worker, ``interrupt`` runs from a signal handler on the thread that runs ``run``."""

    def __init__(self, db: Database, owner: Owner) -> None:
        self.db = db
        self.owner = owner
        self.reason: StopReason | None = None
        self.current: ExperimentProcess | None = None

    def run(self, task: Task, started: Callable[[str, int], None] | None = None) -> Outcome:
        """Run ``task``'s script to its end; ``started(experiment_id, pid)`` once it runs."""
        request = task.request
        if self.reason is not None:  # interrupted before this task began: never start it
            recorded = finish(self.db, request.experiment_id, Status.CANCELLED, error_message=self.reason)
            return Outcome(
                request.experiment_id, Status.CANCELLED, None, self.reason.value, recorded.duration
            )
        process = ExperimentProcess(self.db, request, self.owner, output=task.output, own_session=True)
        self.current = process
        try:
            process.start()
            if started is not None and process.pid is not None:
                started(request.experiment_id, process.pid)
            if self.reason is not None:  # the interrupt arrived while the script was starting
                self.interrupt(self.reason)
            return process.wait()
        except BaseException:
            kill_group(process.pid)
            process.sweep()
            raise
        finally:
            self.current = None

    def interrupt(self, reason: StopReason) -> None:
        if self.reason is None:
            self.reason = reason
        process = self.current
        # `interrupted` makes this idempotent: a terminal's Ctrl-C reaches a worker both directly
        # and forwarded by the orchestrator, and the script should see one SIGINT.
        if process is not None and process.pid is not None and not process.interrupted:
            process.cancel_reason = self.reason
            if self.reason is StopReason.TERMINATED:
                process.terminate()
            else:
                process.send_signal(signal.SIGINT)
            # A script already gone when this stop is handled was killed by it: on a loaded machine
            # the orchestrator's kill at a second Ctrl-C can land before this worker ran its handler.
            process.interrupted = True

    def kill(self) -> None:
        process = self.current
        if process is not None:
            kill_group(process.pid)
            process.sweep()
