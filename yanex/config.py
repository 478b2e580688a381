"""Where yanex keeps its data, read from the environment in one place.

Stdlib only: experiment scripts import this through the run API.
"""

from __future__ import annotations

import os

from yanex.errors import ConfigError

# pathlib is imported only by the functions that return paths: an experiment script that merely
# imports yanex must not pay for it (a few ms when nothing else has loaded it).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

HOME_ENV = "YANEX_HOME"
DATABASE_URL_ENV = "YANEX_DATABASE_URL"
# Seconds a write waits for another process's lock before yanex says on stderr that it is waiting
# (it then keeps waiting: a long lock is a wait, not a failure). Tests shorten it.
LOCK_NOTICE_ENV = "YANEX_LOCK_NOTICE_SECONDS"
DEFAULT_LOCK_NOTICE = 5.0

# Set by the supervisor in the environment of every experiment it launches.
EXPERIMENT_ID_ENV = "YANEX_EXPERIMENT_ID"
EXPERIMENT_DIR_ENV = "YANEX_EXPERIMENT_DIR"
# The experiments a tracked script depends on, as JSON [[id, name or null], ...] (yanex.dependency).
DEPENDENCIES_ENV = "YANEX_DEPENDENCIES"

CONFIG_FILE = "config.json"
# The same parameters in marshal's format, which the run API reads without importing json (json
# pulls in re: several ms of every tracked script's start-up). config.json stays for people and tools.
PARAMS_FILE = "config.marshal"
METRICS_FILE = "metrics.jsonl"
# The outcome a script declared (yanex.completed/fail/cancel, the file-based yanex's names), which
# its supervisor records instead of what the exit status says.
DECLARED_FILE = "declared.json"
OUTCOME_FILE = "outcome.json"  # the outcome as the supervisor saw it, written before recording it
# A sweep's pruning decided to stop the experiment (``yanex run --prune``): the reason, written by
# the orchestrator; its supervisor stops the script and records it ``pruned``, and
# ``yanex.should_stop()`` in the script turns True.
PRUNED_FILE = "pruned.txt"
# Written by the script's first ``yanex.should_stop()``: it stops on its own, so its supervisor
# gives it the kill grace to exit before any SIGTERM.
LISTENING_FILE = "should_stop.polled"
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"


# Matched with `re` imported on use: an experiment script's `import yanex` must not pay for it.
_URL = r"(?P<dialect>[A-Za-z][A-Za-z0-9_]*)(?:\+(?P<driver>[A-Za-z0-9_]+))?://(?P<rest>.*)"
_URL_HINT = "use a SQLite file URL, e.g. sqlite:////absolute/path/to/yanex.db, or unset it to use YANEX_HOME"


def yanex_home() -> Path:
    """The root folder: the default database and one folder per experiment."""
    from pathlib import Path

    raw = os.environ.get(HOME_ENV)
    return Path(raw).expanduser() if raw else Path.home() / ".yanex"


def database_url() -> str:
    """The URL of the store: $YANEX_DATABASE_URL (checked) or yanex.db in YANEX_HOME."""
    override = os.environ.get(DATABASE_URL_ENV)
    if override:
        check_database_url(override, DATABASE_URL_ENV)
        return override
    home = yanex_home()
    if home.exists() and not home.is_dir():
        raise ConfigError(
            f"YANEX_HOME is {home}, which is a file, not a folder",
            hint="point YANEX_HOME at a folder (it is created if missing)",
        )
    return f"sqlite:///{home / 'yanex.db'}"


def sqlite_path(url: str, source: str = DATABASE_URL_ENV) -> Path:
    """The file a SQLite URL names. Anything else is refused: yanex's metric inserts, name globs
    and summary view are SQLite's and tested only there, and an in-memory database would lose
    everything when the process ends."""
    import re
    from pathlib import Path

    match = re.fullmatch(_URL, url, re.S)
    if match is None:
        # Not echoed: a mistyped server URL may hold a password.
        raise ConfigError(f"{source} is not a database URL", hint=_URL_HINT)
    if match["dialect"].lower() != "sqlite":
        raise ConfigError(
            f"{source} names a {match['dialect']} database; yanex stores experiments only in SQLite files",
            hint=_URL_HINT,
        )
    if match["driver"] not in (None, "pysqlite"):
        raise ConfigError(
            f"{source} asks for the SQLite driver {match['driver']!r}; yanex uses Python's built-in "
            "sqlite3 (sqlite:// or sqlite+pysqlite://) only",
            hint=_URL_HINT,
        )
    rest = match["rest"]
    database = rest[1:].split("?", 1)[0] if rest.startswith("/") else ""
    if database in ("", ":memory:") or not rest.startswith("/"):
        raise ConfigError(
            f"{source} {url!r} is an in-memory SQLite database, which would lose every experiment "
            "when yanex exits",
            hint=_URL_HINT,
        )
    return Path(database).expanduser()


def check_database_url(url: str, source: str = DATABASE_URL_ENV) -> Path:
    """``sqlite_path``, and its folder must exist: a typo must not create a stray folder."""
    path = sqlite_path(url, source)
    if path.is_dir():
        raise ConfigError(f"{source} names {path}, which is a folder", hint=_URL_HINT)
    if not path.parent.is_dir():
        raise ConfigError(
            f"{source} names a file in {path.parent}, which is not an existing folder",
            hint="create the folder first, or fix the URL",
        )
    return path


def lock_notice_after() -> float:
    """Seconds a write waits for another process's lock before saying so (see LOCK_NOTICE_ENV)."""
    return _seconds(LOCK_NOTICE_ENV, DEFAULT_LOCK_NOTICE, most=3600)


def experiments_root() -> Path:
    return yanex_home() / "experiments"


def experiment_dir(experiment_id: str) -> Path:
    """Captured output, metrics journal and files of one experiment."""
    return experiments_root() / experiment_id


# A Slurm batch's folder (jobs, code snapshot, spool) must be on storage the compute nodes share.
# It follows YANEX_HOME like everything else; this puts it elsewhere, for a YANEX_HOME on a local
# disk (where the database belongs).
SLURM_FOLDER_ENV = "YANEX_SLURM_FOLDER"


def slurm_folder() -> Path:
    """Where Slurm batches' folders go: $YANEX_SLURM_FOLDER, else slurm/ in YANEX_HOME."""
    from pathlib import Path

    raw = os.environ.get(SLURM_FOLDER_ENV)
    return Path(raw).expanduser() if raw else yanex_home() / "slurm"


# Artifacts (yanex.artifacts): contents stored once by SHA-256 under blobs/; a path to one is a
# private copy under its experiment folder's artifacts/; an untracked script saves to ./artifacts.
ARTIFACTS_DIR = "artifacts"


# Set by yanex for a script on a cluster worker (yanex.executors.remote), which has no database:
# the blob folder of the worker's spool, where it saves artifact contents for the orchestrator to
# bring home, and the file listing the artifacts of its dependencies it may read (inputs.json).
BLOBS_ENV = "YANEX_BLOBS"
INPUTS_ENV = "YANEX_INPUTS"


def blobs_root() -> Path:
    """Artifact contents by SHA-256: blobs/ in YANEX_HOME (on a cluster worker: $YANEX_BLOBS)."""
    from pathlib import Path

    raw = os.environ.get(BLOBS_ENV)
    return Path(raw) if raw else yanex_home() / "blobs"


def artifacts_view(experiment_id: str) -> Path:
    """The experiment's artifacts by name, as far as paths to them were asked for: private copies
    (clones where the file system has them) of their blobs, made by ``yanex.artifacts.views``."""
    return experiment_dir(experiment_id) / ARTIFACTS_DIR


# What of the untracked files goes into an experiment's git patch (see yanex.runner.git_patch).
GIT_UNTRACKED_FILE_LIMIT_ENV = "YANEX_GIT_UNTRACKED_FILE_LIMIT"
GIT_UNTRACKED_TOTAL_LIMIT_ENV = "YANEX_GIT_UNTRACKED_TOTAL_LIMIT"
GIT_UNTRACKED_FILE_LIMIT = 256 * 1024
GIT_UNTRACKED_TOTAL_LIMIT = 2 * 1024 * 1024
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def _size(name: str, default: int) -> int:
    """A byte count from the environment: ``262144``, ``256K``, ``2M`` (``0`` takes nothing)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    number, unit = raw.upper().removesuffix("B"), ""
    if number[-1:] in _SIZE_UNITS:
        number, unit = number[:-1], number[-1]
    if not number.isdigit():
        from yanex.errors import ConfigError

        raise ConfigError(
            f"{name}={raw!r} is not a size",
            hint=f"give a number of bytes, or a number with K, M or G: {name}=256K",
        )
    return int(number) * _SIZE_UNITS[unit]


def git_untracked_limits() -> tuple[int, int]:
    """Largest untracked file, and most untracked bytes in all, kept in a git patch."""
    return (
        _size(GIT_UNTRACKED_FILE_LIMIT_ENV, GIT_UNTRACKED_FILE_LIMIT),
        _size(GIT_UNTRACKED_TOTAL_LIMIT_ENV, GIT_UNTRACKED_TOTAL_LIMIT),
    )


# How large an experiment's parameters may be, as the JSON stored (see yanex.specs.check_config_size):
# far above any real config, and below what would make a sweep's rows swell (each experiment stores
# its config about five times: its row, the params table, config.json, config.marshal, the WAL).
PARAMS_SIZE_LIMIT_ENV = "YANEX_PARAMS_SIZE_LIMIT"
PARAMS_SIZE_LIMIT = 1024 * 1024


def params_size_limit() -> int:
    """Most bytes of JSON an experiment's parameters may take, all together."""
    return _size(PARAMS_SIZE_LIMIT_ENV, PARAMS_SIZE_LIMIT)


HEARTBEAT_INTERVAL_ENV = "YANEX_HEARTBEAT_INTERVAL"
STALE_AFTER_ENV = "YANEX_STALE_AFTER"


def _seconds(name: str, default: float, *, most: float = 24 * 3600, zero: bool = False) -> float:
    """A number of seconds from the environment (positive, or also 0 with ``zero``); a bad value is
    an error, not a default."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not (seconds >= 0 if zero else seconds > 0) or not seconds <= most:  # also refuses nan and inf
        raise ConfigError(
            f"{name} must be a number of seconds up to {most:g}, got {raw!r}",
            hint=f"unset it for the default of {default:g} s",
        )
    return seconds


# Metrics under this prefix are the supervisor's samples of the script's processes (CPU, memory,
# GPU); scripts may not log names that start with it.
SYSTEM_METRICS_PREFIX = "system/"
SYSTEM_METRICS_INTERVAL_ENV = "YANEX_SYSTEM_METRICS_INTERVAL"


def system_metrics_interval() -> float:
    """Seconds between samples of a script's CPU, memory and GPU use (default 10; 0: none)."""
    return _seconds(SYSTEM_METRICS_INTERVAL_ENV, 10.0, zero=True)


KILL_GRACE_ENV = "YANEX_KILL_GRACE"


def kill_grace() -> float:
    """Seconds a script gets to exit after SIGTERM before SIGKILL (timeout, second Ctrl-C, SIGTERM)."""
    return _seconds(KILL_GRACE_ENV, 10.0, zero=True)


def check_settings() -> None:
    """Read every timing setting once, so that a bad value is refused before anything is written
    (rather than by whichever process reads it first, mid-run)."""
    for setting in (kill_grace, heartbeat_interval, stale_after, lock_notice_after, system_metrics_interval):
        setting()


def heartbeat_interval() -> float:
    """Seconds between an owner's signs of life in the database (default 5)."""
    return _seconds(HEARTBEAT_INTERVAL_ENV, 5.0)


def stale_after() -> float:
    """Seconds of silence after which an owner on another host counts as dead (default 120); an
    owner on this host is checked by its process instead (see ``yanex.store.reconcile``)."""
    return _seconds(STALE_AFTER_ENV, 120.0)
