"""``SlurmExecutor``: a batch's experiments as Slurm jobs through submitit; this process the one writer.

The orchestrator's side; what runs on the compute nodes, and the batch folder both sides share,
is ``yanex.executors.slurm_job``. Jobs never open the database. This process reads each running
experiment's journal from the spool every half second into the database (so ``yanex list`` shows
progress) and records the outcome a job returns; ``squeue`` (no accounting database needed) tells
it which jobs ended without one. Experiments submitted together with the same time limit go to
Slurm as one job array (split at ``MaxArraySize``). When a job that Slurm ran a second time
(requeued after preemption or a node failure) reports that its first run could not, the try is
recorded ``worker lost`` and ``retries`` starts a new row, as for a Dask worker that died.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from yanex import config
from yanex.artifacts.transfer import FolderSource, copy_blobs, spool_blobs
from yanex.db.engine import Database
from yanex.errors import ConfigError
from yanex.executors.remote import KILL, LIVE_READ, TASK_FILE, RemoteTask, write_atomic
from yanex.executors.slurm_job import STARTED, BatchFolder, import_submitit, run_in_job
from yanex.executors.slurm_options import SlurmOptions
from yanex.executors.snapshot import Snapshot, take_snapshot
from yanex.executors.spool import recover
from yanex.executors.tracking import Tracked, forget_settled, to_remote_task
from yanex.specs import TimeLimit
from yanex.store.experiments import Owner
from yanex.supervisor.executor import StopReason, Task, drop
from yanex.supervisor.launch import Outcome, say
from yanex.supervisor.pruned import request_stop

_TICK = 0.5  # seconds between reads of the spool
_QUEUE_EVERY = 10.0  # seconds between asks to squeue which jobs are still there
_GONE_AFTER = 30.0  # seconds a job may be out of the queue with no result (NFS lag) before it is lost
_SETTLE = 30.0  # seconds a killed batch waits for its jobs' last reports
_START_UP_MINUTES = 5  # Slurm time asked beyond an experiment's own limit
# squeue states of a job that may still run (and report); any other is over.
_UNFINISHED = {
    "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING",
    "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SPECIAL_EXIT", "RESIZING", "RESV_DEL_HOLD", "STAGE_OUT",
}  # fmt: skip


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@dataclass
class _Job:
    """A tracked experiment's submission: its remote task and the minutes Slurm grants it."""

    entry: Tracked
    task: RemoteTask
    minutes: int


class SlurmExecutor:
    """``yanex.supervisor.executor.Executor`` on Slurm (or submitit's local executor)."""

    def __init__(self, options: SlurmOptions, db: Database, owner: Owner) -> None:
        submitit = import_submitit()
        self._options, self._db, self._owner = options, db, owner
        self._local = options.cluster == "local"
        base = options.folder or config.slurm_folder()
        label = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.folder = BatchFolder(base.expanduser().resolve() / label)
        if self._local:
            engine = submitit.LocalExecutor(folder=self.folder.jobs, python=options.python)
        elif shutil.which("sbatch") is None:
            raise ConfigError(
                "there is no Slurm here: sbatch is not on PATH",
                hint="start the batch on the cluster's login node, or pass cluster='local' to try "
                "it on this machine",
            )
        else:
            engine = submitit.SlurmExecutor(folder=self.folder.jobs, python=options.python)
        self._engine: Any = engine  # submitit's job API is loosely typed
        for path in (self.folder.code, self.folder.jobs, self.folder.spool, self.folder.ended):
            path.mkdir(parents=True, exist_ok=True)
        self._snapshots: dict[Path, Snapshot] = {}
        self._lock = threading.Lock()
        self._waiting: list[_Job] = []  # not handed to Slurm yet
        self._entries: dict[str, Tracked] = {}
        self._gone: dict[str, tuple[float, str]] = {}  # out of the queue with no result: since, state
        self._arrays: set[str] = set()  # Slurm's ids of the arrays (or single jobs) submitted
        self._array_limit = 0 if self._local else max_array_size()  # jobs per array
        self._last_submit = 0.0  # monotonic time of the latest submit: hand over once they pause
        self._held: set[str] = set()  # jobs reported held, so that it is said once
        self._keep = False  # a job ended lost: keep the batch's folder for `yanex ingest`
        self._stopped = False
        self._closing = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="yanex-slurm", daemon=True)
        self._thread.start()

    @property
    def label(self) -> str:
        return self._options.describe()

    @property
    def _cap(self) -> int | None:
        """The most jobs of the batch at once; the local cluster has no queue: one per CPU."""
        if self._local:
            return self._options.max_parallel or os.cpu_count() or 1
        return self._options.max_parallel

    @property
    def where(self) -> str:
        if self._local:
            return f"as local submitit jobs, at most {self._cap} at once"
        limit = f", at most {self._cap} at once" if self._cap else ""
        partition = f" on partition {self._options.partition}" if self._options.partition else ""
        return f"as Slurm jobs{partition}{limit}"

    # The executor interface -------------------------------------------------------------------

    def submit(self, task: Task) -> Future[Outcome]:
        limit = task.request.time_limit or self._options.time_limit
        snapshot = self._snapshot(task.request.script_path)
        remote = self._with_inputs(
            dataclasses.replace(
                to_remote_task(task, snapshot, dict(self._options.env), self._db), time_limit=limit
            )
        )
        future: Future[Outcome] = Future()
        with self._lock:
            if self._closing:
                raise RuntimeError("the executor is shut down")
            entry = Tracked(task, future, None, source=FolderSource(self._blobs, "the batch's folder"))
            self._entries[remote.experiment_id] = entry
            self._waiting.append(_Job(entry, remote, _minutes(limit)))
            self._last_submit = time.monotonic()
        return future

    def prune(self, experiment_id: str, reason: str) -> None:
        """The batch's pruning stopped ``experiment_id``: its stop flag goes into its spool folder,
        on the storage the job shares, where the job's supervisor (and ``yanex.should_stop``)
        reads it (``yanex.supervisor.pruned``); a job not started yet has no folder to write it to
        (pruning judges running experiments)."""
        folder = self.folder.spool / experiment_id
        if folder.is_dir():
            request_stop(folder, reason)

    def interrupt(self, reason: StopReason) -> None:
        with self._lock:
            if not self._stopped:
                self._stopped = True
                write_atomic(self.folder.stop, reason.value.encode())
            unstarted = self._drop_unstarted()
        self._cancel(unstarted)

    def shutdown(self, *, kill: bool = False) -> None:
        unstarted: list[Any] = []
        with self._lock:
            self._closing = True
            if kill:
                self._stopped = True
                write_atomic(self.folder.stop, KILL.encode())
                unstarted = self._drop_unstarted()
        self._cancel(unstarted)
        self._wake.set()
        self._thread.join(_SETTLE if kill else None)
        with self._lock:
            left = [entry for entry in self._entries.values() if not entry.future.done()]
            self._entries.clear()
        self._cancel([entry.handle for entry in left if entry.handle is not None])
        for entry in left:  # no answer from Slurm: record them rather than wait forever
            entry.fail(self._db, f"worker lost: no answer from {self._job_name(entry)}")
        if not self._local:  # a job Slurm requeued after its experiment was recorded runs no more
            _scancel(self._arrays)
        if left or self._keep:
            say(f"what lost jobs report later stays in {self.folder.spool}: `yanex ingest` records it")
        else:
            shutil.rmtree(self.folder.root, ignore_errors=True)

    # Orchestrator side ------------------------------------------------------------------------

    @property
    def _blobs(self) -> Path:
        """The blob folder jobs save artifact contents to, and read their dependencies' from."""
        return spool_blobs(self.folder.spool)

    def _with_inputs(self, task: RemoteTask) -> RemoteTask:
        """Copy the contents its dependencies saved into the batch's blob folder (once each: a
        dependency that ran in the batch left them there); any that could not be is listed
        missing, with why, for the script's error."""
        source = FolderSource(config.blobs_root(), "the orchestrator's store")
        parents = []
        for parent in task.inputs:
            copied = copy_blobs(
                self._blobs, source, [a for a in parent.artifacts if a.sha256 not in parent.missing]
            )
            parents.append(dataclasses.replace(parent, missing={**parent.missing, **copied.failed}))
        return dataclasses.replace(task, inputs=tuple(parents))

    def _snapshot(self, script: Path) -> Snapshot:
        folder = script.parent
        if folder not in self._snapshots:
            snapshot = take_snapshot(script)
            archive = self.folder.code / f"{snapshot.digest}.tar"
            if not archive.exists():
                write_atomic(archive, snapshot.data)
            self._snapshots[folder] = snapshot
        return self._snapshots[folder]

    def _drop_unstarted(self) -> list[Any]:
        """Called with the lock held: drop every experiment no job has started, waiting, being
        submitted (``_hand_over`` cancels those jobs once it has their ids) or queued in Slurm;
        return the jobs to cancel. One whose job has begun but whose start note is not read yet
        is left to the stop word, and recorded as it ends."""
        self._waiting.clear()
        handles = []
        began, _ = self.folder.listing()
        for entry in self._entries.values():
            if entry.queued and entry.experiment_id not in began:
                drop(entry.future)
                if entry.handle is not None:
                    handles.append(entry.handle)
        return handles

    def _cancel(self, handles: Iterable[Any]) -> None:
        handles = list(handles)
        if not handles:
            return
        if self._local:
            for handle in handles:
                with contextlib.suppress(Exception):
                    handle.cancel(check=False)
        else:
            _scancel(str(handle.job_id) for handle in handles)

    def _serve(self) -> None:
        asked_queue = time.monotonic()
        while True:
            self._wake.wait(_TICK)
            self._wake.clear()
            self._hand_over()
            with self._lock:
                running = [e for e in self._entries.values() if e.handle is not None and not e.done]
            began, ended = self.folder.listing()
            for entry in running:
                entry.settle_guarded(functools.partial(self._follow, entry, began, ended))
            if not self._local and time.monotonic() - asked_queue >= _QUEUE_EVERY:
                asked_queue = time.monotonic()
                self._ask_queue(running)
            with self._lock:
                forget_settled(self._entries)
                if self._closing and not self._entries:
                    return

    def _hand_over(self) -> None:
        """Submit what waits, once ``submit`` calls pause (so a batch goes as one array): one job
        array per time limit, of at most Slurm's ``MaxArraySize``. With ``max_parallel`` the batch
        never has more jobs running than that, whatever its arrays (retries and experiments a
        dependency released come in later ones): an array may run ``%room`` at once, the room
        the batch's unsettled jobs leave; none is submitted while there is no room. The local
        cluster has no queue: it gets as many jobs as there is room for (default: one per CPU)."""
        cap = self._cap
        with self._lock:
            if time.monotonic() - self._last_submit < _TICK / 2 and not self._closing:
                return
            active = sum(1 for e in self._entries.values() if e.handle is not None and not e.done)
            waiting, self._waiting = self._waiting, []
        groups: dict[int, list[_Job]] = {}
        for job in waiting:
            if not job.entry.future.cancelled():  # dropped by a stop meanwhile
                groups.setdefault(job.minutes, []).append(job)
        held: list[_Job] = []
        for minutes, group in groups.items():
            while group:
                room = len(group) if cap is None else cap - active
                if room <= 0:
                    held += group
                    break
                take = min(len(group), room if self._local else self._array_limit)
                chunk, group = group[:take], group[take:]
                self._submit_chunk(minutes, chunk, min(room, len(chunk)))
                active += len(chunk)
        with self._lock:
            self._waiting[:0] = [job for job in held if not job.entry.future.cancelled()]

    def _submit_chunk(self, minutes: int, jobs: list[_Job], at_once: int) -> None:
        try:
            handles = self._submit_array(minutes, jobs, at_once)
        except Exception as error:
            why = _last_line(str(error)) or type(error).__name__
            for job in jobs:
                job.entry.done = True
                job.entry.fail(self._db, f"yanex could not run it on the cluster: Slurm refused it: {why}")
            return
        with self._lock:
            for job, handle in zip(jobs, handles, strict=True):
                job.entry.handle = handle
            self._arrays.add(str(handles[0].job_id).split("_")[0])
            dropped = [
                handle for job, handle in zip(jobs, handles, strict=True) if job.entry.future.cancelled()
            ]
        self._cancel(dropped)  # stopped while sbatch ran

    def _submit_array(self, minutes: int, jobs: list[_Job], at_once: int) -> list[Any]:
        options = self._options
        if self._local:
            self._engine.update_parameters(timeout_min=minutes, setup=list(options.setup))
        else:
            given = {
                "partition": options.partition,
                "gpus_per_node": options.gpus_per_node,
                "cpus_per_task": options.cpus_per_task,
                "mem": None if options.mem_gb is None else f"{math.ceil(options.mem_gb * 1024)}MB",
                "account": options.account,
                "qos": options.qos,
                "constraint": options.constraint,
            }
            self._engine.update_parameters(
                time=minutes,
                array_parallelism=at_once,
                job_name="yanex",
                signal_delay_s=60,
                setup=list(options.setup),
                additional_parameters=dict(options.sbatch),
                **{key: value for key, value in given.items() if value is not None},
            )
        with self._engine.batch():
            handles = [self._engine.submit(run_in_job, job.task, self.folder) for job in jobs]
        return handles

    def _follow(self, entry: Tracked, began: set[str], ended: set[str]) -> None:
        """Take the job's start note and new journal lines; settle it once it has ended, from its
        result, or as lost when it ended without one (the local job's process is gone, or Slurm
        no longer lists it)."""
        experiment_id = entry.experiment_id
        folder = self.folder.spool / experiment_id
        if entry.worker is None and experiment_id in began:
            with contextlib.suppress(OSError, ValueError, KeyError):
                note = json.loads((folder / STARTED).read_text())
                where = f"{note['host']} (Slurm job {note['job']})"
                at = datetime.fromisoformat(note["at"])
                entry.started(self._db, self._owner, where, int(note["pid"]), at, str(note["host"]))
        if entry.worker is not None:
            with contextlib.suppress(OSError), (folder / config.METRICS_FILE).open("rb") as journal:
                journal.seek(entry.mirrored)
                chunk = journal.read(LIVE_READ)
                entry.receive(self._db, entry.mirrored, chunk[: chunk.rfind(b"\n") + 1])
        handle = entry.handle
        exited = self._local and handle.done()  # before looking for the result it leaves at its end
        gone_since, state = self._gone.get(experiment_id, (math.inf, ""))
        lost = exited or time.monotonic() - gone_since > _GONE_AFTER
        if (experiment_id in ended or lost) and handle.paths.result_pickle.exists():
            entry.done = True
            self._finish(entry)
        elif lost:
            entry.done = True
            self._lost(entry, f"ended ({state})" if state else "ended")

    def _finish(self, entry: Tracked) -> None:
        if entry.future.cancelled():
            return
        outcome, value = import_submitit().core.utils.pickle_load(entry.handle.paths.result_pickle)
        if outcome != "success":
            entry.fail(self._db, f"yanex could not run it on the cluster: {_last_line(str(value))}")
            return
        lost = f"worker lost: {self._job_name(entry)} was requeued (preempted, or its node failed)"
        entry.finish(self._db, self._owner, value, lost)

    def _lost(self, entry: Tracked, how: str) -> None:
        """Record a job that ended without its result: first whatever its spool holds (the
        journal's last lines, the output, the outcome its supervisor wrote if the script ended),
        which wins over the loss; the batch's folder stays for what it may still report."""
        if entry.future.cancelled():
            return
        self._keep = True
        folder = self.folder.spool / entry.experiment_id
        if (folder / TASK_FILE).is_file():
            recover(self._db, folder)
        log = ""
        with contextlib.suppress(OSError):
            lines = entry.handle.paths.stderr.read_text(errors="replace").splitlines()
            # srun's own summary ("task 0: Exited with exit code 2") follows the line that says why
            why = [line for line in lines if line.strip() and not line.startswith("srun: ")] or lines
            log = f"; its log ends: {why[-1].strip()}" if why else ""
        entry.fail(self._db, f"worker lost: {self._job_name(entry)} {how} without reporting back{log}")

    def _job_name(self, entry: Tracked) -> str:
        handle = entry.handle
        kind = "local submitit job" if self._local else "Slurm job"
        return kind if handle is None else f"{kind} {handle.job_id}"

    def _ask_queue(self, running: list[Tracked]) -> None:
        """Note the jobs Slurm no longer runs: with no result after ``_GONE_AFTER``, they are lost
        (killed by Slurm before reporting). squeue, not sacct: it needs no accounting database."""
        ids = {str(entry.handle.job_id): entry for entry in running}
        if not ids:
            return
        arrays = sorted({job_id.split("_")[0] for job_id in ids})
        try:
            listed = subprocess.run(
                [
                    "squeue",
                    "--noheader",
                    "--array",
                    "--states=all",
                    "--format=%i %T %r",
                    f"--jobs={','.join(arrays)}",
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired):
            return
        if listed.returncode != 0 and "Invalid job id" not in listed.stderr:
            return  # the controller did not answer: no news
        listed_jobs = (line.split(maxsplit=2) for line in listed.stdout.splitlines())
        states = {fields[0]: fields[1:] for fields in listed_jobs if len(fields) >= 2}
        now = time.monotonic()
        for job_id, entry in ids.items():
            state, *reason = states.get(job_id, ["", ""])
            if state in _UNFINISHED:
                self._gone.pop(entry.experiment_id, None)
            elif entry.experiment_id not in self._gone:
                self._gone[entry.experiment_id] = (now, state or "no longer in the queue")
            if state in ("PENDING", "REQUEUE_HOLD", "SPECIAL_EXIT") and "held" in " ".join(reason).lower():
                if job_id not in self._held:  # it would wait forever, silently
                    self._held.add(job_id)
                    why = " ".join(reason)
                    say(
                        f"Slurm holds job {job_id} ({why}): the batch waits for it; "
                        f"`scontrol release {job_id}` runs it, `scancel {job_id}` records it lost"
                    )
            else:
                self._held.discard(job_id)


def max_array_size() -> int:
    """Slurm's ``MaxArraySize``: the most jobs one array may hold (1001 unless configured)."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired, ValueError):
        shown = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=60)
        for line in shown.stdout.splitlines():
            name, _, value = line.partition("=")
            if name.strip() == "MaxArraySize":
                return max(1, int(value.strip()))
    return 1000


def _scancel(job_ids: Iterable[str]) -> None:
    """Cancel jobs (or whole arrays) in one call; one already over is no error worth reporting."""
    ids = sorted(set(job_ids))
    if ids:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(["scancel", *ids], capture_output=True, timeout=60)


def _minutes(limit: TimeLimit) -> int:
    """The Slurm time of a job whose script may run ``limit``: start-up and reporting included."""
    return math.ceil(limit.seconds / 60) + _START_UP_MINUTES


__all__ = ["SlurmExecutor", "max_array_size"]
