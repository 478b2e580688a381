"""``LocalPool``: a batch's experiments on supervised worker processes on this machine.

Supervised ``multiprocessing.Process`` workers rather than ``multiprocessing.Pool`` (hangs forever
when a worker dies, CPython issue 96062) or ``ProcessPoolExecutor`` (a dead worker breaks the whole
pool and its manager terminates every other worker, so one SIGKILL would lose the whole batch's
running experiments, and it keeps a call queue that hides which worker holds which task). Each
worker (``yanex.runner.worker``) holds at most one task, sent over its own pipe, so when a worker
dies the pool knows exactly which experiment it lost and which script process to kill, records
that experiment failed, and starts a replacement.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

from yanex.db.engine import Database
from yanex.owners import process_alive
from yanex.runner.task_runner import kill_group
from yanex.runner.worker import (
    STOP_SIGNALS,
    WORKER_SIGNALS,
    Crashed,
    Done,
    Ready,
    Started,
    WorkerMessage,
    worker_main,
)
from yanex.store.reading import reading
from yanex.store.views import experiment_view
from yanex.supervisor.executor import StopReason, Task, drop, record_failure, resolve
from yanex.supervisor.launch import Outcome, describe_failure

BOOTSTRAP_ERROR = (
    "An attempt has been made to start a new process before the current process has finished its "
    "bootstrapping phase."
)
_WORKER_EXIT_GRACE = 5.0  # seconds a worker gets to record its outcome after its script is killed


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    ready: bool = False
    task: tuple[Task, Future[Outcome]] | None = None
    script_pid: int | None = None


class LocalPool:
    """``workers`` supervised worker processes on this machine (``parallel=N``).

    The constructor returns once every worker is ready; a worker that dies while starting raises
    ``RuntimeError`` (with ``spawn``, a script without a ``__main__`` guard) instead of hanging.
    """

    def __init__(self, workers: int, db: Database, *, context: BaseContext | None = None) -> None:
        self._ctx = context or multiprocessing.get_context()
        if context is None and self._ctx.get_start_method() == "forkserver":
            # Python 3.14's default on Linux. A forkserver's workers are children of the server,
            # not of this process, so they could not die with the orchestrator: spawn them instead.
            self._ctx = multiprocessing.get_context("spawn")
        if self._ctx.get_start_method() not in ("fork", "spawn"):
            raise ValueError(
                f"yanex batches run with the 'fork' or 'spawn' start method, not "
                f"{self._ctx.get_start_method()!r}"
            )
        self._db = db
        self._parent_pid = os.getpid()
        self._lock = threading.Lock()
        self._queue: deque[tuple[Task, Future[Outcome]]] = deque()
        self._stopped = False  # dispatch nothing more
        self._closing = False  # release workers once idle
        self._wake_r, self._wake_w = os.pipe()
        self._workers: list[_Worker] = []
        try:
            for _ in range(workers):
                self._workers.append(self._start_worker())
            self._await_ready()
        except KeyboardInterrupt:  # Ctrl-C while starting: no worker may be left (exit would wait)
            self._abandon_workers()
            raise
        self._thread = threading.Thread(target=self._serve_workers, name="yanex-pool", daemon=True)
        self._thread.start()

    # The executor interface -------------------------------------------------------------------

    def submit(self, task: Task) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        with self._lock:
            if self._closing:
                raise RuntimeError("the pool is shut down")
            self._queue.append((task, future))
        self._wake()
        return future

    def interrupt(self, reason: StopReason) -> None:
        with self._lock:
            self._stopped = True
            while self._queue:
                drop(self._queue.popleft()[1])
            busy = [w.process.pid for w in self._workers if w.task is not None]
        for pid in busy:
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, STOP_SIGNALS[reason])

    def shutdown(self, *, kill: bool = False) -> None:
        with self._lock:
            self._stopped = self._closing = True
            while self._queue:
                drop(self._queue.popleft()[1])
            scripts = [w.script_pid for w in self._workers if w.task is not None]
        if kill:
            for pid in scripts:
                kill_group(pid)
        self._wake()
        self._thread.join(_WORKER_EXIT_GRACE)
        with self._lock:
            stuck = [w.process for w in self._workers]
        for process in stuck:  # alive past the grace period: SIGTERM kills its script, then itself
            process.terminate()
            process.join(1.0)
            if process.is_alive():
                process.kill()
        self._thread.join()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    # Starting workers -------------------------------------------------------------------------

    def _start_worker(self) -> _Worker:
        ours, theirs = self._ctx.Pipe()
        process = self._ctx.Process(  # type: ignore[attr-defined]
            target=worker_main,
            args=(theirs, self._db.url, self._db.identity, self._parent_pid),
            name="yanex-worker",
            # Daemonic: one left behind (a Ctrl-C inside start()) is sent SIGTERM at the
            # orchestrator's exit, which stops its script, instead of being waited for forever.
            daemon=True,
        )
        # A terminal's Ctrl-C reaches the workers too: one that lands while a worker starts waits,
        # blocked, until worker_main has its handlers (the orchestrator takes its own at once).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, WORKER_SIGNALS)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        theirs.close()
        return _Worker(process, ours)

    def _await_ready(self) -> None:
        waiting: dict[object, _Worker] = {w.conn: w for w in self._workers}
        waiting.update({w.process.sentinel: w for w in self._workers})
        while any(not w.ready for w in self._workers):
            pending: list[Any] = [key for key, w in waiting.items() if not w.ready]
            for ready in wait(pending):
                worker = waiting[ready]
                with contextlib.suppress(EOFError, OSError):
                    while not worker.ready and worker.conn.poll():
                        worker.ready = isinstance(worker.conn.recv(), Ready)
                if not worker.ready:  # "ready" is the first message, so this is the end of the pipe
                    worker.process.join()
                    self._abandon_start(worker.process.exitcode)

    def _abandon_workers(self) -> None:
        for worker in self._workers:
            worker.process.kill()
            worker.process.join()
            worker.conn.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    def _abandon_start(self, exitcode: int | None) -> None:
        self._abandon_workers()
        how = describe_failure(exitcode or 0, "")
        if self._ctx.get_start_method() == "spawn":
            raise RuntimeError(
                f"{BOOTSTRAP_ERROR} A worker process of the batch exited ({how}) while importing "
                f"the main module {sys.argv[0]!r}, whose code started the batch again. Put that code "
                'under `if __name__ == "__main__":` (required by the "spawn" start method, the '
                "default on macOS and Windows); the worker's traceback is above."
            )
        raise RuntimeError(f"a worker process of the batch exited ({how}) before it was ready")

    # The supervising thread -------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _serve_workers(self) -> None:
        while True:
            with self._lock:
                self._dispatch()
                if self._closing and all(w.task is None for w in self._workers):
                    for worker in self._workers:
                        with contextlib.suppress(OSError):
                            worker.conn.send(None)
                    break
                watched: list[object] = [self._wake_r]
                for worker in self._workers:
                    watched += [worker.conn, worker.process.sentinel]
            ready = set(wait(watched))  # type: ignore[arg-type]
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
            with self._lock:
                for worker in list(self._workers):
                    if worker.conn in ready or worker.process.sentinel in ready:
                        self._service(worker)
        for worker in self._workers:
            worker.process.join(_WORKER_EXIT_GRACE)
        with self._lock:
            self._workers = [w for w in self._workers if w.process.is_alive()]

    def _dispatch(self) -> None:
        for worker in self._workers:
            while worker.ready and worker.task is None and self._queue and not self._stopped:
                task, future = self._queue.popleft()
                if not future.set_running_or_notify_cancel():
                    continue
                worker.task = (task, future)
                with contextlib.suppress(OSError):  # died meanwhile: _service records it on its sentinel
                    worker.conn.send(task)

    def _service(self, worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                self._on_message(worker, worker.conn.recv())
        except (EOFError, OSError):
            pass
        if worker.process.is_alive():
            return
        worker.process.join()
        worker.conn.close()
        self._workers.remove(worker)
        if worker.task is not None:
            self._record_lost(worker)
        # Replace it even with nothing queued: a retry of the lost experiment may be submitted next.
        if worker.ready and not self._closing and not self._stopped:
            self._workers.append(self._start_worker())
        elif not self._workers:
            while self._queue:
                self._queue.popleft()[1].set_exception(
                    RuntimeError("every worker process of the batch died while starting")
                )

    def _on_message(self, worker: _Worker, message: WorkerMessage) -> None:
        match message:
            case Ready():
                worker.ready = True
            case Started(script_pid=pid):
                worker.script_pid = pid
            case Done() | Crashed() if worker.task is not None:
                task, future = worker.task
                worker.task, worker.script_pid = None, None
                if isinstance(message, Done):
                    future.set_result(message.outcome)
                else:
                    text = f"yanex could not run it: {message.error}"
                    resolve(future, lambda: record_failure(self._db, task.request.experiment_id, text))

    def _record_lost(self, worker: _Worker) -> None:
        """The worker died holding a task: stop its script, then record the experiment (what its
        script logged is ingested; if the script had ended, its own outcome is recorded)."""
        assert worker.task is not None
        task, future = worker.task
        # A worker killed just after starting its script has not reported the pid yet; the row
        # has it from the moment the script started.
        script_pid = worker.script_pid
        if script_pid is None:
            with reading(self._db, settle=False) as conn:
                script_pid = experiment_view(conn, task.request.experiment_id).pid
        kill_group(script_pid)
        _await_exit(script_pid)
        how = describe_failure(worker.process.exitcode or 0, "")
        message = f"the yanex worker process running it died ({how}); its script was stopped"
        resolve(future, lambda: record_failure(self._db, task.request.experiment_id, message))


def _await_exit(pid: int | None) -> None:
    """Wait (briefly) until a killed script is gone, so that its journal has its last line."""
    deadline = time.monotonic() + _WORKER_EXIT_GRACE
    while pid is not None and process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
