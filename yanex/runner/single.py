"""``yanex run``'s launch sequence: one script as a tracked experiment in this process's terminal.

Create the row (``created``, with git and environment captured), launch the script in the
terminal's process group, forward SIGINT and SIGTERM to it, wait, and record its outcome.
A batch creates its rows ``queued`` and hands them to an executor (``yanex.runner.batch``).
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from types import FrameType
from typing import Any, NamedTuple

from yanex import config, interrupts
from yanex.db.engine import Database
from yanex.runner.dependencies import completed_parents
from yanex.runner.environment import capture_environment, this_process
from yanex.runner.git import capture_git
from yanex.specs import ExperimentSpec, Status
from yanex.store.experiments import create_experiments
from yanex.store.reconcile import reconcile_orphans
from yanex.supervisor.launch import ExperimentProcess, LaunchRequest, Outcome, OutputMode
from yanex.supervisor.reaper import become_subreaper


class ScriptRun(NamedTuple):
    experiment_id: str
    outcome: Outcome
    timed_out: bool  # stopped by its time limit (``yanex run`` then exits 124)


def _terminal_signalled_our_group() -> bool:
    """True when our process group is the terminal's foreground group.

    Then a Ctrl-C reached the script directly (it shares our group), and forwarding it would deliver
    a second KeyboardInterrupt while the script is still handling the first. The price: a
    ``kill -INT`` aimed at yanex alone while it runs in the foreground is not passed on (SIGTERM
    always is).
    """
    try:
        tty = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:  # no controlling terminal: the signal came from kill, not from a keyboard
        return False
    try:
        return os.tcgetpgrp(tty) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(tty)


class _SignalForwarder:
    """Passes SIGINT and SIGTERM to the script so that it ends, and is recorded, as cancelled.

    Escalates for a script that ignores them: the first Ctrl-C is the script's own SIGINT; the
    second sends SIGTERM and SIGKILL after the grace (``YANEX_KILL_GRACE``, 10 s); a third kills at
    once. SIGTERM to yanex sends SIGTERM, then SIGKILL after the grace.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    TERMINATED = "terminated: yanex run received SIGTERM"

    def __init__(self, process: ExperimentProcess) -> None:
        self.process = process
        self.pending: int | None = None
        self.interrupts = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _SignalForwarder:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        if interrupts.take():  # a Ctrl-C that Python dropped before it reached here
            self._handle(signal.SIGINT, None)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.process.pid is None:  # not started yet: deliver once it is
            self.pending = signum
        else:
            self._deliver(signum)

    def _deliver(self, signum: int) -> None:
        if self.process.poll() is not None:
            return
        if signum == signal.SIGTERM:
            if not self.process.interrupted:
                self.process.cancel_reason = self.TERMINATED
            self.process.terminate()
            return
        self.interrupts += 1
        if self.interrupts == 1:
            if _terminal_signalled_our_group():
                self.process.interrupted = True
            else:
                self.process.send_signal(signum)
        elif self.interrupts == 2:
            _note(
                f"yanex: stopping the script: SIGTERM, then SIGKILL in {self.process.grace:g} s "
                "(Ctrl-C again to kill it now)"
            )
            self.process.terminate()
        else:
            self.process.send_signal(signal.SIGKILL)

    def deliver_pending(self) -> None:
        if self.pending is not None:
            self._deliver(self.pending)


def _note(text: str) -> None:
    """A line on stderr from a signal handler: one os.write, never re-entering a buffered stream."""
    with contextlib.suppress(OSError):
        os.write(2, (text + "\n").encode(errors="replace"))


def run_script(spec: ExperimentSpec) -> ScriptRun:
    """Run ``spec`` (its ``script_path`` resolved) with its output echoed live; block until recorded.

    Its ``depends_on`` must name completed stored experiments (``yanex.store.dependencies``);
    anything else is refused before the row is written."""
    script_path = spec.script_path
    config.check_settings()  # a bad timing setting is refused before anything is written
    become_subreaper()  # this process supervises the script: its orphans come back here to die
    db = Database()
    reconcile_orphans(db)
    owner = this_process()
    parents = completed_parents(db, spec.depends_on) if spec.depends_on else []
    [experiment_id] = create_experiments(
        db,
        [spec],
        status=Status.CREATED,
        owner=owner,
        git=capture_git(script_path),
        environment=capture_environment(),
        depends_on=[[parent.id for parent in parents]],
    )
    request = LaunchRequest(
        experiment_id,
        script_path,
        tuple(spec.script_args),
        spec.config,
        spec.name,
        cwd=Path.cwd(),
        time_limit=spec.time_limit,
        dependencies=tuple(parents),
    )
    process = ExperimentProcess(db, request, owner, output=OutputMode.ECHO, own_session=False)
    with _SignalForwarder(process) as forwarder:
        process.start()
        forwarder.deliver_pending()
        outcome = process.wait()

    return ScriptRun(experiment_id, outcome, process.timed_out)
