"""``InlineExecutor``: one experiment at a time from a thread of the calling process.

Sequential batches need no worker process, so they also work in a script without a ``__main__``
guard.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from queue import Empty, SimpleQueue

from yanex.db.engine import Database
from yanex.runner.task_runner import TaskRunner
from yanex.store.experiments import Owner
from yanex.supervisor.executor import StopReason, Task, drop
from yanex.supervisor.launch import Outcome


class InlineExecutor:
    """Sequential execution (``parallel=None``)."""

    def __init__(self, db: Database, owner: Owner) -> None:
        self._runner = TaskRunner(db, owner)
        self._queue: SimpleQueue[tuple[Task, Future[Outcome]] | None] = SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="yanex-inline", daemon=True)
        self._thread.start()

    def submit(self, task: Task) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        self._queue.put((task, future))
        return future

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            task, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._runner.run(task))
            except BaseException as error:
                future.set_exception(error)

    def interrupt(self, reason: StopReason) -> None:
        self._runner.interrupt(reason)
        self._drop_queued()

    def _drop_queued(self) -> None:
        # get_nowait, not empty() then get(): the inline thread may take the last item in between.
        while True:
            try:
                item = self._queue.get_nowait()
            except Empty:
                return
            if item is not None:
                drop(item[1])

    def shutdown(self, *, kill: bool = False) -> None:
        if kill:
            self._runner.kill()
        self._drop_queued()
        self._queue.put(None)
        self._thread.join()
