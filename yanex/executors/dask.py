"""``DaskExecutor``: a batch's experiments as tasks on a Dask cluster; this process the one writer.

Each experiment is one task (``_run_on_worker``) that runs the script under yanex's supervisor on
whichever worker Dask picks (``yanex.executors.remote``). The code snapshot is put on the
scheduler once per batch (a ``Variable``) and moves to each worker once. While scripts run,
workers send their journal lines and "started" notes through a Dask ``Queue``; a thread here
writes them into the local experiment folders and the database, exactly as a local supervisor
would, so ``yanex list`` shows progress.
Stopping goes the other way through a Dask ``Variable`` every worker reads once per tick.

Dask re-runs a task whose worker died; yanex does not want that for a script that had started (a
retry is a new row of its own), so a task first asks the scheduler whether it was running on a
lost worker (``suspicious``) and then returns at once. A worker claims its task through the queue
before it starts the script: a claimed task is recorded ``worker lost``, one never claimed (it was
waiting for the dead worker's thread) is sent again, in the same row, and is no try.

When the scheduler goes away, every task is lost with it: the experiments claimed are recorded
``failed`` (their workers' spools keep how they ended, for ``yanex ingest``), the others
``cancelled``, each with a message naming the scheduler, and nothing more is sent.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from yanex import config
from yanex.artifacts import blobs
from yanex.artifacts.lines import ArtifactLine
from yanex.artifacts.reading import lacking
from yanex.artifacts.transfer import PART, TransferError, read_part, spool_blobs
from yanex.db.engine import Database
from yanex.errors import ConfigError, DamagedArtifactError, YanexError, install_hint
from yanex.executors.remote import KILL, RemoteResult, RemoteTask, run_task, spool_root
from yanex.executors.snapshot import Snapshot, take_snapshot
from yanex.executors.tracking import Tracked, forget_settled, to_remote_task
from yanex.store.experiments import Owner
from yanex.store.ingest import SCHEDULER_LOST
from yanex.supervisor.executor import StopReason, Task, drop
from yanex.supervisor.launch import Outcome, say

if TYPE_CHECKING:
    from distributed import Client

_TICK = 0.2  # seconds between reads of the live queue when nothing finishes
_SETTLE = 30.0  # seconds shutdown waits for stopped tasks to report before recording them lost
_RECONNECT = 15.0  # seconds a client of ours tries to reconnect to a lost scheduler (10), and more
_IN_FLIGHT = 2  # parts of a dependency's content in its queue at once (the scheduler holds them)
SCHEME = "dask://"


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            "the Dask executor needs dask.distributed, which is not installed",
            hint=install_hint("dask"),
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


class _Names(NamedTuple):
    """What a task needs to reach its batch: the live queue, the stop variable, the orchestrator,
    and the pruning variable (JSON: the reason of each experiment the batch's pruning stopped)."""

    live: str
    stop: str
    client: str  # the orchestrator's Dask client id: alive while it is connected
    pruned: str


def _has_client(dask_scheduler: Any, client: str) -> bool:
    return client in dask_scheduler.clients


def _blob_part(sha256: str, offset: int) -> bytes:
    """On a worker, through ``Client.run``: a part of a content its spool's blob folder holds."""
    return read_part(spool_blobs(spool_root()), sha256, offset)


class _WorkerBlobs:
    """``BlobSource``: the blob folder of a Dask worker's spool, a part per ``Client.run`` call
    (outside the worker's task slots: it answers while it runs its next script)."""

    def __init__(self, client: Any, address: str) -> None:
        self._client, self._address = client, address

    def parts(self, sha256: str, size: int) -> Iterator[bytes]:
        for offset in range(0, size, PART):
            try:
                sent = self._client.run(_blob_part, sha256, offset, workers=[self._address])
                part: bytes = sent[self._address]
            except Exception as error:
                why = f"{type(error).__name__}: {error}"
                raise TransferError(
                    f"the Dask worker {self._address} holding it did not send it: {why}"
                ) from None
            yield part


class _Abandoned(TransferError):
    """No more contents will come: the batch stopped, or its orchestrator went away."""


class _WorkerChannel:
    """The worker's ``yanex.executors.remote.Channel``: the batch's queue and stop variable."""

    def __init__(self, names: _Names, address: str) -> None:
        distributed = _import_distributed()
        client = distributed.get_client()
        self.queue = distributed.Queue(names.live, client=client)
        self.stop = distributed.Variable(names.stop, client=client)
        self.pruning = distributed.Variable(names.pruned, client=client)
        self.names = names
        self.address = address

    def claim(self, experiment_id: str) -> None:
        """Before the script starts: from now on, a lost try counts (``DaskExecutor._finish``)."""
        self.queue.put(["claim", experiment_id])

    def started(self, experiment_id: str, pid: int, at: datetime) -> None:
        self.queue.put(["start", experiment_id, self.address, pid, at.isoformat(), socket.gethostname()])

    def metrics(self, experiment_id: str, offset: int, data: bytes) -> None:
        self.queue.put(["metrics", experiment_id, offset, data])

    def inputs(self, experiment_id: str, wanted: list[ArtifactLine], root: Path) -> dict[str, str]:
        """Ask the orchestrator for the contents, which it streams through a queue of their own
        (a few parts in flight: the scheduler relays them), and store each as it comes."""
        distributed = _import_distributed()
        name = f"{self.names.stop}-in-{experiment_id}-{uuid.uuid4().hex[:8]}"
        queue = distributed.Queue(name, client=distributed.get_client(), maxsize=_IN_FLIGHT)
        self.queue.put(
            ["inputs", experiment_id, name, [[artifact.sha256, artifact.size] for artifact in wanted]]
        )
        failed: dict[str, str] = {}
        try:
            for artifact in wanted:
                parts = self._parts(queue)
                try:
                    blobs.store_chunks(root, parts, artifact.sha256, artifact.size)
                except _Abandoned as error:  # nothing more will come
                    failed |= {other.sha256: str(error) for other in wanted if other.sha256 not in failed}
                    break
                except (TransferError, OSError, DamagedArtifactError) as error:
                    failed[artifact.sha256] = error.message if isinstance(error, YanexError) else str(error)
                for _ in parts:  # what is left of a content whose storing failed: the next one follows
                    pass
        finally:
            queue.close()
        return failed

    def _parts(self, queue: Any) -> Iterator[bytes]:
        """One content's parts from ``queue``: bytes, then "" (or, instead, why it cannot come)."""
        while True:
            item = self._next(queue)
            if isinstance(item, bytes):
                yield item
            elif item:
                raise TransferError(str(item))
            else:
                return

    def _next(self, queue: Any) -> object:
        while True:
            try:
                return queue.get(timeout=_TICK * 10)
            except TimeoutError:
                if self.stop_reason():
                    raise _Abandoned("the batch was stopped before it arrived") from None
                client = _import_distributed().get_client()
                if not client.run_on_scheduler(_has_client, client=self.names.client):
                    raise _Abandoned("the orchestrator went away before it arrived") from None

    def stop_reason(self) -> str | None:
        value = self.stop.get(timeout=2)
        return str(value) or None

    def pruned(self, experiment_id: str) -> str | None:
        reasons: dict[str, str] = json.loads(self.pruning.get(timeout=2))
        return reasons.get(experiment_id)


def _suspicious(dask_scheduler: Any, key: str) -> int:
    task = dask_scheduler.tasks.get(key)
    return 0 if task is None else int(task.suspicious)


def _run_on_worker(task: RemoteTask, code_name: str, names: _Names) -> RemoteResult:
    """The Dask task: runs on a worker. The code comes through a ``Variable`` holding its bytes on
    the scheduler, not as an argument: as a dependency, a worker's death cancelled every task
    that used it."""
    distributed = _import_distributed()
    worker = distributed.get_worker()
    key = worker.get_current_task()

    def lost_before() -> bool:
        return bool(distributed.get_client().run_on_scheduler(_suspicious, key=key))

    def code() -> bytes:
        client = distributed.get_client()
        data: bytes = distributed.Variable(code_name, client=client).get(timeout=60)
        return data

    channel = _WorkerChannel(names, worker.address)
    return run_task(
        task,
        code,
        Path(worker.local_directory),
        channel,
        lost_before,
        on_start=lambda _: channel.claim(task.experiment_id),
    )


class _QuietReconnect(logging.Filter):
    """Drops the client's own report that its scheduler is gone: yanex says it per experiment."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to reconnect to scheduler")


_QUIET_RECONNECT = _QuietReconnect()  # one filter, however many batches add it


class DaskExecutor:
    """``yanex.supervisor.executor.Executor`` on a ``distributed.Client``.

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
        self._names = _Names(
            f"yanex-{token}-live", f"yanex-{token}-stop", str(self._client.id), f"yanex-{token}-pruned"
        )
        self._queue = distributed.Queue(self._names.live, client=client)
        self._stop = distributed.Variable(self._names.stop, client=client)
        self._stop.set("")
        self._pruned: dict[str, str] = {}  # sent to the workers whole, set before any task reads it
        self._pruned_variable = distributed.Variable(self._names.pruned, client=client)
        self._pruned_variable.set("{}")
        self._snapshots: dict[Path, tuple[Snapshot, str]] = {}
        self._lock = threading.Lock()
        self._entries: dict[str, Tracked] = {}
        self._claimed: set[str] = set()  # experiments a worker was about to start or started
        self._wake = threading.Event()
        self._stopped = False
        self._closing = False
        self._gone = False  # the scheduler went away: nothing more reaches the cluster
        self._scheduler = self.label.removeprefix(SCHEME)  # for messages once it is gone
        if own_client:  # its terminal is ours to keep clean
            logging.getLogger("distributed.client").addFilter(_QUIET_RECONNECT)
        self._thread = threading.Thread(target=self._serve, name="yanex-dask", daemon=True)
        self._thread.start()

    @property
    def label(self) -> str:
        address = str(self._client.scheduler.address)  # tcp://HOST:PORT, or tls://... as given
        return SCHEME + address.removeprefix("tcp://") if address.startswith("tcp://") else address

    @property
    def where(self) -> str:
        threads = sum(self._client.nthreads().values())  # experiments the cluster runs at once
        return f"on {threads} Dask worker thread{'s' * (threads != 1)}"

    # The executor interface -------------------------------------------------------------------

    def submit(self, task: Task) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        entry = Tracked(task, future, None)
        if self._gone:  # a retry, or a dependency's child, after the scheduler went away
            entry.never_ran(self._db, f"{SCHEDULER_LOST}{self._scheduler} went away before it started")
            return future
        with self._lock:
            if self._closing:
                raise RuntimeError("the executor is shut down")
            entry.handle = self._send(task, f"yanex-{task.request.experiment_id}")
            self._entries[entry.experiment_id] = entry
        entry.handle.add_done_callback(lambda _: self._wake.set())
        return future

    def interrupt(self, reason: StopReason) -> None:
        with self._lock:
            if not self._stopped:
                self._stopped = True
                self._say_stop(reason.value)
            self._cancel_queued()

    def shutdown(self, *, kill: bool = False) -> None:
        with self._lock:
            self._closing = True
            if kill:
                self._stopped = True
                self._say_stop(KILL)
                self._cancel_queued()
        self._wake.set()
        self._thread.join(_SETTLE if kill else None)
        with self._lock:
            left = [entry for entry in self._entries.values() if not entry.future.done()]
            self._entries.clear()
        for entry in left:  # no answer from the cluster: record them rather than wait forever
            with contextlib.suppress(Exception):  # the scheduler may be gone too
                entry.handle.cancel()
            entry.fail(self._db, f"worker lost: no answer from the Dask worker {entry.worker or '(unknown)'}")
        if not self._gone:
            for _, name in self._snapshots.values():  # free the scheduler's copies of the code
                with contextlib.suppress(Exception):
                    _import_distributed().Variable(name, client=self._client).delete()
            if not self._stopped:  # a stopped batch keeps its stop word for tasks that start late
                with contextlib.suppress(Exception):
                    self._stop.delete()
            with contextlib.suppress(Exception):
                self._pruned_variable.delete()
        if self._own_client:
            if self._gone:  # closed while it tries to reconnect, it logs a traceback: it closes itself
                deadline = time.monotonic() + _RECONNECT
                while self._client.status != "closed" and time.monotonic() < deadline:
                    time.sleep(_TICK)
            with contextlib.suppress(Exception):
                self._client.close()

    # Orchestrator side ------------------------------------------------------------------------

    def _send(self, task: Task, key: str) -> Any:
        """Submit ``task`` to the cluster as the Dask task ``key``; its Dask future."""
        snapshot, code = self._snapshot(task.request.script_path)
        remote_task = to_remote_task(task, snapshot, self._env, self._db)
        return self._client.submit(_run_on_worker, remote_task, code, self._names, key=key, pure=False)

    def prune(self, experiment_id: str, reason: str) -> None:
        """The batch's pruning stopped ``experiment_id``: its worker writes the stop flag into the
        folder its supervisor (and ``yanex.should_stop``) watches (``yanex.supervisor.pruned``)."""
        with self._lock:
            self._pruned[experiment_id] = reason
            if self._client.status == "running":
                self._pruned_variable.set(json.dumps(self._pruned))

    def _say_stop(self, word: str) -> None:
        """Set the stop word every running task reads, unless the scheduler holding it is gone."""
        if self._client.status == "running":
            self._stop.set(word)

    def _snapshot(self, script: Path) -> tuple[Snapshot, str]:
        folder = script.parent
        if folder not in self._snapshots:
            snapshot = take_snapshot(script)
            # The bytes themselves on the scheduler, which no worker's death can lose; each worker
            # fetches them on its first task of the batch (``_run_on_worker``). Not a scattered
            # copy: the Active Memory Manager (on by default) soon drops all but one replica of a
            # broadcast, and when that one's worker died, tasks after it waited on the lost key.
            name = f"{self._names.stop}-code-{snapshot.digest}"
            _import_distributed().Variable(name, client=self._client).set(snapshot.data)
            self._snapshots[folder] = (snapshot, name)
        return self._snapshots[folder]

    def _cancel_queued(self) -> None:
        """Called with the lock held: drop every task no worker has started."""
        for entry in self._entries.values():
            if entry.queued:
                entry.handle.cancel()
                drop(entry.future)

    def _serve(self) -> None:
        while True:
            self._wake.wait(_TICK)
            self._wake.clear()
            if not self._gone and self._client.status == "running":  # else a pull waits 10 s
                self._pull_live()
            with self._lock:
                done = [e for e in self._entries.values() if e.handle.done() and not e.done]
            for entry in done:
                entry.done = True
                entry.settle_guarded(functools.partial(self._finish, entry))
                self._claimed.discard(entry.experiment_id)  # a task sent again is claimed anew
            with self._lock:
                forget_settled(self._entries)
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
                say(f"a note from a Dask worker could not be recorded: {type(error).__name__}: {error}")

    def _take(self, item: list[Any]) -> None:
        kind, experiment_id = item[0], item[1]
        if kind == "claim":  # kept even once the try has ended: _finish may ask after it then
            self._claimed.add(experiment_id)
            return
        with self._lock:
            entry = self._entries.get(experiment_id)
        if entry is None or entry.done or entry.future.done():  # dropped before its note came
            return
        if kind == "start":
            at = datetime.fromisoformat(str(item[4]))
            entry.source = _WorkerBlobs(self._client, str(item[2]))
            entry.started(self._db, self._owner, str(item[2]), int(item[3]), at, str(item[5]))
        elif kind == "metrics":
            entry.receive(self._db, int(item[2]), bytes(item[3]))
        elif kind == "inputs":  # in a thread: the queue takes a few parts at a time
            wanted = [(str(sha256), int(size)) for sha256, size in item[3]]
            threading.Thread(
                target=self._send_inputs, args=(entry, str(item[2]), wanted), name="yanex-inputs", daemon=True
            ).start()

    def _send_inputs(self, entry: Tracked, name: str, wanted: list[tuple[str, int]]) -> None:
        """Stream the contents ``wanted`` from this store through the queue ``name`` to the worker
        that asked (see ``_WorkerChannel.inputs``), until it is done or its try has ended. A
        scheduler gone meanwhile ends it quietly: the worker sees this orchestrator gone too."""
        root = config.blobs_root()
        with contextlib.suppress(Exception):
            queue = _import_distributed().Queue(name, client=self._client, maxsize=_IN_FLIGHT)
            try:
                for sha256, size in wanted:
                    for item in _input_parts(root, sha256, size):
                        if not self._put(queue, item, entry):
                            return
            finally:
                queue.close()

    def _put(self, queue: Any, item: bytes | str, entry: Tracked) -> bool:
        """Put ``item`` once there is room; False if the try ended (or the scheduler went) first."""
        while True:
            try:
                queue.put(item, timeout=_TICK * 10)
                return True
            except TimeoutError:
                if entry.done or entry.future.done() or self._gone or self._closing:
                    return False
            except Exception:
                return False

    def _finish(self, entry: Tracked) -> None:
        remote = entry.handle
        if entry.future.done():  # dropped by a stop: its row is cancelled with the batch
            return
        if remote.cancelled():  # not by yanex: the scheduler went away, or someone cancelled it
            self._cancelled_elsewhere(entry)
            return
        error = remote.exception()
        if error is not None:
            name = type(error).__name__
            text = (
                f"worker lost: {error}"
                if name == "KilledWorker"
                else f"yanex could not run it on the cluster: {name}: {error}"
            )
            entry.fail(self._db, text)
            return
        try:
            result: RemoteResult = remote.result()
        except Exception:
            if self._client.status == "running":
                raise
            self._cancelled_elsewhere(entry)  # it ended, and its result was lost with the scheduler
            return
        if result.lost_before and not self._was_claimed(entry.experiment_id):
            self._send_again(entry)
            return
        lost = (
            f"worker lost: the Dask worker running it ({entry.worker or 'unknown'}) left the cluster mid-task"
        )
        entry.finish(self._db, self._owner, result, lost)

    def _was_claimed(self, experiment_id: str) -> bool:
        """Whether a worker claimed the experiment: a claim is in the queue before its script
        starts, so before its worker could die and the engine run the task again."""
        if experiment_id not in self._claimed and not self._gone:
            self._pull_live()
        return experiment_id in self._claimed

    def _send_again(self, entry: Tracked) -> None:
        """A task whose worker died before starting it: sent again, or dropped once stopped."""
        with self._lock:
            if self._stopped or self._closing:
                drop(entry.future)
                return
            entry.handle = self._send(entry.task, f"yanex-{entry.experiment_id}-{uuid.uuid4().hex[:8]}")
            entry.done = False
        entry.handle.add_done_callback(lambda _: self._wake.set())

    def _cancelled_elsewhere(self, entry: Tracked) -> None:
        """Its Dask task was cancelled, not by yanex: by the scheduler's going away (the client
        then cancels every task, and tries to reconnect), or by another client."""
        self._gone = self._gone or self._client.status != "running"
        what = (
            f"{SCHEDULER_LOST}{self._scheduler} went away" if self._gone else "cancelled on the Dask cluster"
        )
        if self._was_claimed(entry.experiment_id):
            tell = "; `yanex ingest` of its worker's spool records how it ended" if self._gone else ""
            entry.fail(self._db, f"{what} while it ran{tell}")
        else:
            entry.never_ran(self._db, f"{what} before it was seen to start")


def _input_parts(root: Path, sha256: str, size: int) -> Iterator[bytes | str]:
    """The content ``sha256`` of this store in parts, then ""; or why it cannot be sent, instead
    (after the parts sent so far)."""
    if not blobs.present(root, sha256, size):
        yield lacking(root, sha256)
        return
    try:
        for offset in range(0, size, PART):
            yield read_part(root, sha256, offset)
    except OSError as error:
        yield f"the orchestrator could not read it: {error}"
        return
    yield ""


def open_dask(target: object, db: Database, owner: Owner) -> DaskExecutor:
    """The executor for a ``dask://`` address (its client closed at shutdown) or a Client."""
    if isinstance(target, str):
        return DaskExecutor(connect(target), db, owner, own_client=True)
    return DaskExecutor(cast("Client", target), db, owner)


__all__ = ["SCHEME", "DaskExecutor", "connect", "open_dask"]
