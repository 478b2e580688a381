"""``DaskExecutor``: a batch's experiments as tasks on a Dask cluster; this process the one writer.

Each experiment is one task (``_run_on_worker``) that runs the script under yanex's supervisor on
whichever worker Dask picks (``yanex.executors.remote``). The code snapshot is scattered once per
batch and moves to each worker once. While scripts run, workers send their journal lines and
"started" notes through a Dask ``Queue``; a thread here writes them into the local experiment
folders and the database, exactly as a local supervisor would, so ``yanex list`` shows progress.
Stopping goes the other way through a Dask ``Variable`` every worker reads once per tick.

Dask re-runs a task whose worker died; yanex does not want that (a retry is a new row of its own),
so a task first asks the scheduler whether it was running on a lost worker (``suspicious``) and
then returns at once, and the experiment is recorded ``worker lost``.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
import uuid
import zlib
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from yanex import config
from yanex.db.engine import Database
from yanex.errors import ConfigError
from yanex.executors.remote import KILL, RemoteResult, RemoteTask, run_task
from yanex.executors.snapshot import Snapshot, relative_to_snapshot, take_snapshot
from yanex.runner.executor import StopReason, Task, drop, record_failure, resolve
from yanex.runner.launch import DatabaseRecorder, Outcome, write_params
from yanex.store.experiments import Owner, mark_running
from yanex.store.ingest import JournalIngest
from yanex.store.outcome import OutcomeMarker

if TYPE_CHECKING:
    from distributed import Client

_TICK = 0.2  # seconds between reads of the live queue when nothing finishes
_SETTLE = 30.0  # seconds shutdown waits for stopped tasks to report before recording them lost
SCHEME = "dask://"


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            "the Dask executor needs dask.distributed, which is not installed",
            hint="pip install 'yanex[dask]'",
        ) from None
    return distributed


def connect(address: str) -> Client:
    """A client for ``dask://HOST:PORT`` (the scheduler's TCP address)."""
    distributed = _import_distributed()
    target = "tcp://" + address.removeprefix(SCHEME)
    try:
        client: Client = distributed.Client(target, timeout="10s", set_as_default=False)
    except OSError as error:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {address}: {error}",
            hint="start it (`dask scheduler`) or check HOST:PORT",
        ) from None
    return client


class _WorkerChannel:
    """The worker's ``yanex.executors.remote.Channel``: the batch's queue and stop variable."""

    def __init__(self, names: tuple[str, str], address: str) -> None:
        distributed = _import_distributed()
        client = distributed.get_client()
        self.queue = distributed.Queue(names[0], client=client)
        self.stop = distributed.Variable(names[1], client=client)
        self.address = address

    def started(self, experiment_id: str, pid: int, at: datetime) -> None:
        self.queue.put(["start", experiment_id, self.address, pid, at.isoformat()])

    def metrics(self, experiment_id: str, offset: int, data: bytes) -> None:
        self.queue.put(["metrics", experiment_id, offset, data])

    def stop_reason(self) -> str | None:
        value = self.stop.get(timeout=2)
        return str(value) or None


def _suspicious(dask_scheduler: Any, key: str) -> int:
    task = dask_scheduler.tasks.get(key)
    return 0 if task is None else int(task.suspicious)


def _run_on_worker(task: RemoteTask, code_name: str, names: tuple[str, str]) -> RemoteResult:
    """The Dask task: runs on a worker. The code comes through a ``Variable`` holding its
    scattered copy, not as an argument: as a dependency, a worker's death cancelled every task
    that used it."""
    distributed = _import_distributed()
    worker = distributed.get_worker()
    key = worker.get_current_task()

    def lost_before() -> bool:
        return bool(distributed.get_client().run_on_scheduler(_suspicious, key=key))

    def code() -> bytes:
        client = distributed.get_client()
        data: bytes = distributed.Variable(code_name, client=client).get(timeout=60).result(timeout=300)
        return data

    channel = _WorkerChannel(names, worker.address)
    return run_task(task, code, Path(worker.local_directory), channel, lost_before)


@dataclass
class _Entry:
    task: Task
    future: Future[Outcome]
    remote: Any  # distributed.Future
    worker: str | None = None  # the address that reported starting it
    ingest: JournalIngest | None = None
    mirrored: int = 0  # journal bytes written to the local folder
    done: bool = field(default=False)


class DaskExecutor:
    """``yanex.runner.executor.Executor`` on a ``distributed.Client``.

    ``env``: environment variables set for every script on the workers. ``own_client``: close
    the client at shutdown (when yanex opened it from a ``dask://`` address).
    """

    def __init__(
        self,
        client: Client,
        db: Database,
        owner: Owner,
        *,
        env: dict[str, str] | None = None,
        own_client: bool = False,
    ) -> None:
        distributed = _import_distributed()
        self._client: Any = client  # distributed's API is untyped
        self._db = db
        self._owner = owner
        self._env = dict(env or {})
        self._own_client = own_client
        token = uuid.uuid4().hex[:12]
        self._names = (f"yanex-{token}-live", f"yanex-{token}-stop")
        self._queue = distributed.Queue(self._names[0], client=client)
        self._stop = distributed.Variable(self._names[1], client=client)
        self._stop.set("")
        self._snapshots: dict[Path, tuple[Snapshot, str]] = {}
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._wake = threading.Event()
        self._stopped = False
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name="yanex-dask", daemon=True)
        self._thread.start()

    @property
    def workers(self) -> int:
        """Threads, i.e. experiments the cluster runs at once."""
        return sum(self._client.nthreads().values()) or 1

    # The executor interface -------------------------------------------------------------------

    def submit(self, task: Task) -> Future[Outcome]:
        request = task.request
        snapshot, code = self._snapshot(request.script_path)
        script = relative_to_snapshot(snapshot.root, request.script_path)
        assert script is not None
        cwd = relative_to_snapshot(snapshot.root, request.cwd or Path.cwd())
        if cwd is None:  # the orchestrator's folder is not shipped: run beside the script
            cwd = Path(script).parent.as_posix()
        remote_task = RemoteTask(
            experiment_id=request.experiment_id,
            digest=snapshot.digest,
            script=script,
            cwd=cwd,
            script_args=request.script_args,
            config=request.config,
            name=request.name,
            time_limit=request.time_limit,
            env=self._env,
        )
        future: Future[Outcome] = Future()
        with self._lock:
            if self._closing:
                raise RuntimeError("the executor is shut down")
            remote = self._client.submit(
                _run_on_worker,
                remote_task,
                code,
                self._names,
                key=f"yanex-{request.experiment_id}",
                pure=False,
            )
            self._entries[request.experiment_id] = _Entry(task, future, remote)
        remote.add_done_callback(lambda _: self._wake.set())
        return future

    def interrupt(self, reason: StopReason) -> None:
        with self._lock:
            if not self._stopped:
                self._stopped = True
                self._stop.set(reason.value)
            self._cancel_queued()

    def shutdown(self, *, kill: bool = False) -> None:
        with self._lock:
            self._closing = True
            if kill:
                self._stopped = True
                self._stop.set(KILL)
                self._cancel_queued()
        self._wake.set()
        self._thread.join(_SETTLE if kill else None)
        with self._lock:
            left = [entry for entry in self._entries.values() if not entry.future.done()]
            self._entries.clear()
        for entry in left:  # no answer from the cluster: record them rather than wait forever
            entry.remote.cancel()
            message = f"worker lost: no answer from the Dask worker {entry.worker or '(unknown)'}"
            resolve(entry.future, functools.partial(record_failure, self._db, _id(entry), message))
        if not self._stopped:  # a stopped batch keeps its stop word for tasks that start late
            with contextlib.suppress(Exception):
                self._stop.delete()
        if self._own_client:
            with contextlib.suppress(Exception):
                self._client.close()

    # Orchestrator side ------------------------------------------------------------------------

    def _snapshot(self, script: Path) -> tuple[Snapshot, str]:
        folder = script.parent
        if folder not in self._snapshots:
            snapshot = take_snapshot(script)
            # On every worker now (a worker's death must not lose it); one that joins later fetches
            # it from a peer on its first task of the batch (``_run_on_worker``).
            scattered = self._client.scatter(snapshot.data, hash=False, broadcast=True)
            name = f"{self._names[1]}-code-{snapshot.digest}"
            _import_distributed().Variable(name, client=self._client).set(scattered)
            self._snapshots[folder] = (snapshot, name)
        return self._snapshots[folder]

    def _cancel_queued(self) -> None:
        """Called with the lock held: drop every task no worker has started."""
        for entry in self._entries.values():
            if entry.worker is None and not entry.future.done() and not entry.future.running():
                entry.remote.cancel()
                drop(entry.future)

    def _serve(self) -> None:
        while True:
            self._wake.wait(_TICK)
            self._wake.clear()
            self._pull_live()
            with self._lock:
                done = [e for e in self._entries.values() if e.remote.done() and not e.done]
            for entry in done:
                entry.done = True
                try:
                    self._finish(entry)
                except Exception as error:  # this thread must live on, or the batch would hang
                    if not entry.future.done():
                        if not entry.future.running():
                            entry.future.set_running_or_notify_cancel()
                        entry.future.set_exception(error)
            with self._lock:
                finished = [key for key, e in self._entries.items() if e.done or e.future.cancelled()]
                for key in finished:
                    del self._entries[key]
                if self._closing and not self._entries:
                    return

    def _pull_live(self) -> None:
        try:
            items = self._queue.get(batch=True)
        except Exception:  # the scheduler is gone: tasks settle through their futures
            return
        for item in items:
            try:
                self._take(item)
            except Exception as error:  # a database error here must not end the thread
                _say(f"a note from a Dask worker could not be recorded: {type(error).__name__}: {error}")

    def _take(self, item: list[Any]) -> None:
        kind, experiment_id = item[0], item[1]
        with self._lock:
            entry = self._entries.get(experiment_id)
        if entry is None or entry.done or entry.future.done():  # dropped before its note came
            return
        if kind == "start":
            entry.worker = str(item[2])
            if not entry.future.running() and entry.future.set_running_or_notify_cancel():
                started_at = datetime.fromisoformat(str(item[4]))
                mark_running(self._db, experiment_id, int(item[3]), self._owner, started_at=started_at)
        elif kind == "metrics":
            self._mirror(entry, int(item[2]), bytes(item[3]))
            self._ingest(entry).step(4 * len(item[3]) + 1024)

    def _ingest(self, entry: _Entry) -> JournalIngest:
        if entry.ingest is None:
            entry.ingest = JournalIngest(self._db, _id(entry))
        return entry.ingest

    def _mirror(self, entry: _Entry, offset: int, data: bytes) -> None:
        """Append journal bytes to the local copy; a chunk out of order waits for the end."""
        if offset != entry.mirrored:
            return
        folder = config.experiment_dir(_id(entry))
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / config.METRICS_FILE).open("ab") as journal:
            journal.write(data)
        entry.mirrored += len(data)

    def _finish(self, entry: _Entry) -> None:
        remote = entry.remote
        experiment_id = _id(entry)
        if remote.cancelled():
            if not entry.future.done():
                drop(entry.future)
            return
        error = remote.exception()
        if error is not None:
            name = type(error).__name__
            text = (
                f"worker lost: {error}"
                if name == "KilledWorker"
                else f"yanex could not run it on the cluster: {name}: {error}"
            )
            resolve(entry.future, lambda: record_failure(self._db, experiment_id, text))
            return
        result: RemoteResult = remote.result()
        if entry.future.cancelled():
            return
        if not entry.future.running():  # its start note had not arrived yet
            entry.future.set_running_or_notify_cancel()
        if result.lost_before:
            text = (
                f"worker lost: the Dask worker running it ({entry.worker or 'unknown'}) "
                "left the cluster mid-task"
            )
            resolve(entry.future, lambda: record_failure(self._db, experiment_id, text))
            return
        resolve(entry.future, lambda: self._record(entry, result))

    def _record(self, entry: _Entry, result: RemoteResult) -> Outcome:
        experiment_id = _id(entry)
        folder = config.experiment_dir(experiment_id)
        folder.mkdir(parents=True, exist_ok=True)
        journal = zlib.decompress(result.journal)
        self._mirror(entry, entry.mirrored, journal[entry.mirrored :])
        write_params(folder, entry.task.request.config)
        for name, data in ((config.STDOUT_FILE, result.stdout), (config.STDERR_FILE, result.stderr)):
            (folder / name).write_bytes(data)
        marker = OutcomeMarker(result.status, result.exit_code, result.error_message, result.ended_at)
        return DatabaseRecorder(self._db, experiment_id, self._owner).ended(marker)


def _say(line: str) -> None:
    print(f"yanex: {line}", file=sys.stderr, flush=True)


def _id(entry: _Entry) -> str:
    return entry.task.request.experiment_id


def open_dask(target: object, db: Database, owner: Owner) -> DaskExecutor:
    """The executor for a ``dask://`` address (its client closed at shutdown) or a Client."""
    if isinstance(target, str):
        return DaskExecutor(connect(target), db, owner, own_client=True)
    return DaskExecutor(cast("Client", target), db, owner)


__all__ = ["SCHEME", "DaskExecutor", "connect", "open_dask"]
