"""``yanex.start``: an experiment tracked inside the calling interpreter (a notebook's kernel, a
script not run by ``yanex run``, a REPL).

The interpreter is both the script and its supervisor: the row is created and owned by this
process (owner and script pid are its own), the run API is bound to the experiment so that
``log_metrics`` appends to its journal exactly as in a script, and a daemon thread does what a
supervisor's loop does, through the same ``DatabaseRecorder``: it ingests the journal every
``FLUSH_INTERVAL`` and keeps the heartbeat. Ending the run ingests the rest and records the
outcome. If the interpreter dies first, the next yanex command finds the owner gone, ingests the
journal and records ``failed`` (``yanex.store.reconcile``): nothing logged is lost.

The thread costs ``log_metrics`` little: it sleeps between ticks, and a tick's database work
releases the GIL (``make bench``: benchmarks/bench_log_metrics.py compares it with a script).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from yanex import config as settings
from yanex import run_api
from yanex.db.engine import Database
from yanex.errors import UsageError
from yanex.runner.environment import capture_environment, this_process
from yanex.runner.git import capture_git
from yanex.specs import INTERACTIVE, ExperimentSpec, Status
from yanex.store.convert import now_utc
from yanex.store.experiments import create_experiments
from yanex.store.ids import shown
from yanex.store.outcome import OutcomeMarker
from yanex.store.reconcile import reconcile_orphans
from yanex.supervisor.journal import FLUSH_INTERVAL
from yanex.supervisor.launch import DatabaseRecorder, say, write_params
from yanex.sweep.expand import run_name

INTERRUPTED = "interrupted by the user"  # as a supervisor records a Ctrl-C


class Ended(Exception):
    """Raised by ``yanex.completed()``, ``fail()`` or ``cancel()`` inside ``with yanex.start()``
    after the outcome is recorded, to leave the block; the ``with`` swallows it."""


def _notebook() -> Path | None:
    """The notebook this kernel runs, where the front end says: VS Code's ``__vsc_ipynb_file__``,
    Jupyter's ``__session__`` (ipykernel 6.10+) or ``JPY_SESSION_NAME`` (a path relative to the
    server's folder, which is usually the kernel's working directory)."""
    main = sys.modules.get("__main__")
    names = vars(main) if main is not None else {}
    for candidate in (
        names.get("__vsc_ipynb_file__"),
        names.get("__session__"),
        os.environ.get("JPY_SESSION_NAME"),
    ):
        if isinstance(candidate, str) and candidate.endswith(".ipynb"):
            path = Path(candidate)
            if path.is_file():
                return path.resolve()
    return None


def calling_script() -> Path:
    """What the experiment runs: the notebook, else the script ``python SCRIPT`` started, else
    ``<interactive>`` (a REPL, ``python -c``, a notebook that cannot be found). Never the code
    of the cells."""
    if "ipykernel" in sys.modules:
        return _notebook() or INTERACTIVE
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if isinstance(main_file, str) and Path(main_file).is_file():
        return Path(main_file).resolve()
    return INTERACTIVE


def _refuse_nesting() -> None:
    current = run_api._run
    if current.session is not None:
        raise UsageError(
            f"experiment {shown(current.session.id)} is already tracked in this process",
            hint="end it first: run.finish(), or the end of its `with` block",
        )
    if current.experiment_id is not None:
        raise UsageError(
            f"this script already runs as experiment {shown(current.experiment_id)} (yanex run)",
            hint="log into that experiment without yanex.start(), or run the script with python",
        )


class Run:
    """An experiment tracked in this interpreter, from ``yanex.start`` until ``finish``,
    ``fail`` or ``cancel`` (or the end of its ``with`` block, or of the interpreter)."""

    def __init__(self, db: Database, experiment_id: str, directory: Path) -> None:
        self.id = self.experiment_id = experiment_id  # experiment_id: the file-based yanex's name
        self.directory = directory
        self._db = db
        self._pid = os.getpid()
        self._recorder = DatabaseRecorder(db, experiment_id, this_process())
        self._stop = threading.Event()
        self._ended = threading.Lock()
        self._done = False
        self.entered = False  # inside its `with` block: yanex.fail() and the like leave it
        self._status = Status.RUNNING
        self._thread = threading.Thread(target=self._pump, name=f"yanex-{shown(experiment_id)}", daemon=True)
        self._environ = {
            name: os.environ.get(name) for name in (settings.EXPERIMENT_ID_ENV, settings.EXPERIMENT_DIR_ENV)
        }
        self._last_error = sys.__dict__.get("last_value")  # an exception a REPL showed before

    def _begin(self) -> None:
        self._recorder.started(self._pid)
        run_api._run.bind(self.id, str(self.directory))
        run_api._run.session = self
        # What this process starts from now on belongs to the experiment, as a script's children
        # do: they log into it, and the next yanex command stops them if this process dies.
        os.environ[settings.EXPERIMENT_ID_ENV] = self.id
        os.environ[settings.EXPERIMENT_DIR_ENV] = str(self.directory)
        self._thread.start()
        atexit.register(self._at_exit)

    def _pump(self) -> None:
        """The supervisor's loop without a script to watch: ingest every ``FLUSH_INTERVAL`` (at
        once while behind), refresh the heartbeat every ``heartbeat_interval``."""
        beat_every = settings.heartbeat_interval()
        next_beat = 0.0
        delay = FLUSH_INTERVAL
        complained = False
        while not self._stop.wait(delay):
            now = time.monotonic()
            beat = now >= next_beat
            try:
                behind = self._recorder.tick(beat=beat)
            except Exception as error:  # a locked or full database: the journal keeps every point
                if not complained:
                    say(f"experiment {shown(self.id)}: metrics wait in its journal ({error})")
                    complained = True
                behind = False
            if beat:
                next_beat = now + beat_every
            delay = 0.0 if behind else FLUSH_INTERVAL

    @property
    def status(self) -> Status:
        """``running`` until the run ends, then what was asked for."""
        return self._status

    def finish(self) -> None:
        """Record the run ``completed`` (ingesting every point first)."""
        self._end(Status.COMPLETED, None)

    def fail(self, message: str) -> None:
        """Record the run ``failed`` with ``message``."""
        self._end(Status.FAILED, message)

    def cancel(self, message: str = INTERRUPTED) -> None:
        """Record the run ``cancelled`` with ``message``."""
        self._end(Status.CANCELLED, message)

    def _end(self, status: Status, message: str | None) -> None:
        """Once, and only in the interpreter that started the run (not a forked worker)."""
        if os.getpid() != self._pid:
            return
        with self._ended:
            if self._done:
                return
            self._done, self._status = True, status
            ended_at = now_utc()
            self._stop.set()
            self._thread.join()
            atexit.unregister(self._at_exit)
            try:
                if run_api._run.collect_folder:
                    from yanex.artifacts.script import collect_folder

                    collect_folder(run_api._run)
            finally:
                run_api._run.bind(None, None)
                run_api._run.session = None
                for name, value in self._environ.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
                self._recorder.ended(OutcomeMarker(status, None, message, ended_at))

    def _at_exit(self) -> None:
        """The interpreter ends with the run open: a script's uncaught exception fails it (a REPL
        or notebook shows exceptions without ending, so there only the end counts)."""
        error = sys.__dict__.get("last_value")
        interactive = hasattr(sys, "ps1") or "IPython" in sys.modules
        if error is not None and error is not self._last_error and not interactive:
            self._end(*outcome_of(type(error), error))
        else:
            self._end(Status.COMPLETED, None)

    def __enter__(self) -> Run:
        self.entered = True
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _tb: TracebackType | None
    ) -> bool:
        self.entered = False
        if kind is not None and issubclass(kind, Ended):
            return True
        if not self._done:
            self._end(*outcome_of(kind, error))
        return False

    def __repr__(self) -> str:
        return f"<yanex run {shown(self.id)} {self.status.value}>"


def outcome_of(kind: type[BaseException] | None, error: BaseException | None) -> tuple[Status, str | None]:
    """How a block that ended this way is recorded: the exception's last line as a traceback
    shows it (what a supervisor records of a script), Ctrl-C as cancelled, ``sys.exit(0)`` fine."""
    if kind is None:
        return Status.COMPLETED, None
    if issubclass(kind, KeyboardInterrupt):
        return Status.CANCELLED, INTERRUPTED
    if issubclass(kind, SystemExit):
        code = error.code if isinstance(error, SystemExit) else None
        return (Status.COMPLETED, None) if code in (None, 0) else (Status.FAILED, f"exit code {code}")
    return Status.FAILED, traceback.format_exception_only(kind, error)[-1].strip()


def start(
    config: dict[str, Any] | None = None,
    *,
    name: str | None = None,
    tags: list[str] | tuple[str, ...] = (),
    description: str | None = None,
    script_path: str | Path | None = None,
) -> Run:
    """Track an experiment in this interpreter until ``run.finish()`` (or the ``with`` block ends).

    Inside, ``yanex.get_param``, ``log_metrics``, ``save_artifact`` and the rest record into it as
    in a script run by ``yanex run``. ``script_path`` defaults to the notebook or the script
    ``python`` runs (``<interactive>`` when there is none); git state is captured for its
    repository (the working directory's for ``<interactive>``). Refused inside another run.
    """
    _refuse_nesting()
    settings.check_settings()
    script = Path(script_path).resolve() if script_path is not None else calling_script()
    spec = ExperimentSpec(
        script_path=script,
        config=config or {},
        name=name if name is not None else run_name(script.stem.strip("<>"), {}, []),
        tags=list(tags),
        description=description,
    )
    db = Database()
    reconcile_orphans(db)
    [experiment_id] = create_experiments(
        db,
        [spec],
        status=Status.CREATED,
        owner=this_process(),
        git=capture_git(Path.cwd() if script == INTERACTIVE else script),
        environment=capture_environment(),
    )
    directory = settings.experiment_dir(experiment_id)
    directory.mkdir(parents=True, exist_ok=True)
    write_params(directory, spec.config)
    run = Run(db, experiment_id, directory)
    run._begin()
    return run


def create_experiment(
    script_path: str | Path | None = None,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    description: str | None = None,
) -> Run:
    """The file-based yanex's name for ``start``, with its argument order (compatibility)."""
    return start(config, name=name, tags=tags or (), description=description, script_path=script_path)


__all__ = ["INTERACTIVE", "Ended", "Run", "calling_script", "create_experiment", "start"]
