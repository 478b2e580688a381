"""Where a batch's experiments run: an executor seam and two local executors behind it.

The seam is ``Executor``: ``submit(task)`` returns a ``concurrent.futures.Future`` resolving to the
recorded ``Outcome``; ``interrupt`` forwards Ctrl-C (or a fail-fast cancel) to what is running;
``shutdown`` ends it all. A distributed engine (Ray, Dask, a cluster queue) fits behind the same
three calls without touching ``yanex.runner.batch``.

``LocalPool`` runs experiments on supervised ``multiprocessing.Process`` workers rather than on
``multiprocessing.Pool`` (hangs forever when a worker dies, CPython issue 96062) or
``ProcessPoolExecutor`` (a dead worker breaks the whole pool and its manager terminates every other
worker, so one SIGKILL would lose the whole batch's running experiments, and it keeps a call queue
that hides which worker holds which task). Each worker holds at most one task, sent over its own
pipe, so when a worker dies the pool knows exactly which experiment it lost and which script
process to kill, records that experiment failed, and starts a replacement.

``InlineExecutor`` runs one experiment at a time from a thread of the calling process: sequential
batches need no worker process, so they also work in a script without a ``__main__`` guard.
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
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from enum import StrEnum
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from queue import Empty, SimpleQueue
from typing import Any, Protocol

from yanex.db.engine import Database
from yanex.owners import process_alive
from yanex.runner.environment import this_process
from yanex.runner.launch import ExperimentProcess, LaunchRequest, Outcome, OutputMode, describe_failure
from yanex.runner.reaper import become_subreaper
from yanex.specs import Status
from yanex.store.experiments import Owner, finish, get_experiment
from yanex.store.reconcile import settle

BOOTSTRAP_ERROR = (
    "An attempt has been made to start a new process before the current process has finished its "
    "bootstrapping phase."
)
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_WATCH_PARENT_EVERY = 0.5  # seconds
_WORKER_EXIT_GRACE = 5.0  # seconds a worker gets to record its outcome after its script is killed


class StopReason(StrEnum):
    """Why running experiments are being cancelled; the value is their recorded error message."""

    USER = "interrupted by the user"
    FAIL_FAST = "another experiment of the batch failed and fail_fast is set"
    ERROR = "the batch stopped on an error in yanex (see the orchestrator's traceback)"
    TERMINATED = "terminated: the batch's orchestrator received SIGTERM"


# How a stop reason reaches a worker process. The worker forwards SIGINT to its script, or SIGTERM
# (then SIGKILL after the grace) when the orchestrator itself was asked to terminate.
_STOP_SIGNALS = {
    StopReason.USER: signal.SIGINT,
    StopReason.FAIL_FAST: signal.SIGUSR1,
    StopReason.ERROR: signal.SIGUSR2,
    StopReason.TERMINATED: signal.SIGHUP,
}


@dataclass(frozen=True)
class Task:
    """One try of one experiment, whose row already exists with status ``queued``."""

    request: LaunchRequest
    output: OutputMode = OutputMode.QUIET


class Executor(Protocol):
    """The seam between a batch and whatever runs its experiments."""

    def submit(self, task: Task) -> Future[Outcome]:
        """Queue a task; the future resolves once its outcome is recorded in the database."""
        ...

    def interrupt(self, reason: StopReason) -> None:
        """Cancel queued tasks; ask running scripts to stop (they are recorded ``cancelled``)."""
        ...

    def shutdown(self, *, kill: bool = False) -> None:
        """Release the workers; with ``kill`` first SIGKILL every running script's process group."""
        ...


def _drop(future: Future[Outcome]) -> None:
    """Cancel a queued future and wake its waiters (``wait`` ignores a cancelled future until then)."""
    future.cancel()
    future.set_running_or_notify_cancel()


def _kill_group(pid: int | None) -> None:
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def record_failure(db: Database, experiment_id: str, message: str) -> Outcome:
    """Record an experiment that yanex failed to run or lost, after ingesting the rest of its
    journal. The outcome its supervisor saw, if it left one (``yanex.store.outcome``), wins over
    ``message``, and a row already final keeps its status."""
    recorded = settle(db, experiment_id, message)
    if recorded.status is None:  # deleted meanwhile
        return Outcome(experiment_id, Status.FAILED, None, message, None)
    return Outcome(
        experiment_id, recorded.status, recorded.exit_code, recorded.error_message, recorded.duration
    )


def _resolve(future: Future[Outcome], record: Callable[[], Outcome]) -> None:
    """Resolve with the outcome ``record`` writes, or with its error (a database deleted under the
    batch): the pool's thread must survive it, or the batch would wait for this future forever."""
    try:
        future.set_result(record())
    except Exception as error:
        future.set_exception(error)


class _Supervisor:
    """Runs one task at a time and keeps an interrupt sticky, in a worker or in the caller's thread.

    No locks: in a worker, ``interrupt`` runs from a signal handler on the thread that runs ``run``.
    """

    def __init__(self, db: Database, owner: Owner) -> None:
        self.db = db
        self.owner = owner
        self.reason: StopReason | None = None
        self.current: ExperimentProcess | None = None

    def run(self, task: Task, started: Callable[[str, int], None] | None = None) -> Outcome:
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
            _kill_group(process.pid)
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

    def kill(self) -> None:
        process = self.current
        if process is not None:
            _kill_group(process.pid)
            process.sweep()


class InlineExecutor:
    """Sequential execution from one thread of this process (``parallel=None``)."""

    def __init__(self, db: Database, owner: Owner) -> None:
        self._supervisor = _Supervisor(db, owner)
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
                future.set_result(self._supervisor.run(task))
            except BaseException as error:
                future.set_exception(error)

    def interrupt(self, reason: StopReason) -> None:
        self._supervisor.interrupt(reason)
        self._drop_queued()

    def _drop_queued(self) -> None:
        # get_nowait, not empty() then get(): the inline thread may take the last item in between.
        while True:
            try:
                item = self._queue.get_nowait()
            except Empty:
                return
            if item is not None:
                _drop(item[1])

    def shutdown(self, *, kill: bool = False) -> None:
        if kill:
            self._supervisor.kill()
        self._drop_queued()
        self._queue.put(None)
        self._thread.join()


# --- worker processes ---------------------------------------------------------------------------


def _die_with(parent_pid: int, supervisor: _Supervisor) -> None:
    """Never outlive the orchestrator, and never let the script outlive this worker.

    On Linux the kernel sends SIGTERM when the orchestrator dies (PR_SET_PDEATHSIG); a thread that
    watches our parent pid covers other systems and the window before prctl took effect.
    """

    def leave() -> None:
        supervisor.kill()
        os._exit(1)

    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:
        leave()

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_WATCH_PARENT_EVERY)
        leave()

    threading.Thread(target=watch, name="yanex-watch-parent", daemon=True).start()


def _interrupt_handler(supervisor: _Supervisor, reason: StopReason) -> Callable[[int, object], None]:
    def handle(_signum: int, _frame: object) -> None:
        supervisor.interrupt(reason)

    return handle


def _worker_main(conn: Connection, db_url: str, db_identity: tuple[int, int], parent_pid: int) -> None:
    """A pool worker: run tasks from ``conn`` one at a time, report each outcome back."""
    supervisor = _Supervisor(Database(db_url, identity=db_identity), this_process())
    _die_with(parent_pid, supervisor)
    become_subreaper()  # a worker is yanex's own process: its script's orphans come back to it
    for reason, signum in _STOP_SIGNALS.items():
        signal.signal(signum, _interrupt_handler(supervisor, reason))

    def terminate(_signum: int, _frame: object) -> None:
        supervisor.kill()
        os._exit(1)

    signal.signal(signal.SIGTERM, terminate)
    conn.send(("ready",))
    while True:
        try:
            task: Task | None = conn.recv()
        except EOFError:  # the orchestrator is gone
            return
        if task is None:
            return
        try:
            outcome = supervisor.run(
                task, lambda experiment_id, pid: conn.send(("started", experiment_id, pid))
            )
        except Exception as error:
            conn.send(("error", f"{type(error).__name__}: {error}"))
        else:
            conn.send(("done", outcome))


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
        self._workers = [self._start_worker() for _ in range(workers)]
        self._await_ready()
        self._thread = threading.Thread(target=self._supervise, name="yanex-pool", daemon=True)
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
                _drop(self._queue.popleft()[1])
            busy = [w.process.pid for w in self._workers if w.task is not None]
        for pid in busy:
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, _STOP_SIGNALS[reason])

    def shutdown(self, *, kill: bool = False) -> None:
        with self._lock:
            self._stopped = self._closing = True
            while self._queue:
                _drop(self._queue.popleft()[1])
            scripts = [w.script_pid for w in self._workers if w.task is not None]
        if kill:
            for pid in scripts:
                _kill_group(pid)
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
            target=_worker_main,
            args=(theirs, self._db.url, self._db.identity, self._parent_pid),
            name="yanex-worker",
        )
        process.start()
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
                        worker.ready = worker.conn.recv() == ("ready",)
                if not worker.ready:  # "ready" is the first message, so this is the end of the pipe
                    worker.process.join()
                    self._abandon_start(worker.process.exitcode)

    def _abandon_start(self, exitcode: int | None) -> None:
        for worker in self._workers:
            worker.process.kill()
            worker.process.join()
            worker.conn.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
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

    def _supervise(self) -> None:
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

    def _on_message(self, worker: _Worker, message: tuple[object, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
        elif kind == "started":
            worker.script_pid = message[2]  # type: ignore[assignment]
        elif worker.task is not None:
            task, future = worker.task
            worker.task, worker.script_pid = None, None
            if kind == "done":
                future.set_result(message[1])  # type: ignore[arg-type]
            else:
                message_text = f"yanex could not run it: {message[1]}"
                _resolve(future, lambda: record_failure(self._db, task.request.experiment_id, message_text))

    def _record_lost(self, worker: _Worker) -> None:
        """The worker died holding a task: stop its script, then record the experiment (what its
        script logged is ingested; if the script had ended, its own outcome is recorded)."""
        assert worker.task is not None
        task, future = worker.task
        # A worker killed just after starting its script has not reported the pid yet; the row
        # has it from the moment the script started.
        script_pid = worker.script_pid or get_experiment(self._db, task.request.experiment_id).pid
        _kill_group(script_pid)
        _await_exit(script_pid)
        how = describe_failure(worker.process.exitcode or 0, "")
        message = f"the yanex worker process running it died ({how}); its script was stopped"
        _resolve(future, lambda: record_failure(self._db, task.request.experiment_id, message))


def _await_exit(pid: int | None) -> None:
    """Wait (briefly) until a killed script is gone, so that its journal has its last line."""
    deadline = time.monotonic() + _WORKER_EXIT_GRACE
    while pid is not None and process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
