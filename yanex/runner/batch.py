"""``run_multiple`` and its ``Batch``: a batch of experiments from specs to recorded results.

Everything that can be checked is checked before anything runs. Then the ``batches`` row is written
(its ``total`` is the size of the batch), and ``queued`` rows are written in windows of about
``AHEAD`` ahead of what the executor has finished, so that the first experiment of a million-point
sweep starts after its first rows, not after a million (a batch with dependencies between its specs
writes them all at once). The results come back in input order. The orchestrator owns its queued
rows and the batch row and keeps their heartbeat; if it is killed outright, the next reader or
writer reconciles them, and ``yanex sweep resume`` runs what a sweep never reached.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import CancelledError, Future
from pathlib import Path
from queue import Empty, SimpleQueue

from pydantic import JsonValue

from yanex import config, interrupts
from yanex.db.engine import Database
from yanex.errors import ConfigError, NestedRunError, YanexWarning
from yanex.executors import check_executor, open_executor
from yanex.runner.dependencies import Plan, Schedule, completed_parents, plan
from yanex.runner.environment import capture_environment, this_process
from yanex.runner.git import capture_git
from yanex.runner.inline import InlineExecutor
from yanex.runner.local_pool import BOOTSTRAP_ERROR, LocalPool
from yanex.runner.progress import BatchProgress, make_progress
from yanex.runner.progress import label as progress_label
from yanex.runner.pruning import CHECK_EVERY, Pruner
from yanex.runner.results import Results
from yanex.runner.script_kind import not_python
from yanex.specs import (
    EnvironmentInfo,
    ExperimentResult,
    ExperimentSpec,
    GitInfo,
    Status,
    TimeLimit,
    parse_time_limit,
)
from yanex.status import OPEN_STATUSES
from yanex.store.dependencies import retarget
from yanex.store.experiments import (
    cancel_active,
    cancel_batch,
    create_batch,
    create_experiments,
    end_batch,
    heartbeat,
)
from yanex.store.ids import shown
from yanex.store.reading import reading
from yanex.store.reconcile import reconcile_orphans
from yanex.store.sweeps import find_completed, fingerprint, sweep_runs
from yanex.supervisor.executor import Executor, Prunable, StopReason, Task, record_failure
from yanex.supervisor.launch import LaunchRequest, Outcome, OutputMode, sampling_interval
from yanex.sweep.plan import PlanSpecs, Pruning, stored_plan

INTERRUPT_GRACE = 3.0  # seconds running scripts get to exit after Ctrl-C before they are killed
_TICK = 1.0  # seconds between progress refreshes while nothing finishes
_REFRESH = 0.25  # seconds between listings of what runs while experiments finish
# Queued rows a batch keeps ahead of what has finished (or twice its workers): written 500 at a
# time, a few tens of milliseconds each, while a hundred experiments start. The first rows are
# fewer, so that the first experiment starts in milliseconds; a batch of up to FIRST specs (or of
# twice its workers) is still written whole before any runs.
AHEAD = 1000
FIRST = 100


class _Events:
    """What the batch loop waits for: finished futures, and Ctrl-C or SIGTERM as a stop reason.

    Signals arrive as items on a ``SimpleQueue`` (whose ``put`` is reentrant, so safe in a signal
    handler), never as exceptions: a KeyboardInterrupt raised inside ``concurrent.futures.wait``
    can leave a future's lock held, and the pool thread that then resolves that future blocks
    forever while holding the pool's lock, so that stopping the pool hangs too.
    """

    def __init__(self) -> None:
        self._queue: SimpleQueue[Future[Outcome] | StopReason] = SimpleQueue()
        self.received = False  # set by the handler too: read before submitting anything

    def _receive(self, reason: StopReason) -> None:
        self.received = True
        self._queue.put(reason)

    def watch(self, future: Future[Outcome]) -> None:
        future.add_done_callback(self._queue.put)

    def next(self, timeout: float) -> Future[Outcome] | StopReason | None:
        try:
            return self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except Empty:
            return None

    def unread_signal(self) -> StopReason | None:
        """A signal that came after the loop's last read (the batch was ending anyway)."""
        while (event := self.next(0)) is not None:
            if isinstance(event, StopReason):
                return event
        return None

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """Take Ctrl-C and SIGTERM as events while the batch runs. Only from the main thread, and
        only for a signal that still has Python's default handling (or the CLI's, which notes a
        Ctrl-C that came before: ``yanex.interrupts``): a handler of the caller's wins."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        ours: dict[int, StopReason] = {}
        if interrupts.is_default(signal.getsignal(signal.SIGINT)):
            ours[signal.SIGINT] = StopReason.USER
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            ours[signal.SIGTERM] = StopReason.TERMINATED
        previous = {
            signum: signal.signal(signum, lambda signum, _frame: self._receive(ours[signum]))
            for signum in ours
        }
        if signal.SIGINT in ours and interrupts.take():  # a Ctrl-C that Python dropped on the way here
            self._receive(StopReason.USER)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def run_multiple(
    experiments: Sequence[ExperimentSpec],
    parallel: int | None = None,
    verbose: bool = False,
    *,
    retries: int = 0,
    fail_fast: bool = False,
    skip_completed: bool = False,
    timeout: float | str | None = None,
    executor: object = "local",
    system_metrics_interval: float | None = None,
    prune: Pruning | None = None,
) -> list[ExperimentResult]:
    """Run every spec as its own tracked experiment; block until all are done.

    ``parallel``: None runs them one at a time, 0 on one worker process per CPU, N on N workers.
    Returns one result per spec, in input order, each with a real experiment id; a failure never
    stops the others. ``retries`` re-runs a failed experiment up to that many times (each try is a
    row linked to the previous one by ``retry_of``); ``fail_fast`` cancels the rest of the batch at
    the first failure that has no try left; ``skip_completed`` returns the earlier completed
    experiment of a spec with the same script, config and args instead of running it again.
    ``timeout`` (seconds, or a string like ``90s``, ``5m``, ``2h``, ``1h30m``) limits each
    experiment whose spec sets no ``timeout`` of its own; past its limit a script gets SIGTERM,
    then SIGKILL after ``YANEX_KILL_GRACE`` seconds (10), and is recorded failed.

    ``system_metrics_interval``: seconds between samples of each script's CPU, memory and GPU use
    (``system/...`` metrics, docs/scripts.md); 0 takes none; None: ``YANEX_SYSTEM_METRICS_INTERVAL``,
    else 10.

    ``executor``: ``"local"`` (this machine, as ``parallel`` says), a ``distributed.Client`` or
    ``"dask://HOST:PORT"`` (a Dask cluster), or ``yanex.executors.slurm(...)`` or
    ``"slurm:NAME=VALUE,..."`` (Slurm jobs); on a cluster ``parallel`` is ignored. See
    docs/cluster.md.

    ``prune``: early stopping, as ``yanex run --prune`` (docs/cli.md): with
    ``yanex.Pruning("median", "loss")`` the batch stops the runs whose ``loss`` falls behind the
    others' at the same step, recorded ``pruned`` (a list from ``yanex.grid``/``yanex.sample``
    stores it in its plan, for ``yanex sweep resume``).

    A spec whose ``depends_on`` names another spec of the call starts once that one has completed
    (its last try), and is cancelled (``dependency 'train' failed``) when it fails or is cancelled,
    as is everything downstream of it. With ``skip_completed``, a spec downstream of one that runs
    runs again too.

    Raises ValueError or TypeError for bad arguments, ``ConfigError`` for a missing script, a
    dependency cycle or a dependency that has not completed, ``NotFoundError`` or
    ``AmbiguousReferenceError`` for a dependency that names no one experiment, and
    ``NestedRunError`` inside a running experiment, all before anything runs; KeyboardInterrupt
    after Ctrl-C, once every script is stopped and its row recorded ``cancelled``. SIGTERM to the
    calling process (unless it set its own handler) stops the batch the same way, recording
    ``cancelled``, then raises ``SystemExit(143)``, the status a default SIGTERM gives.
    """
    preflight(parallel)
    default_limit = None if timeout is None else parse_time_limit(timeout)
    sampling = sampling_interval(system_metrics_interval)
    if isinstance(experiments, ExperimentSpec | str) or not isinstance(experiments, Sequence):
        raise TypeError("run_multiple expects a list of yanex.ExperimentSpec")
    for index, spec in enumerate(experiments):
        if not isinstance(spec, ExperimentSpec):
            raise TypeError(f"experiments[{index}] is a {type(spec).__name__}, not a yanex.ExperimentSpec")
    if not experiments:
        raise ValueError("run_multiple needs at least one ExperimentSpec; the list is empty")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a whole number >= 0, got {retries!r}")
    if prune is not None and not isinstance(prune, Pruning):
        raise TypeError(f"prune is a {type(prune).__name__}, not a yanex.Pruning")
    batch = Batch(
        experiments,
        parallel,
        verbose,
        time_limit=default_limit,
        system_metrics_interval=sampling,
        executor=executor,
        retries=retries,
        fail_fast=fail_fast,
        skip_completed=skip_completed,
        # Sweeps: a list from yanex.grid/yanex.sample or `yanex run -p KEY=EXPR` stores its plan.
        sweep_spec=stored_plan(experiments, prune),
        pruning=prune,
    )
    return list(batch.run())


def preflight(parallel: int | None) -> None:
    """Checks that need no spec and no database, so that a refused call leaves nothing behind."""
    # With `spawn`, a worker re-imports the main module and unguarded code lands here: refuse it
    # with the message multiprocessing itself gives (the flag is the one its own check reads).
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(
            f"{BOOTSTRAP_ERROR} The script that starts this batch was imported again by a worker "
            'process: put that call under `if __name__ == "__main__":`.'
        )
    if parallel is not None and (isinstance(parallel, bool) or not isinstance(parallel, int)):
        raise TypeError(f"parallel must be None or an int, got {type(parallel).__name__}")
    if parallel is not None and parallel < 0:
        raise ValueError(f"parallel must be None, 0 (one worker per CPU) or positive, got {parallel}")
    config.check_settings()  # a bad timing setting is refused before anything runs
    running = os.environ.get(config.EXPERIMENT_ID_ENV)
    if running:
        raise NestedRunError(
            f"a batch cannot start inside running experiment {running}",
            hint="run the orchestrator script directly (`python grid_search.py`), not through "
            "`yanex run` or another batch",
        )


def _warn_if_code_changed(now: GitInfo, before: Sequence[GitInfo], *, resuming: bool = False) -> None:
    """One warning when re-runs are about to run other code than their originals ran, or a sweep's
    missing points (``resuming``) other code than its completed points ran."""
    changed = [git for git in before if (git.commit, git.patch or None) != (now.commit, now.patch or None)]
    if not changed:
        return
    commits = sorted({(git.commit or "no commit")[:8] for git in changed if git.commit != now.commit})
    they, theirs, done, new = (
        ("they", "theirs", "completed point(s) of the sweep", "the new points")
        if resuming
        else ("the originals", "the originals'", "original(s)", "the re-runs")
    )
    what = (
        f"commit {(now.commit or 'none')[:8]} now, {they} ran {', '.join(commits)}"
        if commits
        else f"the uncommitted changes differ from {theirs}"
    )
    warnings.warn(
        f"{'resuming' if resuming else 're-running'} with other code than {len(changed)} of {len(before)} "
        f"{done} ran ({what}); {new} record the current code",
        YanexWarning,
        stacklevel=6,  # the caller of yanex.rerun (through Batch.run, _run and _create_batch)
    )


def _check_scripts(specs: Sequence[ExperimentSpec]) -> None:
    """Refuse a spec whose script is missing or is not a Python script, before anything runs."""
    for index, spec in enumerate(specs):
        if not spec.script_path.is_file():
            raise ConfigError(
                f"script not found for experiment {index} ({spec.name or 'unnamed'}): "
                f"{spec.script_path.resolve()}",
                hint="script_path is relative to the current directory "
                f"({Path.cwd()}); pass an existing Python file",
            )
        kind = not_python(spec.script_path)
        if kind is not None:
            raise ConfigError(
                f"script_path of experiment {index} ({spec.name or 'unnamed'}) is not a Python "
                f"script: {spec.script_path} is {kind}",
                hint="pass a .py file, or a script whose first line is a python shebang; "
                "parameters go in the spec's config",
            )


def _worker_count(parallel: int | None, tasks: int) -> int | None:
    if parallel is None:
        return None
    return min(parallel or os.cpu_count() or 1, tasks)


class Batch:
    """One call of ``run_multiple`` or ``rerun``, or a sweep's points: validated specs, their rows,
    the executor, and the bookkeeping of results. Every attribute is set here, so that the clean-up
    after an error at any stage of ``run`` finds the rows and the batch row created so far.

    ``specs`` is a list, or a sweep's points as ``PlanSpecs`` (each spec built when its row is
    written): the batch holds only the specs of rows it has written and not finished, and each
    result in a few bytes (``Results``), so a million points take megabytes, not gigabytes."""

    def __init__(
        self,
        specs: Sequence[ExperimentSpec] | PlanSpecs,
        parallel: int | None,
        verbose: bool,
        *,
        db: Database | None = None,
        time_limit: TimeLimit | None = None,
        system_metrics_interval: float | None = None,
        dependencies: Plan | None = None,
        executor: object = "local",
        retries: int = 0,
        fail_fast: bool = False,
        skip_completed: bool = False,
        sweep_spec: dict[str, JsonValue] | None = None,
        retry_of: Sequence[str] | Mapping[int, str] | None = None,
        working_dirs: Sequence[str | None] | None = None,
        ran_before: Sequence[GitInfo] = (),
        batch_id: str | None = None,
        pruning: Pruning | None = None,
    ) -> None:
        check_executor(executor)
        listed = specs if isinstance(specs, Sequence) else None
        _check_scripts(listed if listed is not None else [specs.first()])  # type: ignore[union-attr]  # one script for all
        self.specs = specs
        self.count = len(specs)
        self.parallel = parallel
        self.output = OutputMode.PREFIX if verbose else OutputMode.QUIET
        self.progress: BatchProgress = make_progress(verbose)
        self.db = db or Database()
        self.time_limit = time_limit  # for specs without a timeout of their own
        self.sampling = sampling_interval(system_metrics_interval)
        if dependencies is None and isinstance(specs, PlanSpecs):  # every point runs on the same
            parents = specs.plan.depends_on
            dependencies = Plan.shared(self.count, completed_parents(self.db, parents) if parents else ())
        elif dependencies is None and listed is not None and any(spec.depends_on for spec in listed):
            dependencies = plan(self.db, listed)
        self.dependencies = dependencies or Plan.empty(self.count)
        self.schedule = Schedule(listed or (), self.dependencies)  # a sweep's points wait for none
        # Rows all at once when a spec may wait for another (its parent's row must exist first).
        workers = _worker_count(parallel, self.count) or 1
        together = any(self.dependencies.in_batch.values())
        self.ahead = self.count if together else max(AHEAD, 2 * workers)
        self.first = self.ahead if together else min(self.ahead, max(FIRST, 2 * workers))
        self.refill = self.ahead // 2  # live specs at or below which more rows are written
        if isinstance(specs, PlanSpecs) and specs.proposes:  # a search: a point only as a worker frees
            self.ahead = self.first = self.refill = workers
        self.target = executor  # what ``executor=`` names; ``run`` opens it
        self.retries, self.fail_fast, self.skip_completed = retries, fail_fast, skip_completed
        self.sweep_spec = sweep_spec  # batches.spec of a sweep
        # For a re-run: the row each spec re-runs, where it ran, and the code it ran; for a sweep's
        # points (PlanSpecs), ran_before is the code its completed points ran, whatever their number.
        # By spec index: a rerun names every spec's original, a resume the points that ran before.
        self.retry_of = dict(retry_of if isinstance(retry_of, Mapping) else enumerate(retry_of or ()))
        self.cwds = list(working_dirs) if working_dirs else None
        self.ran_before = list(ran_before)
        self.owner = this_process()  # of every row and of the batch row, whose heartbeat it keeps
        self.beat_every = config.heartbeat_interval()
        self.results = Results(self.count)
        self.skipped: list[ExperimentResult] = []  # earlier runs taken as results (skip_completed)
        # Set as the batch runs.
        self.ran_on: str | None = None  # batches.executor: where it runs, when not here
        self.batch_id = batch_id  # given: a batch row this process owns already (a resume's claim)
        self.git: GitInfo | None = None  # captured once, recorded by every row
        self.environment: EnvironmentInfo | None = None
        self.upcoming: Iterator[tuple[int, ExperimentSpec]] = iter(())  # specs with no row yet
        self.live: dict[int, ExperimentSpec] = {}  # specs with a row and no final result yet
        self.written = 0  # specs whose (first) row is written
        self.row_of: dict[int, str] = {}  # each live spec's row of its latest try
        self.tries: dict[int, int] = {}  # each retried spec's current try (the others': the first)
        self.pending: dict[Future[Outcome], tuple[int, str]] = {}  # submitted: spec and row
        self.stopping: StopReason | None = None  # the first reason the batch stops early
        self.events = _Events()
        self.signalled: StopReason | None = None  # the first Ctrl-C or SIGTERM
        self.killed = False  # the executor was shut down with kill
        self.unstarted: Counter[str] = Counter()  # specs cancelled before they started, by reason
        self.next_refresh = 0.0  # monotonic time the running experiments are listed again
        self.last_beat = 0.0  # monotonic time of the last heartbeat
        # Early stopping (yanex.runner.pruning): the sweep's curves, and the rows that ended since
        # they were last read (their last points are read once more).
        self.pruner = None if pruning is None else Pruner(pruning, self.db)
        self.pruner_seeded = False  # a resume's pruner also reads the runs of the sweep's batches before
        self.next_prune = 0.0
        self.ended_unread: list[str] = []

    def run(self) -> Iterator[ExperimentResult]:
        """Run every spec to its result, then give the results in input order (built as they are
        read: a sweep's million need not be held at once); see ``run_multiple`` for errors and
        signals."""
        reconcile_orphans(self.db)
        todo = self._skip_completed() if self.skip_completed else range(self.count)
        if todo:
            for stream in (sys.stdout, sys.stderr):  # what the script printed comes first
                stream.flush()
            executor, how = self._open_executor(len(todo))
            try:
                with self.events.signals():
                    self._run(executor, todo, how)
                self.signalled = self.signalled or self.events.unread_signal()
            finally:
                self.progress.close()
            if self.signalled is StopReason.TERMINATED:
                raise SystemExit(128 + signal.SIGTERM)
            if self.signalled is StopReason.USER:
                raise KeyboardInterrupt
        names = (spec.name for spec in self.specs) if isinstance(self.specs, Sequence) else self.specs.names()
        return self.results.listed(names)

    def _skip_completed(self) -> list[int]:
        """Take an earlier completed experiment of the same spec as its result; the specs left to run.

        An earlier run counts only if it ran on the same stored parents (a spec with parents in
        this call is settled here: it runs again when they do)."""
        assert isinstance(self.specs, Sequence)  # run_multiple's list
        parents = [
            None if self.dependencies.in_batch.get(index) else [parent.id for parent in stored]
            for index, stored in enumerate(self.dependencies.stored)
        ]
        with reading(self.db, settle=False) as conn:
            found = find_completed(conn, [fingerprint(spec) for spec in self.specs], parents)
        # A spec downstream of one that runs again runs again too: its inputs change.
        fresh = self.schedule.downstream({index for index, earlier in enumerate(found) if earlier is None})
        for index, earlier in enumerate(found):
            if earlier is not None and index not in fresh:
                result = ExperimentResult(
                    experiment_id=earlier.id,
                    status="completed",
                    duration=earlier.duration,
                    name=earlier.name,
                )
                self.results.record(index, result, named=True)
                self.skipped.append(result)
                self.schedule.finished(index, result)
        return [index for index in range(self.count) if not self.results.has(index)]

    def _open_executor(self, tasks: int) -> tuple[Executor, str]:
        """The executor ``executor=`` names, and where it runs the batch (for the progress line).

        Its workers start before any row is written: a script that cannot start them (spawn
        without a ``__main__`` guard) fails here and leaves nothing behind."""
        workers = _worker_count(self.parallel, tasks)
        remote = open_executor(self.target, self.db, self.owner)
        self.ran_on = None if remote is None else remote.label
        if remote is not None:
            return remote, remote.where
        if workers is None:
            return InlineExecutor(self.db, self.owner), "one at a time"
        return LocalPool(workers, self.db), f"on {workers} worker{'s' * (workers != 1)}"

    def _run(self, executor: Executor, todo: Sequence[int], how: str) -> None:
        """Write the rows, follow them to their results; whatever happens, no script outlives the
        batch and no row it wrote stays open."""
        try:
            batch_id = self._create_batch(todo)
            self.progress.started(batch_id, self.count, how)
            for result in self.skipped:
                self.progress.skipped(result)
            self._queue_more(executor)
            self.last_beat = time.monotonic()
            self._follow(executor)
            self._cancel_unstarted()
            if self.stopping is StopReason.FAIL_FAST:  # a result for every spec, as run_multiple says
                while self._write_rows(AHEAD):
                    self._cancel_unstarted()
            for reason, count in self.unstarted.items():
                self.progress.unstarted(count, reason)
        except BaseException as error:
            self._abort(executor, error)
            raise
        else:
            if not self.killed:
                executor.shutdown()
        finally:
            # Rows whose futures were cancelled before they started are still queued.
            if self.batch_id is not None:
                cancel_batch(self.db, self.batch_id, (self.stopping or StopReason.ERROR).value)
                end_batch(self.db, self.batch_id)

    def _follow(self, executor: Executor) -> None:
        """Settle each try as it ends until none is pending. The first Ctrl-C or SIGTERM stops the
        batch: what runs gets ``INTERRUPT_GRACE`` to exit, and is killed after it or at a second one."""
        grace_ends: float | None = None
        tick = _TICK if self.pruner is None else CHECK_EVERY
        while self.pending or (self.events.received and self.signalled is None):
            wait_for = tick if grace_ends is None else min(tick, grace_ends - time.monotonic())
            event = self.events.next(wait_for)
            if isinstance(event, StopReason):
                if self.signalled is not None:
                    self._kill(executor)
                    return
                self.signalled = event
                self.progress.note(
                    "interrupted: stopping the batch (Ctrl-C again to kill at once)"
                    if event is StopReason.USER
                    else "SIGTERM: stopping the batch"
                )
                self._stop(executor, event)
                grace_ends = time.monotonic() + INTERRUPT_GRACE
            elif event is not None and event in self.pending:
                self._settle(executor, event)
                self._queue_more(executor)
            if grace_ends is not None and time.monotonic() >= grace_ends and self.pending:
                self._kill(executor)
                return
            self._refresh()
            self._heartbeat()
            self._prune(executor)

    def _refresh(self) -> None:
        """List what runs for the progress display, a few times a second at most: the list is
        read from every pending future, which a large sweep has by the thousand."""
        if time.monotonic() < self.next_refresh:
            return
        self.progress.running(
            [
                progress_label(self.live[index].name, row)
                for future, (index, row) in self.pending.items()
                if future.running()
            ]
        )
        self.next_refresh = time.monotonic() + _REFRESH

    def _prune(self, executor: Executor) -> None:
        """Every ``CHECK_EVERY`` while nothing stops the batch: read the sweep's new points and
        stop the runs that fall behind, one line each on the batch's output (and on a worker that
        does not see the experiment's folder here, through its executor: ``Prunable``)."""
        if self.pruner is None or self.stopping is not None or time.monotonic() < self.next_prune:
            return
        running = {row: index for future, (index, row) in self.pending.items() if future.running()}
        ended, self.ended_unread = self.ended_unread, []
        if not self.pruner_seeded and self.batch_id is not None:
            ended += self._sweep_before(self.batch_id)
            self.pruner_seeded = True
        self.pruner.read(running, ended)
        for decision in self.pruner.decide(running):
            if isinstance(executor, Prunable):
                executor.prune(decision.experiment_id, decision.reason)
            name = self.live[running[decision.experiment_id]].name
            self.progress.note(f"✂ {progress_label(name, shown(decision.experiment_id))}: {decision.reason}")
        self.next_prune = time.monotonic() + CHECK_EVERY

    def _sweep_before(self, batch_id: str) -> list[str]:
        """The ended experiments of the other batches of this sweep (a resume's earlier runs): the
        bar the resumed points are judged against, as they were in the first run."""
        if not self.db.exists():
            return []
        with reading(self.db, settle=False) as conn:
            runs = sweep_runs(conn, batch_id)
        return [run.id for run in runs if run.batch_id != batch_id and run.status not in OPEN_STATUSES]

    def _create_batch(self, todo: Sequence[int]) -> str:
        """The batch row (unless this process claimed it already), and the specs whose rows
        ``_queue_more`` writes; the code is captured once for all."""
        upcoming = self._upcoming(todo)
        first = next(upcoming)
        self.upcoming = itertools.chain([first], upcoming)
        self.git = capture_git(first[1].script_path.resolve())
        if isinstance(self.specs, Sequence):
            _warn_if_code_changed(
                self.git, [self.ran_before[index] for index in todo] if self.ran_before else []
            )
        else:
            _warn_if_code_changed(self.git, self.ran_before, resuming=True)
        self.environment = capture_environment()
        if self.batch_id is None:
            self.batch_id = create_batch(
                self.db, len(todo), self.parallel, self.owner, spec=self.sweep_spec, executor=self.ran_on
            )
        return self.batch_id

    def _upcoming(self, todo: Sequence[int]) -> Iterator[tuple[int, ExperimentSpec]]:
        if isinstance(self.specs, Sequence):
            return ((index, self.specs[index]) for index in todo)
        return enumerate(self.specs)  # a sweep's points: todo is every one

    def _queue_more(self, executor: Executor) -> None:
        """Keep about ``self.ahead`` specs written and submitted ahead of what has finished,
        topping up once half of them have (``self.first`` at first); a sweep's rows appear in
        ``yanex list`` as they are queued. Nothing once a signal came."""
        if self.stopping is not None or self.events.received or len(self.live) > self.refill:
            return
        for index in self._write_rows((self.ahead if self.written else self.first) - len(self.live)):
            if self.events.received:  # while the rows were written: start nothing
                break
            if not self.schedule.blocked(index):
                self._submit(executor, index, self.row_of[index])

    def _write_rows(self, limit: int) -> list[int]:
        """Queued rows for up to ``limit`` more specs, in order; their indices."""
        chunk = list(itertools.islice(self.upcoming, limit))
        self.live.update(chunk)
        indices = [index for index, _ in chunk]
        self.written += len(indices)
        if indices:
            retry_of = [self.retry_of.get(index) for index in indices] if self.retry_of else None
            self._create_rows(indices, retry_of, depends_on=self._edges(indices))
        return indices

    def _cancel_unstarted(self) -> None:
        """The specs with a row that never started (held back for a dependency, or not reached
        when the batch stopped) end cancelled; their rows are cancelled with the batch."""
        for index in list(self.live):
            self._conclude(
                index,
                ExperimentResult(
                    experiment_id=self.row_of[index],
                    status="cancelled",
                    error_message=(self.stopping or StopReason.ERROR).value,
                    name=self.live[index].name,
                ),
            )

    def _create_rows(
        self,
        indices: Sequence[int],
        retry_of: Sequence[str | None] | None,
        depends_on: Sequence[Sequence[str | int]] | None = None,
    ) -> list[str]:
        """Queued rows for these specs' next tries: the one place a batch writes experiments, so a
        retry's row records what its first try's did (owner, code, environment, batch, working dir)."""
        assert self.git is not None and self.environment is not None  # captured by _create_batch
        rows = create_experiments(
            self.db,
            [self.live[index] for index in indices],
            status=Status.QUEUED,
            owner=self.owner,
            git=self.git,
            environment=self.environment,
            batch_id=self.batch_id,
            retry_of=retry_of,
            working_dirs=[self.cwds[index] for index in indices] if self.cwds else None,
            depends_on=depends_on,
        )
        self.row_of.update(zip(indices, rows, strict=True))
        return rows

    def _settle(self, executor: Executor, future: Future[Outcome]) -> None:
        """A try has ended: another try if it failed and may retry, else the spec's result."""
        index, row = self.pending.pop(future)
        if self.pruner is not None:
            self.ended_unread.append(row)
        result = self._result(future, index, row)
        if result.status == "failed" and self.tries.get(index, 1) <= self.retries and self.stopping is None:
            self._retry(executor, index, row, result)
            return
        self._conclude(index, result)
        self._release(executor, index, result)
        if result.status == "failed" and self.fail_fast and self.stopping is None:
            self.progress.note(f"fail_fast: cancelling the rest of batch {self.batch_id}")
            self._stop(executor, StopReason.FAIL_FAST)

    def _retry(self, executor: Executor, index: int, row: str, failed: ExperimentResult) -> None:
        """Run a failed spec again as a new row (``retry_of`` the failed one); its children that
        wait for it wait for the new row instead."""
        self.tries[index] = self.tries.get(index, 1) + 1
        self.progress.retrying(failed, self.tries[index], self.retries + 1)
        [retry] = self._create_rows([index], retry_of=[row])
        waiting = [self.row_of[child] for child in self.schedule.waiting_children(index)]
        retarget(self.db, waiting, row, retry)
        self._submit(executor, index, retry)

    def _heartbeat(self) -> None:
        """Every ``heartbeat_interval``: the rows this process owns (submitted, or waiting for a
        dependency) and the batch row are alive."""
        if time.monotonic() - self.last_beat < self.beat_every:
            return
        waiting = [self.row_of[index] for index in self.schedule.waiting]
        heartbeat(self.db, [row for _, row in self.pending.values()] + waiting, self.batch_id)
        self.last_beat = time.monotonic()

    def _abort(self, executor: Executor, error: BaseException) -> None:
        """A failure of yanex itself (or a KeyboardInterrupt from a handler of the caller's): stop
        what runs, kill what does not stop within the grace (at once on a signal), and count every
        try left. Nothing here writes before the kill: the failure may be the database's."""
        self._stop(executor, StopReason.USER if isinstance(error, KeyboardInterrupt) else StopReason.ERROR)
        try:
            running = len(self.pending)  # each pending future comes through the events once
            grace_ends = time.monotonic() + INTERRUPT_GRACE
            while running and (left := grace_ends - time.monotonic()) > 0:
                event = self.events.next(left)
                if isinstance(event, StopReason):
                    break
                running -= event in self.pending
        finally:
            self._kill(executor)

    def _kill(self, executor: Executor) -> None:
        """Kill every script still running; count the tries left as they end."""
        if self.killed:
            return
        self.killed = True
        executor.shutdown(kill=True)
        for future, (index, row) in self.pending.items():
            if not future.done():
                future.cancel()
            self._conclude(index, self._result(future, index, row))
        self.pending.clear()

    def _conclude(self, index: int, result: ExperimentResult, *, listed: bool = False) -> None:
        """A spec's final result; the spec itself is forgotten. Those cancelled before their script
        started (no duration) are counted by reason, not listed one by one (unless ``listed``): a
        stopped sweep can have thousands."""
        self.results.record(index, result)
        if result.status == "cancelled" and result.duration is None and not listed:
            self.unstarted[result.error_message or ""] += 1
        else:
            self.progress.finished(result)
        del self.live[index]
        self.row_of.pop(index, None)
        self.tries.pop(index, None)

    def _submit(self, executor: Executor, index: int, experiment_id: str) -> None:
        spec = self.live[index]
        cwd = self.cwds[index] if self.cwds else None
        request = LaunchRequest(
            experiment_id=experiment_id,
            script_path=spec.script_path.resolve(),
            script_args=tuple(spec.script_args),
            config=spec.config,
            name=spec.name,
            cwd=Path(cwd) if cwd else None,
            time_limit=spec.time_limit or self.time_limit,
            dependencies=tuple(self.schedule.parents(index)),
            system_metrics_interval=self.sampling,
        )
        future = executor.submit(Task(request, self.output))
        self.pending[future] = (index, experiment_id)
        self.events.watch(future)

    def _edges(self, todo: Sequence[int]) -> list[list[str | int]]:
        """Each new row's parents: a stored id, or the position in ``todo`` of a spec to be run."""
        position = {index: at for at, index in enumerate(todo)}
        edges: list[list[str | int]] = []
        for index in todo:
            parents: list[str | int] = [parent.id for parent in self.schedule.plan.stored[index]]
            for parent in self.schedule.plan.in_batch.get(index, ()):
                parents.append(position[parent] if parent in position else self.schedule.finished_as[parent])
            edges.append(parents)
        return edges

    def _release(self, executor: Executor, index: int, result: ExperimentResult) -> None:
        """After a final result: start the specs that waited only for it, cancel those downstream
        of a failure (their rows too, with the dependency that failed as the reason)."""
        ready, doomed = self.schedule.finished(index, result)
        for child in ready:
            if self.stopping is None:  # else they stay unstarted and end cancelled with the batch
                self._submit(executor, child, self.row_of[child])
        for child, message in doomed:
            row = self.row_of[child]
            cancel_active(self.db, [row], message)
            cancelled = ExperimentResult(
                experiment_id=row, status="cancelled", error_message=message, name=self.live[child].name
            )
            self._conclude(child, cancelled, listed=True)  # the failed dependency is its reason

    def _stop(self, executor: Executor, reason: StopReason) -> None:
        """Start nothing more and ask what runs to stop; the first reason is the one recorded."""
        self.stopping = self.stopping or reason
        executor.interrupt(self.stopping)

    def _result(self, future: Future[Outcome], index: int, experiment_id: str) -> ExperimentResult:
        name = self.live[index].name
        try:
            outcome = future.result()
        except CancelledError:  # never started; its row is marked cancelled when the batch ends
            reason = self.stopping or StopReason.ERROR
            return ExperimentResult(
                experiment_id=experiment_id, status="cancelled", error_message=reason.value, name=name
            )
        except Exception as error:  # the executor itself failed to run it
            outcome = record_failure(
                self.db, experiment_id, f"yanex could not run it: {type(error).__name__}: {error}"
            )
        return ExperimentResult(
            experiment_id=outcome.experiment_id,
            status=outcome.status.value,
            error_message=outcome.error_message,
            duration=outcome.duration,
            name=name,
        )
