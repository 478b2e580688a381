"""One experiment on a cluster worker: the same supervisor as locally, and no database.

A worker receives a ``RemoteTask`` (everything the script needs, nothing that points back at the
orchestrator's disk) and the code snapshot. It unpacks the snapshot once per machine, runs the
script under ``yanex.supervisor.launch.ExperimentProcess`` with a ``SpoolRecorder``: the experiment's
folder is in the worker's spool (config, output, metrics journal, outcome marker: the same files
as locally), and what the supervisor would write to the database goes to a ``Channel`` instead
(live metrics to the orchestrator, the outcome as the task's result). The spool is what
``yanex ingest`` recovers from when the orchestrator died before receiving the result.

Artifacts: the script saves their contents in the spool's blob folder (``$YANEX_BLOBS``), which
the orchestrator brings home (``yanex.artifacts.transfer``); the contents its dependencies saved
are put there before it starts, and ``inputs.json`` lists them (``yanex.artifacts.inputs``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from pydantic import JsonValue

from yanex import config
from yanex.artifacts import blobs, inputs
from yanex.artifacts.inputs import ParentArtifacts
from yanex.artifacts.lines import ArtifactLine
from yanex.artifacts.transfer import spool_blobs
from yanex.executors.snapshot import materialise
from yanex.specs import Status, TimeLimit
from yanex.store.convert import now_utc
from yanex.store.dependencies import Parent
from yanex.store.experiments import Owner
from yanex.store.outcome import OutcomeMarker, marker_text
from yanex.supervisor.executor import StopReason
from yanex.supervisor.launch import ExperimentProcess, LaunchRequest, Outcome, OutputMode
from yanex.supervisor.pruned import request_stop

SPOOL_ENV = "YANEX_SPOOL"  # on a worker: where experiments' folders go (a shared one for Slurm)
TASK_FILE = "task.json"  # in a spool folder: which experiment it is, for `yanex ingest`
LIVE_READ = 1024 * 1024  # journal bytes sent per tick (the local supervisor's TICK_READ)
LOG_LIMIT = 8 * 1024 * 1024  # bytes of each output log returned (the spool keeps all of it)
KILL = "kill"  # the stop word that SIGKILLs instead of interrupting


@dataclass(frozen=True)
class RemoteTask:
    """Paths are relative to the snapshot's root, so the task runs wherever it is unpacked."""

    experiment_id: str
    digest: str
    script: str
    cwd: str
    script_args: tuple[str, ...]
    config: dict[str, JsonValue]
    name: str | None
    time_limit: TimeLimit | None
    env: dict[str, str] = field(default_factory=dict)
    dependencies: tuple[Parent, ...] = ()
    inputs: tuple[ParentArtifacts, ...] = ()  # what the dependencies saved, for the script to read
    system_metrics_interval: float = 10.0  # the orchestrator's setting, not the worker's


@dataclass(frozen=True)
class RemoteResult:
    """What comes back: the outcome the supervisor saw, and the whole journal (compressed)."""

    experiment_id: str
    status: Status
    exit_code: int | None
    error_message: str | None
    ended_at: datetime
    journal: bytes
    stdout: bytes
    stderr: bytes
    host: str
    lost_before: bool = False  # this try was re-run by the engine after its worker died


class Channel(Protocol):
    """The worker's line to the orchestrator while a script runs."""

    def started(self, experiment_id: str, pid: int, at: datetime) -> None: ...

    def metrics(self, experiment_id: str, offset: int, data: bytes) -> None: ...

    def inputs(self, experiment_id: str, wanted: list[ArtifactLine], root: Path) -> dict[str, str]:
        """Bring the contents of ``wanted`` into the blob folder ``root`` before the script
        starts; why each that could not be (by SHA-256)."""
        ...

    def stop_reason(self) -> str | None:
        """A ``StopReason`` value, ``KILL``, or None to run on."""
        ...

    def pruned(self, experiment_id: str) -> str | None:
        """Why the batch's pruning stopped the experiment, or None to run on."""
        ...


def spool_root() -> Path:
    """``$YANEX_SPOOL``, else ``~/.yanex-spool``: outside the engine's scratch space, which a
    worker deletes when it stops."""
    return Path(os.environ.get(SPOOL_ENV) or Path.home() / ".yanex-spool")


class SpoolRecorder:
    """``yanex.supervisor.launch.Recorder`` for a worker: spool files, and the channel."""

    def __init__(self, task: RemoteTask, folder: Path, channel: Channel) -> None:
        self.task, self.folder, self.channel = task, folder, channel
        self.process: ExperimentProcess | None = None
        self.sent = 0  # journal bytes sent live
        self.marker: OutcomeMarker | None = None

    def started(self, pid: int) -> None:
        self.channel.started(self.task.experiment_id, pid, now_utc())

    def tick(self, *, beat: bool) -> bool:
        del beat  # the orchestrator keeps the heartbeat of what it runs
        self._stop_if_asked()
        try:
            with (self.folder / config.METRICS_FILE).open("rb") as journal:
                journal.seek(self.sent)
                chunk = journal.read(LIVE_READ)
        except OSError:
            return False
        chunk = chunk[: chunk.rfind(b"\n") + 1]
        if not chunk:
            return False
        try:
            self.channel.metrics(self.task.experiment_id, self.sent, chunk)
        except Exception:  # the orchestrator is gone: the spool keeps it all for `yanex ingest`
            return False
        self.sent += len(chunk)
        return len(chunk) >= LIVE_READ // 2

    def _stop_if_asked(self) -> None:
        process = self.process
        if process is None or process.interrupted:
            return
        try:
            reason = self.channel.stop_reason()
        except Exception:
            return
        with contextlib.suppress(Exception):  # the flag its supervisor reads, once
            if process.pruned is None and (pruned := self.channel.pruned(self.task.experiment_id)):
                request_stop(self.folder, pruned)
        if reason == KILL:
            process.send_signal(signal.SIGKILL)
        elif reason:
            process.cancel_reason = reason
            if reason == StopReason.TERMINATED.value:
                process.terminate()
            else:
                process.send_signal(signal.SIGINT)

    def ended(self, marker: OutcomeMarker) -> Outcome:
        self.marker = marker
        write_atomic(self.folder / config.OUTCOME_FILE, marker_text(marker).encode("ascii"))
        return Outcome(self.task.experiment_id, marker.status, marker.exit_code, marker.error_message, None)


def write_atomic(path: Path, data: bytes) -> None:
    """Readers on any host see the old file or the new one, never half of it; a temporary name of
    its own per writer, for files several processes write (a shared folder's stop word)."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    temporary.write_bytes(data)
    temporary.replace(path)


def _tail(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - limit))
            return handle.read()
    except OSError:
        return b""


def _bring_inputs(task: RemoteTask, channel: Channel, blob_root: Path, folder: Path) -> Path:
    """Put the contents the dependencies saved in the spool's blob folder (those not there yet:
    a dependency that ran on this worker left its own), and write the inputs file that lists
    them, with why any is missing; its path."""
    wanted = {
        artifact.sha256: artifact
        for parent in task.inputs
        for artifact in parent.artifacts
        if artifact.sha256 not in parent.missing
        and not blobs.present(blob_root, artifact.sha256, artifact.size)
    }
    failed = channel.inputs(task.experiment_id, list(wanted.values()), blob_root) if wanted else {}
    listed = tuple(
        dataclasses.replace(parent, missing={**parent.missing, **failed}) for parent in task.inputs
    )
    path = folder / inputs.FILE
    inputs.write(path, listed)
    return path


def run_task(
    task: RemoteTask,
    code: Callable[[], bytes],
    workdir: Path,
    channel: Channel,
    lost_before: Callable[[], bool] = lambda: False,
    spool: Path | None = None,
    on_start: Callable[[ExperimentProcess], None] = lambda _: None,
) -> RemoteResult:
    """Run ``task`` on this machine; ``workdir`` holds the code cache, ``spool`` the experiment
    folders (default ``spool_root()``). ``code`` fetches the snapshot, called only when this
    machine has not unpacked it yet. A task whose spool folder exists already is an engine's
    re-run of a try it lost (a Slurm requeue): it returns at once, as ``lost_before``. ``on_start``
    gets the supervisor before the script starts (for a caller's signal handlers)."""
    host = socket.gethostname()
    folder = (spool or spool_root()) / task.experiment_id
    if lost_before() or (folder / TASK_FILE).exists():
        return RemoteResult(
            task.experiment_id, Status.FAILED, None, None, now_utc(), b"", b"", b"", host, lost_before=True
        )
    reason = channel.stop_reason()
    if reason:  # the batch was stopped before this task began: never start it
        text = StopReason.ERROR.value if reason == KILL else reason
        return RemoteResult(task.experiment_id, Status.CANCELLED, None, text, now_utc(), b"", b"", b"", host)
    root = materialise(workdir / "yanex-code", task.digest, code)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(
        folder / TASK_FILE,
        json.dumps({"experiment_id": task.experiment_id, "snapshot": task.digest}).encode(),
    )
    blob_root = spool_blobs(folder.parent)
    request = LaunchRequest(
        experiment_id=task.experiment_id,
        script_path=root / task.script,
        script_args=task.script_args,
        config=task.config,
        name=task.name,
        cwd=root / task.cwd,
        time_limit=task.time_limit,
        dependencies=task.dependencies,
        system_metrics_interval=task.system_metrics_interval,
        env={
            config.BLOBS_ENV: str(blob_root),
            config.INPUTS_ENV: str(_bring_inputs(task, channel, blob_root, folder)),
        },
    )
    recorder = SpoolRecorder(task, folder, channel)
    saved = {key: os.environ.get(key) for key in task.env}
    os.environ.update(task.env)  # the script inherits the supervisor's environment
    try:
        process = ExperimentProcess(
            None,
            request,
            Owner(host, os.getpid()),  # unused: the orchestrator owns the rows
            output=OutputMode.QUIET,
            own_session=True,
            recorder=recorder,
            directory=folder,
        )
        recorder.process = process
        on_start(process)
        process.start()
        try:
            process.wait()
        except BaseException:
            process.send_signal(signal.SIGKILL)
            process.sweep()
            raise
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    marker = recorder.marker
    assert marker is not None
    journal = (folder / config.METRICS_FILE).read_bytes() if (folder / config.METRICS_FILE).exists() else b""
    return RemoteResult(
        task.experiment_id,
        marker.status,
        marker.exit_code,
        marker.error_message,
        marker.ended_at,
        zlib.compress(journal, 1),
        _tail(folder / config.STDOUT_FILE, LOG_LIMIT),
        _tail(folder / config.STDERR_FILE, LOG_LIMIT),
        host,
    )


__all__ = [
    "KILL",
    "SPOOL_ENV",
    "TASK_FILE",
    "Channel",
    "RemoteResult",
    "RemoteTask",
    "run_task",
    "write_atomic",
]
