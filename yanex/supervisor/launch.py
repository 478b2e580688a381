"""Launch one experiment script as a subprocess and supervise it to a recorded outcome.

Both ``yanex run`` and the batch workers go through ``ExperimentProcess``: it writes the config the
run API reads, captures output to the experiment's folder, pumps the metrics journal into the
database, and turns the exit status into a status and a useful error message.
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, NamedTuple, Protocol

from pydantic import JsonValue

from yanex import config
from yanex.db.engine import Database
from yanex.processes import dying_with_parent
from yanex.specs import Status, TimeLimit
from yanex.store.convert import now_utc
from yanex.store.dependencies import Parent
from yanex.store.experiments import Owner, finish, mark_running
from yanex.store.ids import shown
from yanex.store.outcome import OutcomeMarker, write_marker
from yanex.supervisor.journal import FLUSH_INTERVAL, JournalPump
from yanex.supervisor.packages import environment_line
from yanex.supervisor.pruned import listening, stop_reason
from yanex.supervisor.reaper import Sweeper
from yanex.supervisor.sampling import SystemSampler, sampler

_STDERR_TAIL_BYTES = 64 * 1024
_PIPE_GRACE = 2.0  # seconds output may still arrive after the script exits
_EXITED = -1  # selector key data of the script's pidfd


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` exits (Linux 5.3+), else None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


_TRACEBACK_HEAD = "Traceback (most recent call last):"


def write_params(directory: Path, params: dict[str, JsonValue]) -> None:
    """The parameters as the run API reads them: config.json, and its marshal copy that a script
    reads without importing json (``yanex.config.PARAMS_FILE``)."""
    _write_whole(directory / config.CONFIG_FILE, json.dumps(params).encode())
    _write_whole(directory / config.PARAMS_FILE, marshal.dumps(params))


def _write_whole(path: Path, data: bytes) -> None:
    """Write through a temporary file (``NAME.tmp``) renamed into place: a script never reads a
    half-written file."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def _configured_interval() -> float:
    return config.system_metrics_interval()  # ``config`` is a field's name inside LaunchRequest


def sampling_interval(seconds: float | None) -> float:
    """A ``system_metrics_interval`` argument checked (None: the configured default)."""
    if seconds is None:
        return config.system_metrics_interval()
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 24 * 3600:
        raise ValueError(f"system_metrics_interval must be seconds from 0 to 86400, got {seconds!r}")
    return float(seconds)


class OutputMode(StrEnum):
    ECHO = "echo"  # pass the script's output straight through (yanex run)
    PREFIX = "prefix"  # each line prefixed by the experiment's name (verbose batches)
    QUIET = "quiet"  # captured to the experiment's folder only


@dataclass(frozen=True)
class LaunchRequest:
    experiment_id: str
    script_path: Path
    script_args: tuple[str, ...] = ()
    config: dict[str, JsonValue] = field(default_factory=dict)
    name: str | None = None
    cwd: Path | None = None
    time_limit: TimeLimit | None = None
    dependencies: tuple[Parent, ...] = ()  # what the script runs on (yanex.dependency)
    env: dict[str, str] = field(default_factory=dict)  # set for this script only (on a cluster worker)
    # Seconds between samples of its CPU, memory and GPU use (0: none), by default
    # $YANEX_SYSTEM_METRICS_INTERVAL or 10: read where the request is made, so a bad value stops
    # the run before it starts
    system_metrics_interval: float = field(default_factory=_configured_interval)


class Outcome(NamedTuple):
    experiment_id: str
    status: Status
    exit_code: int | None
    error_message: str | None
    duration: float | None


def describe_failure(returncode: int, stderr_tail: str) -> str:
    """The line a user wants to see: the exception, the signal, or the exit code."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-returncode} ({name})"
    lines = stderr_tail.splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith(_TRACEBACK_HEAD)]
    if heads:
        after = [line for line in lines[heads[-1] + 1 :] if line.strip() and not line[0].isspace()]
        if after:
            return after[-1].strip()
    else:
        # A script that does not compile dies before any traceback: Python prints the place, the
        # source line and a caret, then this line, with no "Traceback" header.
        compile_errors = [
            line.strip()
            for line in lines
            if line.startswith(("SyntaxError: ", "IndentationError: ", "TabError: "))
        ]
        if compile_errors:
            return compile_errors[-1]
    return f"exit code {returncode}"


def declared_outcome(directory: Path) -> tuple[Status, str | None] | None:
    """The outcome the script declared before exiting (``yanex.fail(msg)`` and its siblings,
    ``config.DECLARED_FILE``); None if it declared none (or the file cannot be read)."""
    try:
        declared = json.loads((directory / config.DECLARED_FILE).read_text(encoding="utf-8"))
        status = Status(declared["status"])
        message = declared["message"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if status not in (Status.COMPLETED, Status.FAILED, Status.CANCELLED):
        return None
    return status, message if isinstance(message, str) else None


def shell_exit_code(returncode: int) -> int:
    """Signals as a shell reports them (128 + signal number)."""
    return 128 - returncode if returncode < 0 else returncode


class _OutputSink:
    """Where one of the child's pipes goes: its log file and, per mode, our own stream."""

    def __init__(self, log_path: Path, mode: OutputMode, target: IO[str] | None, prefix: bytes) -> None:
        self.log = log_path.open("ab")
        # Python sets sys.stdout to None when it starts with descriptor 1 closed (`yanex run x >&-`).
        self.mode = OutputMode.QUIET if target is None else mode
        self.target, self.prefix = target, prefix
        self.tail = bytearray()
        self._partial_line = b""

    def write(self, chunk: bytes) -> None:
        self.log.write(chunk)
        self.log.flush()
        self.tail += chunk
        del self.tail[:-_STDERR_TAIL_BYTES]
        if self.mode is OutputMode.ECHO:
            self._echo(chunk)
        elif self.mode is OutputMode.PREFIX:
            *lines, self._partial_line = (self._partial_line + chunk).split(b"\n")
            if lines:
                self._echo(b"".join(self.prefix + line + b"\n" for line in lines))

    def close(self) -> None:
        if self._partial_line and self.mode is OutputMode.PREFIX:
            self._echo(self.prefix + self._partial_line + b"\n")
        self.log.close()

    def _echo(self, data: bytes) -> None:
        # Our own stdout may go away (`yanex run train.py | head`): keep draining the pipe into the
        # log, or the script would block on a full pipe forever.
        try:
            # A notebook's sys.stdout is text-only (no .buffer): decode for it.
            assert self.target is not None
            binary: IO[bytes] | None = getattr(self.target, "buffer", None)
            if binary is not None:
                binary.write(data)
                binary.flush()
            else:
                self.target.write(data.decode(errors="replace"))
                self.target.flush()
        except (OSError, ValueError):
            self.mode = OutputMode.QUIET


class Recorder(Protocol):
    """Where a supervised script's life is recorded: the database here, a spool and the
    orchestrator for a task on a cluster worker (``yanex.executors.remote``)."""

    def started(self, pid: int) -> None:
        """The script runs as ``pid``."""
        ...

    def tick(self, *, beat: bool) -> bool:
        """Every ``FLUSH_INTERVAL`` while it runs: move metrics on; True if more waits at once."""
        ...

    def ended(self, marker: OutcomeMarker) -> Outcome:
        """The script has ended as ``marker`` says: record it and return what was recorded."""
        ...


class DatabaseRecorder:
    """The local record: the row, the metrics journal pumped into the database, the marker."""

    def __init__(self, db: Database | None, experiment_id: str, owner: Owner) -> None:
        assert db is not None, "a local experiment needs the database"
        self.db, self.experiment_id, self.owner = db, experiment_id, owner
        self._journal = JournalPump(db, experiment_id)

    def started(self, pid: int) -> None:
        mark_running(self.db, self.experiment_id, pid, self.owner)

    def tick(self, *, beat: bool) -> bool:
        return self._journal.drain(beat=beat)

    def ended(self, marker: OutcomeMarker) -> Outcome:
        """The outcome goes to the experiment's folder first (``yanex.store.outcome``): if this
        process dies before the database has it, whoever reconciles the row records it from there."""
        experiment_id = self.experiment_id
        status, exit_code, message, ended_at = marker
        write_marker(experiment_id, marker)
        self._journal.finish()
        ingest = self._journal.ingest
        if ingest.skipped:
            say(
                f"experiment {experiment_id}: {ingest.skipped} metric line(s) could not be stored "
                f"and were skipped (kept in {config.METRICS_FILE})"
            )
        recorded = finish(
            self.db, experiment_id, status, exit_code=exit_code, error_message=message, ended_at=ended_at
        )
        if not recorded.late:
            return Outcome(experiment_id, status, exit_code, message, recorded.duration)
        if recorded.status is None:
            say(
                f"experiment {experiment_id} was deleted while it ran; its outcome "
                f"({status.value}) is not recorded"
            )
            return Outcome(experiment_id, status, exit_code, message, None)
        say(
            f"experiment {experiment_id} had already been recorded {recorded.status.value} (its "
            f"supervisor was taken for dead); the script's outcome, {status.value}, is kept in "
            f"{config.OUTCOME_FILE}, its metrics are stored"
        )
        return Outcome(
            experiment_id, recorded.status, recorded.exit_code, recorded.error_message, recorded.duration
        )


class ExperimentProcess:
    """One experiment's subprocess from launch to recorded outcome.

    ``own_session`` puts the script in its own process group: a batch forwards Ctrl-C itself and
    can kill a script's whole process tree. ``yanex run`` keeps the terminal's group so that
    debuggers and prompts in the script keep working.
    """

    def __init__(
        self,
        db: Database | None,
        request: LaunchRequest,
        owner: Owner,
        *,
        output: OutputMode = OutputMode.QUIET,
        own_session: bool = False,
        recorder: Recorder | None = None,
        directory: Path | None = None,
    ) -> None:
        self.request = request
        self.output = output
        self.own_session = own_session
        self.directory = directory or config.experiment_dir(request.experiment_id)
        self.interrupted = False
        self.timed_out = False
        self.grace = config.kill_grace()
        self._deadline: float | None = None  # monotonic time of the time limit
        self._kill_at: float | None = None  # monotonic time of the SIGKILL after a SIGTERM
        # Set once a sweep's pruning asked this experiment to stop (``yanex.supervisor.pruned``):
        # the reason recorded, and when the SIGTERM goes to a script that stops on its own.
        self.pruned: str | None = None
        self._term_at: float | None = None
        # Recorded as the error message when an interrupt ends the script; a batch that cancels its
        # remaining experiments (fail_fast) says so instead of blaming the user.
        self.cancel_reason = "interrupted by the user"
        self._process: subprocess.Popen[bytes] | None = None
        self._sinks: dict[int, _OutputSink] = {}  # by the pipe's file descriptor
        self.recorder = recorder or DatabaseRecorder(db, request.experiment_id, owner)
        self._sweeper = Sweeper(request.experiment_id)  # before the script starts: spares what is ours
        self._sampler: SystemSampler | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_params(self.directory, self.request.config)
        env = dict(os.environ)
        env[config.EXPERIMENT_ID_ENV] = self.request.experiment_id
        env[config.EXPERIMENT_DIR_ENV] = str(self.directory)
        env["PYTHONUNBUFFERED"] = "1"
        for name in (config.DEPENDENCIES_ENV, config.BLOBS_ENV, config.INPUTS_ENV):
            env.pop(name, None)  # never inherited from a supervisor's own run
        if self.request.dependencies:
            env[config.DEPENDENCIES_ENV] = json.dumps([list(parent) for parent in self.request.dependencies])
        env.update(self.request.env)
        if self.request.time_limit is not None:
            self._deadline = time.monotonic() + self.request.time_limit.seconds
        # Stopped by the kernel if this supervisor is killed outright (SIGKILL, OOM killer): the
        # next yanex command records the row and kills what the script left.
        command, preexec = dying_with_parent(
            [sys.executable, str(self.request.script_path), *self.request.script_args], signal.SIGTERM
        )
        self._process = subprocess.Popen(
            command,
            cwd=self.request.cwd,
            env=env,
            stdin=subprocess.DEVNULL if self.own_session else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=self.own_session,
            preexec_fn=preexec,
        )
        self._sweeper.started(self._process.pid)
        self.recorder.started(self._process.pid)
        journal = str(self.directory / config.METRICS_FILE)
        self._sampler = sampler(journal, self._process.pid, self.request.system_metrics_interval, env)
        prefix = f"[{self.request.name or shown(self.request.experiment_id)}] ".encode()
        assert self._process.stdout is not None and self._process.stderr is not None
        for pipe, filename, target in (
            (self._process.stdout, config.STDOUT_FILE, sys.stdout),
            (self._process.stderr, config.STDERR_FILE, sys.stderr),
        ):
            self._sinks[pipe.fileno()] = _OutputSink(self.directory / filename, self.output, target, prefix)

    def _describe_packages(self) -> None:
        """The installed packages as a journal line, read while the script starts: in ``wait``,
        not ``start``, so that whoever started it knows its pid (and can kill it) meanwhile, even
        when reading them takes a while (an uncached set of several hundred)."""
        line = environment_line(self.request.script_path)
        journal = self.directory / config.METRICS_FILE
        with contextlib.suppress(OSError), journal.open("ab", buffering=0) as handle:
            handle.write(line)  # O_APPEND, one write: never inside a line of the script's

    def send_signal(self, signum: int) -> None:
        """Signal the script (its whole group when it has its own session)."""
        if self._process is None or self._process.poll() is not None:
            return
        if signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            self.interrupted = True
        self._signal(signum)

    def terminate(self) -> None:
        """Stop the script as cancelled: SIGTERM now, SIGKILL once the grace is over.

        The supervising loop sends the SIGKILL, so this is safe from a signal handler."""
        self.send_signal(signal.SIGTERM)
        self._kill_soon()

    def _kill_soon(self) -> None:
        kill_at = time.monotonic() + self.grace
        self._kill_at = kill_at if self._kill_at is None else min(self._kill_at, kill_at)

    def _signal(self, signum: int) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):
            if self.own_session:
                os.killpg(self._process.pid, signum)
            elif self._process.returncode is None:  # its pid is not yet someone else's
                self._process.send_signal(signum)

    def _abandon(self, process: subprocess.Popen[bytes]) -> None:
        """Stop the script when supervising it failed (the database deleted or its disk full): it
        must not run on unrecorded. Its journal stays for `yanex db repair`."""
        self._signal(signal.SIGTERM)
        try:
            process.wait(self.grace)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            process.wait()
        self.sweep()
        for sink in self._sinks.values():
            sink.close()

    def sweep(self) -> None:
        """Kill whatever the script started that is still alive (see ``yanex.supervisor.reaper``)."""
        if self._process is not None:
            self._sweeper.sweep(self._process.pid)

    def _check_pruned(self, now: float) -> None:
        """Stop the script once the sweep pruned it: SIGTERM now, SIGKILL after the grace, as a
        time limit does; a script that polls ``yanex.should_stop()`` gets the grace to exit on its
        own first."""
        if self.pruned is not None or (reason := stop_reason(self.directory)) is None:
            return
        self.pruned = reason
        if listening(self.directory):
            self._term_at = now + self.grace
        else:
            self._signal(signal.SIGTERM)
            self._kill_soon()

    def _enforce_limits(self, now: float) -> None:
        """The time limit, then the SIGKILL that follows a SIGTERM past its grace."""
        if self._deadline is not None and now >= self._deadline and not self.timed_out:
            self.timed_out = True
            self._signal(signal.SIGTERM)
            self._kill_soon()
        if self._term_at is not None and now >= self._term_at:  # a pruned script that did not stop
            self._term_at = None
            self._signal(signal.SIGTERM)
            self._kill_soon()
        if self._kill_at is not None and now >= self._kill_at:
            self._kill_at = None
            self._signal(signal.SIGKILL)

    def _next_limit(self) -> float | None:
        deadline = None if self.timed_out else self._deadline
        limits = [t for t in (deadline, self._term_at, self._kill_at) if t is not None]
        return min(limits, default=None)

    def poll(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def _pump_until_exit(self, process: subprocess.Popen[bytes]) -> datetime:
        """Copy output, move metrics into the database every ``FLUSH_INTERVAL`` and keep the
        heartbeat until the script has exited and its output is done; returns the exit time.

        One loop in the calling thread, not helper threads (whose start-up alone cost about a
        millisecond each per experiment). The script's exit wakes the loop at once through a
        pidfd where the platform has one, even while a grandchild keeps the pipes open.
        """
        assert process.stdout is not None and process.stderr is not None
        open_pipes = {process.stdout.fileno(), process.stderr.fileno()}
        with selectors.DefaultSelector() as selector:
            for pipe in (process.stdout, process.stderr):
                selector.register(pipe, selectors.EVENT_READ, pipe.fileno())
            exit_fd = _pidfd(process.pid)
            if exit_fd is not None:
                selector.register(exit_fd, selectors.EVENT_READ, _EXITED)
            next_flush = time.monotonic() + FLUSH_INTERVAL
            beat_every = config.heartbeat_interval()
            next_beat = time.monotonic() + beat_every
            exited_at: float | None = None
            ended_at = now_utc()
            try:
                while True:
                    now = time.monotonic()
                    if exited_at is None and process.poll() is not None:
                        exited_at, ended_at = now, now_utc()
                        if self.own_session:  # nothing the script started may outlive it
                            with contextlib.suppress(ProcessLookupError):
                                os.killpg(process.pid, signal.SIGKILL)
                        self.sweep()
                    elif exited_at is None:
                        self._enforce_limits(now)
                        if self._sampler is not None and now >= self._sampler.next_at:
                            self._sampler.sample(now)
                    # Once the script is gone its output ends at EOF; a grandchild that kept the
                    # pipes open (yanex run keeps the terminal's group) gets a grace period.
                    if exited_at is not None and (not open_pipes or now - exited_at > _PIPE_GRACE):
                        return ended_at
                    wait_for = max(0.0, next_flush - now)
                    limit = self._next_limit()
                    if exited_at is None and limit is not None:
                        wait_for = min(wait_for, max(0.0, limit - now))
                    if exited_at is None and self._sampler is not None:
                        wait_for = min(wait_for, max(0.0, self._sampler.next_at - time.monotonic()))
                    if exited_at is not None:
                        wait_for = min(wait_for, max(0.0, exited_at + _PIPE_GRACE - now))
                    if selector.get_map():
                        for key, _ in selector.select(wait_for):
                            if key.data == _EXITED:
                                selector.unregister(key.fileobj)
                                continue
                            chunk = os.read(key.data, 65536)
                            if chunk:
                                self._sinks[key.data].write(chunk)
                            else:
                                selector.unregister(key.fileobj)
                                open_pipes.discard(key.data)
                    else:  # no pidfd, and the script closed its output but runs on
                        with contextlib.suppress(subprocess.TimeoutExpired):
                            process.wait(wait_for)
                    if time.monotonic() >= next_flush:
                        if exited_at is None:
                            self._check_pruned(time.monotonic())
                        beat = time.monotonic() >= next_beat
                        behind = self.recorder.tick(beat=beat)
                        next_flush = time.monotonic() + (0.0 if behind else FLUSH_INTERVAL)
                        if beat:
                            next_beat = time.monotonic() + beat_every
            finally:
                if exit_fd is not None:
                    os.close(exit_fd)

    def wait(self) -> Outcome:
        """Supervise the script to its end, then ingest its last metrics and record the outcome.

        The outcome goes to the experiment's folder first (``yanex.store.outcome``): if this process
        dies before the database has it, whoever reconciles the row records it from there.
        """
        process = self._process
        assert process is not None and process.stdout is not None and process.stderr is not None
        stderr_sink = self._sinks[process.stderr.fileno()]
        try:
            self._describe_packages()
            ended_at = self._pump_until_exit(process)
        except BaseException:
            self._abandon(process)
            raise
        returncode = process.wait()
        for sink in self._sinks.values():
            sink.close()
        process.stdout.close()
        process.stderr.close()
        stderr_tail = bytes(stderr_sink.tail).decode("utf-8", "replace")
        # Pruned whatever its exit: a script that saw ``should_stop()`` may exit before we did.
        self.pruned = self.pruned or stop_reason(self.directory)
        if self.timed_out and self.request.time_limit is not None:
            status, message = Status.FAILED, f"timed out after {self.request.time_limit.text}"
        elif self.pruned is not None and not self.interrupted:
            status, message = Status.PRUNED, self.pruned
        elif returncode == 0:
            status, message = Status.COMPLETED, None
        elif self.interrupted or (self.own_session and returncode == -signal.SIGINT):
            # In its own session only yanex signals a script, except a terminal's Ctrl-C that
            # reached it as it was started, before it left the batch's process group.
            status, message = Status.CANCELLED, self.cancel_reason
        else:
            status, message = Status.FAILED, describe_failure(returncode, stderr_tail)
        if not self.timed_out and not self.interrupted and self.pruned is None:
            status, message = declared_outcome(self.directory) or (status, message)
        return self.recorder.ended(OutcomeMarker(status, shell_exit_code(returncode), message, ended_at))


def say(line: str) -> None:
    """One line for the user on stderr, which may be gone (closed or full): the record matters more."""
    with contextlib.suppress(OSError, ValueError):
        print(f"yanex: {line}", file=sys.stderr, flush=True)
