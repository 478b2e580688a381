"""The orchestrator's side of one remote experiment, whatever engine runs it.

A ``Tracked`` experiment turns what an engine reports (started on a host, journal bytes, the
``RemoteResult``) into what a local supervisor would have written: the row marked running, the
metrics journal mirrored into the local experiment folder and ingested (the contents of the
artifacts it records brought home first, from the executor's ``BlobSource``), the output and the
outcome recorded. The Dask and Slurm executors differ only in how those reports travel.
"""

from __future__ import annotations

import contextlib
import functools
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from yanex import config
from yanex.artifacts import blobs
from yanex.artifacts.reading import dependency_artifacts
from yanex.artifacts.transfer import BlobSource, TransferError, copy_blobs, saved_in
from yanex.db.engine import Database
from yanex.executors.remote import RemoteResult, RemoteTask
from yanex.executors.snapshot import Snapshot, relative_to_snapshot
from yanex.specs import Status
from yanex.store.experiments import Owner, finish, mark_running
from yanex.store.ingest import JournalIngest
from yanex.store.outcome import OutcomeMarker
from yanex.supervisor.executor import Task, record_failure, resolve
from yanex.supervisor.launch import DatabaseRecorder, Outcome, say, write_params


def to_remote_task(task: Task, snapshot: Snapshot, env: dict[str, str], db: Database) -> RemoteTask:
    """``task`` with its paths relative to the snapshot, so it runs wherever that is unpacked, and
    the artifacts its dependencies saved, for the script to read there."""
    request = task.request
    script = relative_to_snapshot(snapshot.root, request.script_path)
    assert script is not None
    cwd = relative_to_snapshot(snapshot.root, request.cwd or Path.cwd())
    if cwd is None:  # the orchestrator's folder is not shipped: run beside the script
        cwd = Path(script).parent.as_posix()
    return RemoteTask(
        experiment_id=request.experiment_id,
        digest=snapshot.digest,
        script=script,
        cwd=cwd,
        script_args=request.script_args,
        config=request.config,
        name=request.name,
        time_limit=request.time_limit,
        env=env,
        dependencies=request.dependencies,
        inputs=dependency_artifacts(db, request.dependencies) if request.dependencies else (),
        system_metrics_interval=request.system_metrics_interval,
    )


class _Unknown:
    """The source of a try whose worker never said where it runs."""

    def parts(self, sha256: str, size: int) -> Iterator[bytes]:
        raise TransferError("the worker that ran it never reported where it runs")


_UNKNOWN = _Unknown()


@dataclass
class Tracked:
    """One try on an engine. ``handle``: the engine's own future or job."""

    task: Task
    future: Future[Outcome]
    handle: Any
    worker: str | None = None  # where it reported starting
    mirrored: int = 0  # journal bytes written to the local folder
    done: bool = False
    source: BlobSource = _UNKNOWN  # where the contents of the artifacts it saves are
    _ingest: JournalIngest | None = None

    @property
    def experiment_id(self) -> str:
        return self.task.request.experiment_id

    @property
    def queued(self) -> bool:
        """Not started anywhere as far as this process knows, and not settled."""
        return self.worker is None and not self.future.done() and not self.future.running()

    def started(
        self, db: Database, owner: Owner, worker: str, pid: int, at: datetime, host: str | None
    ) -> None:
        """The script started on ``host`` (``worker``: the engine's name for where, for messages)."""
        self.worker = worker
        if not self.future.running() and self.future.set_running_or_notify_cancel():
            mark_running(db, self.experiment_id, pid, owner, started_at=at, hostname=host)

    def receive(self, db: Database, offset: int, data: bytes) -> None:
        """Journal bytes from ``offset``: appended to the local copy and ingested. A chunk out of
        order is left for the end, when the whole journal comes with the result."""
        if offset != self.mirrored or not data:
            return
        self._append(data)
        if self._ingest is None:
            self._ingest = JournalIngest(db, self.experiment_id)
        self._ingest.step(4 * len(data) + 1024)

    def _append(self, data: bytes) -> None:
        """Append to the local journal, once the content of every artifact ``data`` records is in
        the blob store (so a row of ``artifacts`` never comes before its content, as locally).
        Under the blob lock, as a saver: ``yanex gc`` sees the content referenced or not yet there."""
        folder = config.experiment_dir(self.experiment_id)
        folder.mkdir(parents=True, exist_ok=True)
        saved = saved_in(data)
        root = config.blobs_root()
        with blobs.lock_for(root).held() if saved else contextlib.nullcontext():
            failed = copy_blobs(root, self.source, saved).failed
            with (folder / config.METRICS_FILE).open("ab") as journal:
                journal.write(data)
        self.mirrored += len(data)
        for artifact in saved:
            if artifact.sha256 in failed:
                say(
                    f"experiment {self.experiment_id}: the content of artifact {artifact.name!r} did not "
                    f"come back from the worker ({failed.pop(artifact.sha256)}); `yanex ingest` of the "
                    "worker's spool brings it home"
                )

    def fail(self, db: Database, message: str) -> None:
        """Record it failed (``yanex.supervisor.executor.record_failure``) and resolve the future
        (``resolve`` leaves one a stop dropped)."""
        if not self.future.done() and not self.future.running():
            self.future.set_running_or_notify_cancel()
        resolve(self.future, functools.partial(record_failure, db, self.experiment_id, message))

    def never_ran(self, db: Database, message: str) -> None:
        """Record it ``cancelled`` with ``message`` (it never started, and cannot now: the
        engine is gone) and resolve the future."""

        def record() -> Outcome:
            recorded = finish(db, self.experiment_id, Status.CANCELLED, error_message=message)
            if recorded.status is None:  # deleted meanwhile
                return Outcome(self.experiment_id, Status.CANCELLED, None, message, None)
            return Outcome(
                self.experiment_id,
                recorded.status,
                recorded.exit_code,
                recorded.error_message,
                recorded.duration,
            )

        if not self.future.done() and not self.future.running():
            self.future.set_running_or_notify_cancel()
        resolve(self.future, record)

    def finish(self, db: Database, owner: Owner, result: RemoteResult, lost: str) -> None:
        """Record what came back; ``lost``: the message when the engine ran this try again after
        losing its first run (yanex retries with a new row instead)."""
        if self.future.cancelled():
            return
        if result.lost_before:
            self.fail(db, lost)
            return
        if not self.future.running():  # its start note had not arrived yet
            self.future.set_running_or_notify_cancel()
        resolve(self.future, lambda: self._record(db, owner, result))

    def _record(self, db: Database, owner: Owner, result: RemoteResult) -> Outcome:
        folder = config.experiment_dir(self.experiment_id)
        folder.mkdir(parents=True, exist_ok=True)
        self._append(zlib.decompress(result.journal)[self.mirrored :])
        write_params(folder, self.task.request.config)
        for name, data in ((config.STDOUT_FILE, result.stdout), (config.STDERR_FILE, result.stderr)):
            (folder / name).write_bytes(data)
        marker = OutcomeMarker(result.status, result.exit_code, result.error_message, result.ended_at)
        return DatabaseRecorder(db, self.experiment_id, owner).ended(marker)

    def settle_guarded(self, settle: Callable[[], None]) -> None:
        """Run ``settle``; an error in it fails this future instead of ending the caller's thread
        (whose death would leave the batch waiting forever)."""
        try:
            settle()
        except Exception as error:
            if not self.future.done():
                if not self.future.running():
                    self.future.set_running_or_notify_cancel()
                self.future.set_exception(error)


def forget_settled(entries: dict[str, Tracked]) -> None:
    """Drop the entries settled or dropped (an executor's thread ends once none is left)."""
    for key in [key for key, entry in entries.items() if entry.done or entry.future.cancelled()]:
        del entries[key]


__all__ = ["Tracked", "forget_settled", "to_remote_task"]
