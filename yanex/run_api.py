"""What experiment scripts call. Standard library only: this is every experiment's start-up path.

A tracked script never touches the database. ``log_metrics`` appends one JSON line to the
experiment's journal with a single unbuffered ``os.write``, so a point is in the kernel before the
call returns and survives the script crashing, exiting or being SIGKILLed. The supervising process
tails the journal and writes points to the database in batches.
"""

from __future__ import annotations

import _thread
import os
import time

from yanex import config as _config

# Start-up is a budget (see the benchmarks): typing, json, copy and threading cost a few ms each, so
# json is imported only by a tracked script and the rest is avoided.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from os import PathLike
    from pathlib import Path
    from typing import Any


def _to_json(value: Any) -> Any:
    """Accept numpy and torch scalars and arrays, which scripts log all the time."""
    for method in ("item", "tolist"):
        convert = getattr(value, method, None)
        if callable(convert):
            try:
                return convert()
            except (TypeError, ValueError):
                continue
    raise TypeError(
        f"log_metrics got a value of type {type(value).__name__}, which is not a number, string, "
        "list or dict; convert it first"
    )


def _finite(node: Any) -> Any:
    """JSON data with each NaN and infinity as the string "NaN", "Infinity" or "-Infinity": the
    journal holds only valid JSON, and the database maps these the same way at any depth."""
    if isinstance(node, float) and node - node != 0.0:
        return "NaN" if node != node else ("Infinity" if node > 0 else "-Infinity")
    if isinstance(node, dict):
        return {key: _finite(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_finite(value) for value in node]
    return node


_STEP_LIMIT = 2**63  # steps are SQLite INTEGERs


def _copy(node: Any) -> Any:
    """A deep copy of JSON data, so that callers cannot change the parameters others read."""
    if isinstance(node, dict):
        return {key: _copy(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_copy(value) for value in node]
    return node


class _Run:
    """The current process's experiment, read once from the environment the supervisor set."""

    def __init__(self) -> None:
        self.experiment_id = os.environ.get(_config.EXPERIMENT_ID_ENV) or None
        directory = os.environ.get(_config.EXPERIMENT_DIR_ENV)
        self.directory = directory if directory and self.experiment_id else None
        self._params: dict[str, Any] | None = None
        self._encode: Callable[[Any], str] | None = None
        self._journal_fd = -1
        self._journal_pid = -1
        self._next_step = 0
        self._lock = _thread.allocate_lock()
        # The experiment ``yanex.start`` tracks in this interpreter (a ``yanex.runner.session.Run``),
        # which ``yanex.fail``/``cancel``/``completed`` end; None under ``yanex run`` or standalone.
        self.session: Any = None
        # ``get_artifacts_dir`` was called: files written into that folder are stored at the end.
        self.collect_folder = False
        self.stop_seen = False  # the sweep pruned this experiment (``should_stop``): stays True
        self.stop_checked_at: float | None = None  # monotonic time of the last look at the flag
        # A fork while another thread is inside ``log`` would copy the lock held, and the child's
        # first ``log_metrics`` would wait forever: the child gets a fresh lock and its own journal
        # descriptor (the parent's copy is closed, so none leaks into the child). Likewise a fork
        # while another thread imports json copies that module's import lock held: json is imported
        # before a fork, so that the child never has to.
        os.register_at_fork(before=self.encoder, after_in_child=self._after_fork)

    def bind(self, experiment_id: str | None, directory: str | None) -> None:
        """Record into another experiment from now on (``yanex.start`` and its end): its
        parameters, its journal, steps counted from 0."""
        with self._lock:
            if self._journal_fd >= 0 and self._journal_pid == os.getpid():
                os.close(self._journal_fd)
            self._journal_fd = self._journal_pid = -1
            self.experiment_id, self.directory = experiment_id, directory
            self._params = None
            self._next_step = 0
            self.collect_folder = False
            self.stop_seen, self.stop_checked_at = False, None

    def _after_fork(self) -> None:
        self._lock = _thread.allocate_lock()
        if self._journal_fd >= 0:
            try:  # noqa: SIM105 (contextlib is not imported here: start-up budget)
                os.close(self._journal_fd)
            except OSError:
                pass
        self._journal_fd = self._journal_pid = -1

    @property
    def params(self) -> dict[str, Any]:
        if self._params is None:
            if self.directory is None:
                self._params = {}
            else:
                self._params = self._read_params()
        return self._params

    def _read_params(self) -> dict[str, Any]:
        """The supervisor's marshal copy (no json import), else config.json (an older supervisor)."""
        import marshal  # built in, and loaded already by the interpreter's own start-up

        assert self.directory is not None
        try:
            with open(os.path.join(self.directory, _config.PARAMS_FILE), "rb") as handle:
                params = marshal.load(handle)
            if type(params) is dict:
                return params
        except (OSError, EOFError, ValueError, TypeError):
            pass
        import json

        with open(os.path.join(self.directory, _config.CONFIG_FILE), encoding="utf-8") as handle:
            loaded: dict[str, Any] = json.load(handle)
        return loaded

    def journal(self) -> int:
        if self._journal_pid != os.getpid():  # a forked child opens its own descriptor
            assert self.directory is not None
            self._journal_fd = os.open(
                os.path.join(self.directory, _config.METRICS_FILE),
                os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                0o644,
            )
            self._journal_pid = os.getpid()
        return self._journal_fd

    def encoder(self) -> Callable[[Any], str]:
        if self._encode is None:
            import json

            strict = json.JSONEncoder(separators=(",", ":"), default=_to_json, allow_nan=False).encode
            lenient = json.JSONEncoder(separators=(",", ":"), default=_to_json).encode

            def encode(entry: Any) -> str:
                try:
                    return strict(entry)
                except ValueError:  # a NaN or infinity somewhere (also inside numpy arrays)
                    return strict(_finite(json.loads(lenient(entry))))

            self._encode = encode
        return self._encode

    def declare(self, entry: dict[str, Any]) -> None:
        """A declaration line in the journal (``set_goal``, ``set_total``), ingested with the
        points around it."""
        with self._lock:
            line = self.encoder()({**entry, "t": time.time()})
            if self.directory is not None:
                os.write(self.journal(), (line + "\n").encode())

    def log(self, data: dict[str, Any], step: int | None) -> None:
        with self._lock:
            if step is None:
                step = self._next_step
                if step >= _STEP_LIMIT:
                    raise ValueError(
                        f"log_metrics step {step} is out of range: counting on from step "
                        f"{step - 1} passes 2**63-1, the largest step; pass step= explicitly"
                    )
            # Encoded even when standalone, so that a value yanex cannot store fails the same way
            # in both modes; and before counting, so that a failed call does not use up a step.
            line = self.encoder()({"step": step, "t": time.time(), "values": data})
            if self.directory is not None:
                os.write(self.journal(), (line + "\n").encode())
            self._next_step = step + 1

    def append(self, line: bytes) -> None:
        """Append one complete journal line (an artifact's record) in one write."""
        with self._lock:
            os.write(self.journal(), line)


_run = _Run()
_MISSING = object()


def _lookup(node: Any, name: str) -> Any:
    """The value at dotted ``name``; a key may itself contain dots (``{"a.b": 1}``), and yanex refuses
    configs where two paths give the same name, so at most one path matches."""
    if not isinstance(node, dict):
        return _MISSING
    if name in node:
        return node[name]
    head, dot, rest = name.partition(".")
    while dot:
        found = _lookup(node.get(head), rest)
        if found is not _MISSING:
            return found
        more, dot, rest = rest.partition(".")
        head = f"{head}.{more}"
    return _MISSING


def get_param(name: str, default: Any = None) -> Any:
    """A parameter of the current experiment; dotted names reach into nested config.

    Outside a tracked experiment (plain ``python train.py``) every call returns its default.
    """
    if not isinstance(name, str):
        raise TypeError(f"get_param expects the parameter name as a string, got {type(name).__name__}")
    found = _lookup(_run.params, name)
    return default if found is _MISSING else _copy(found)


def get_params() -> dict[str, Any]:
    """All parameters of the current experiment as given (nested); empty when standalone."""
    params: dict[str, Any] = _copy(_run.params)
    return params


def log_metrics(data: dict[str, Any], step: int | None = None) -> None:
    """Record metric values at ``step`` (one past the previous step when omitted, from 0).

    Costs a few microseconds. Standalone, values are checked and steps counted, but nothing is kept.
    Names starting with ``system/`` are refused: the supervisor records the script's CPU, memory
    and GPU use under them.
    """
    if not isinstance(data, dict):
        raise TypeError(f"log_metrics expects a dict of name to value, got {type(data).__name__}")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, int):
            raise TypeError(f"log_metrics step must be an int, got {type(step).__name__}")
        if not -(2**63) <= step < 2**63:
            raise ValueError(f"log_metrics step {step} is out of range; steps are 64-bit integers")
    for key in data:
        if type(key) is str and key.startswith(_config.SYSTEM_METRICS_PREFIX):
            raise ValueError(
                f"log_metrics cannot log {key!r}: names starting with "
                f"{_config.SYSTEM_METRICS_PREFIX!r} are yanex's system metrics; rename it"
            )
    _run.log(data, step)


def set_goal(key: str, goal: str) -> None:
    """Declare whether metric ``key`` is best at its smallest (``"min"``) or largest (``"max"``)
    value: ``metrics.KEY.best`` and ``.step_of_best`` follow it for this experiment, whenever it
    is called (a later call wins). Without one, names containing loss, err, mse, mae, perplexity,
    time, latency or regret are minimised and every other metric maximised.
    """
    if not isinstance(key, str) or not key:
        raise TypeError(f"set_goal expects the metric name as a non-empty string, got {key!r}")
    if goal not in ("min", "max"):
        raise ValueError(f"set_goal goal must be 'min' or 'max', got {goal!r}")
    _run.declare({"goals": {key: goal}})


def set_total(steps: int) -> None:
    """Declare how many steps the script will log (the ``n`` of its ``for step in range(n)``):
    ``yanex watch`` and ``yanex show`` then give its progress as a percentage of them and the time
    left at its pace so far. A later call wins. Standalone, it is checked and nothing is kept.
    """
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise TypeError(f"set_total expects the number of steps as an int, got {type(steps).__name__}")
    if not 0 < steps < _STEP_LIMIT:
        raise ValueError(f"set_total steps must be at least 1 and below 2**63, got {steps}")
    _run.declare({"total": steps})


_STOP_POLL = 0.1  # seconds between two looks at the stop flag: should_stop is called every step


def should_stop() -> bool:
    """True once the sweep's early stopping (``yanex run --prune``) has decided to stop this
    experiment: save what you need and exit (any exit is recorded ``pruned``) within the kill grace
    (``YANEX_KILL_GRACE``, 10 s), after which the script gets SIGTERM, then SIGKILL. Cheap enough
    for every step: at most one ``stat()`` every 0.1 s. Standalone, always False."""
    run = _run
    if run.stop_seen or run.directory is None:
        return run.stop_seen
    now = time.monotonic()
    if run.stop_checked_at is None:  # the first call: the supervisor now waits for us to stop
        listening = os.path.join(run.directory, _config.LISTENING_FILE)
        try:  # noqa: SIM105 (contextlib is not imported here: start-up budget)
            os.close(os.open(listening, os.O_WRONLY | os.O_CREAT, 0o644))
        except OSError:
            pass
    elif now - run.stop_checked_at < _STOP_POLL:
        return False
    run.stop_checked_at = now
    run.stop_seen = os.path.exists(os.path.join(run.directory, _config.PRUNED_FILE))
    return run.stop_seen


def get_experiment_id() -> str | None:
    """The id (32 hex digits) of the running experiment, or None when standalone."""
    return _run.experiment_id


def is_standalone() -> bool:
    """True when the script runs outside any tracked experiment."""
    return _run.experiment_id is None


def _parents() -> list[tuple[str, str | None]] | None:
    """The experiments this one depends on as ``(id, name)``, from the supervisor; None standalone."""
    if _run.experiment_id is None:
        return None
    raw = os.environ.get(_config.DEPENDENCIES_ENV)
    if not raw:
        return []
    import json

    return [(str(parent_id), name) for parent_id, name in json.loads(raw)]


def dependencies() -> dict[str, str]:
    """The experiments this one depends on, name to id (an unnamed one, or a second one of the same
    name, under its id); empty when it has none or runs standalone."""
    found: dict[str, str] = {}
    for parent_id, name in _parents() or []:
        found[name if name is not None and name not in found else parent_id] = parent_id
    return found


def dependency(name: str | None = None) -> str | None:
    """The id of the experiment this one depends on: the only one, or the one called ``name``
    (a name, an id or an id prefix). Meant for ``load_artifact(..., experiment=dependency())``.

    Standalone (plain ``python evaluate.py``) it returns None, so the script reads its inputs from
    where a standalone run of the other script left them. In a tracked experiment it raises
    ``yanex.errors.NotFoundError`` when nothing matches and ``AmbiguousReferenceError`` when
    several do (or ``name`` is None and there are several).
    """
    parents = _parents()
    if parents is None:
        return None
    from yanex.errors import AmbiguousReferenceError, NotFoundError

    listed = ", ".join(f"{pid} ({pname})" if pname else pid for pid, pname in parents) or "none"
    if name is None:
        if len(parents) == 1:
            return parents[0][0]
        if not parents:
            raise NotFoundError(
                f"experiment {_run.experiment_id} has no dependency",
                hint="run it with `yanex run SCRIPT --depends-on ID` or ExperimentSpec(depends_on=[...])",
            )
        raise AmbiguousReferenceError(
            f"experiment {_run.experiment_id} has {len(parents)} dependencies: {listed}",
            hint="name the one you want: yanex.dependency('train')",
        )
    matches = [pid for pid, pname in parents if pname == name] or [
        pid for pid, _ in parents if pid.startswith(name.lower())
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFoundError(
            f"experiment {_run.experiment_id} has no dependency {name!r}; its dependencies: {listed}",
            hint="pass one of their names or ids, as yanex.dependencies() lists them",
        )
    raise AmbiguousReferenceError(
        f"{name!r} names {len(matches)} dependencies of experiment {_run.experiment_id}: {listed}",
        hint="pass the id of the one you want",
    )


# Artifacts: the work is in yanex.artifacts.script, imported on first use.


def save_artifact(obj: Any, name: str, *, allow_pickle: bool = False) -> str:
    """Save ``obj`` as the artifact ``name``, in the format its extension names.

    .json, .yaml/.yml (data), .txt (a str), .csv (a list of dicts or a pandas DataFrame),
    .npy (a numpy array), .npz (a dict of arrays), .pt/.pth (torch.save), .png/.pdf/.svg (a
    matplotlib figure), .pkl (only with ``allow_pickle=True``). Saving a name again replaces it.
    Untracked, it is written to ./artifacts/NAME. Returns the name as stored (normalised).
    """
    from yanex.artifacts import script

    return script.save(_run, obj, name, allow_pickle)


def log_artifact(path: str | PathLike[str], name: str | None = None) -> str:
    """Store an existing file, or a folder with everything in it, as the artifact ``name``
    (default: its file or folder name); a folder's files are ``name/relative/path``.

    Regular files only: a device or FIFO is refused. In a folder, a link to a file in the folder
    is stored as that file's content; links to folders, links leaving the folder or to nothing,
    FIFOs, sockets and devices are left out, each named in a warning."""
    from yanex.artifacts import script

    return script.log(_run, path, name)


def load_artifact(name: str, experiment: str | None = None, *, allow_pickle: bool = False) -> Any:
    """Load an artifact of this experiment, or of ``experiment`` (an id, id prefix or name):
    by extension as ``save_artifact`` writes them (.csv as a pandas DataFrame), and the bytes of
    any other file. Pickles (.pkl, and .pt/.npy holding arbitrary objects) need ``allow_pickle``.
    On a cluster worker ``experiment`` is one of this experiment's dependencies (their artifacts
    are brought to the worker before the script starts; there is no database there)."""
    from yanex.artifacts import script

    return script.load(_run, name, experiment, allow_pickle)


def artifact_path(name: str, experiment: str | None = None) -> Path:
    """A local path to read the artifact (or folder of artifacts) from: a private, read-only
    copy made when asked for (a clone where the file system has them). Writing it changes that
    copy only, never what was saved; save a new version with ``save_artifact``/``log_artifact``."""
    from yanex.artifacts import script

    return script.path(_run, name, experiment)


def list_artifacts(experiment: str | None = None) -> list[str]:
    """The names of this experiment's artifacts (or of ``experiment``'s), sorted."""
    from yanex.artifacts import script

    return script.names(_run, experiment)
