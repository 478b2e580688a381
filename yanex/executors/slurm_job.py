"""The compute node's side of a Slurm batch: the job submitit runs, and the folder it shares.

Everything crosses through one folder per batch on the filesystem the cluster shares (``folder``
of ``yanex.executors.slurm``, by default under ``yanex.config.slurm_folder()``):

- ``yanex-code/<sha256>.tar``: the code snapshot, written once; the first job to need it unpacks
  it beside the archive (``yanex.executors.snapshot.materialise``) and every later job reuses it;
- ``jobs/``: submitit's job scripts, pickled tasks and results, and the jobs' own logs;
- ``spool/<id>/``: each experiment's folder, as on a Dask worker (config, output, metrics journal,
  outcome, plus ``started.json``), what ``yanex ingest`` recovers from;
- ``stop``: the stop word (Ctrl-C, fail_fast) that running jobs read every half second;
- ``ended/<id>``: an empty file each job leaves as it returns, so that the orchestrator reads two
  folders per tick (``spool`` and ``ended``) instead of checking a file per experiment.

A job never opens the database: it runs its script under yanex's supervisor
(``yanex.executors.remote.run_task``), leaves its notes in the spool and returns the
``RemoteResult`` that the orchestrator (``yanex.executors.slurm_executor``) records. A job that
Slurm runs a second time (requeued after preemption or a node failure) finds its spool folder
taken and returns at once: one row never holds two runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from yanex.artifacts.lines import ArtifactLine
from yanex.errors import ConfigError, install_hint
from yanex.executors.remote import RemoteResult, RemoteTask, run_task, write_atomic
from yanex.specs import Status
from yanex.supervisor.executor import StopReason
from yanex.supervisor.launch import ExperimentProcess
from yanex.supervisor.reaper import become_subreaper

STARTED = "started.json"  # in a spool folder: where and when the job started its script


def import_submitit() -> Any:
    """submitit, imported only once Slurm is asked for; a ``ConfigError`` saying how to install it."""
    try:
        import submitit
    except ImportError:
        raise ConfigError(
            "the Slurm executor needs submitit, which is not installed", hint=install_hint("slurm")
        ) from None
    return submitit


@dataclass(frozen=True)
class BatchFolder:
    """One batch's folder on the shared filesystem (see the module docstring)."""

    root: Path

    @property
    def code(self) -> Path:
        return self.root / "yanex-code"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def stop(self) -> Path:
        return self.root / "stop"

    @property
    def ended(self) -> Path:
        """One empty file per experiment whose job has returned (its result follows at once)."""
        return self.root / "ended"

    def listing(self) -> tuple[set[str], set[str]]:
        """The experiments whose jobs began (a spool folder) and those that ended: two directory
        reads per tick however large the batch, not a file check per experiment (on NFS, each is
        a round trip to the server)."""
        found: list[set[str]] = []
        for folder in (self.spool, self.ended):
            try:
                found.append(set(os.listdir(folder)))
            except OSError:
                found.append(set())
        return found[0], found[1]


class _FileChannel:
    """A job's ``yanex.executors.remote.Channel``: notes in the spool, the stop word in a file."""

    def __init__(self, folder: BatchFolder, job_id: str) -> None:
        self.folder, self.job_id = folder, job_id

    def started(self, experiment_id: str, pid: int, at: datetime) -> None:
        note = {"host": socket.gethostname(), "pid": pid, "at": at.isoformat(), "job": self.job_id}
        write_atomic(self.folder.spool / experiment_id / STARTED, json.dumps(note).encode())

    def metrics(self, experiment_id: str, offset: int, data: bytes) -> None:
        """Nothing to send: the orchestrator reads the journal in the spool itself."""

    def inputs(self, experiment_id: str, wanted: list[ArtifactLine], root: Path) -> dict[str, str]:
        """Nothing to fetch: the orchestrator copied them into the spool's blob folder when it
        submitted the job; what is not there did not get there."""
        why = f"it is not in the batch's blob folder ({root}), where the orchestrator copies them"
        return {artifact.sha256: why for artifact in wanted}

    def stop_reason(self) -> str | None:
        try:
            return self.folder.stop.read_text().strip() or None
        except FileNotFoundError:
            return None

    def pruned(self, experiment_id: str) -> str | None:
        """Nothing to relay: the orchestrator writes the stop flag into the spool folder the job
        shares (``SlurmExecutor.prune``), where its supervisor reads it."""
        return None


def run_in_job(task: RemoteTask, folder: BatchFolder) -> RemoteResult:
    """The submitit job, on a compute node: the script under yanex's supervisor.

    Ctrl-C of the local cluster's job (SIGINT) kills the script at once, recorded cancelled: the
    job's process is SIGKILLed a second later, and the script must not outlive it. SIGTERM and
    SIGUSR2 reach the script from Slurm itself (scancel, requeue, preemption, the job's time
    limit); this process stays to report how it ended, and says that Slurm ended it."""
    submitit = import_submitit()
    job_id = str(submitit.JobEnvironment().job_id)
    become_subreaper()  # what the script leaves behind comes back here to be killed
    supervised: list[ExperimentProcess] = []
    ended_by_slurm: list[int] = []

    def cancel(_signum: int, _frame: object) -> None:
        for process in supervised:
            process.cancel_reason = StopReason.USER.value
            process.send_signal(signal.SIGKILL)

    signal.signal(signal.SIGINT, cancel)
    for signum in (signal.SIGTERM, signal.SIGUSR2):
        signal.signal(signum, lambda signum, _frame: ended_by_slurm.append(signum))
    channel = _FileChannel(folder, job_id)
    archive = folder.code / f"{task.digest}.tar"
    try:
        result = run_task(
            task, archive.read_bytes, folder.root, channel, spool=folder.spool, on_start=supervised.append
        )
    finally:
        (folder.ended / task.experiment_id).touch()
    if ended_by_slurm and result.status is Status.FAILED and not result.lost_before:
        why = f"Slurm ended job {job_id} (scancel, requeue, preemption or its time limit)"
        result = dataclasses.replace(result, error_message=f"{result.error_message}; {why}")
    return result


__all__ = ["STARTED", "BatchFolder", "import_submitit", "run_in_job"]
