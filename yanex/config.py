"""Where yanex keeps its data, read from the environment in one place.

Stdlib only: experiment scripts import this through the run API.
"""

from __future__ import annotations

import os

# pathlib is imported only by the functions that return paths: an experiment script that merely
# imports yanex must not pay for it (a few ms when nothing else has loaded it).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

HOME_ENV = "YANEX_HOME"
DATABASE_URL_ENV = "YANEX_DATABASE_URL"

# Set by the supervisor in the environment of every experiment it launches.
EXPERIMENT_ID_ENV = "YANEX_EXPERIMENT_ID"
EXPERIMENT_DIR_ENV = "YANEX_EXPERIMENT_DIR"

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"


def yanex_home() -> Path:
    """The root folder: the default database and one folder per experiment."""
    from pathlib import Path

    raw = os.environ.get(HOME_ENV)
    return Path(raw).expanduser() if raw else Path.home() / ".yanex"


def database_url() -> str:
    """The SQLAlchemy URL of the store; the embedded SQLite file unless overridden."""
    override = os.environ.get(DATABASE_URL_ENV)
    if override:
        return override
    return f"sqlite:///{yanex_home() / 'yanex.db'}"


def experiments_root() -> Path:
    return yanex_home() / "experiments"


def experiment_dir(experiment_id: str) -> Path:
    """Captured output, metrics journal and files of one experiment."""
    return experiments_root() / experiment_id


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
