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
OUTCOME_FILE = "outcome.json"  # the outcome as the supervisor saw it, written before recording it
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


HEARTBEAT_INTERVAL_ENV = "YANEX_HEARTBEAT_INTERVAL"
STALE_AFTER_ENV = "YANEX_STALE_AFTER"


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value > 0 else default


def heartbeat_interval() -> float:
    """Seconds between an owner's signs of life in the database (default 5)."""
    return _seconds(HEARTBEAT_INTERVAL_ENV, 5.0)


def stale_after() -> float:
    """Seconds of silence after which an owner on another host counts as dead (default 120); an
    owner on this host is checked by its process instead (see ``yanex.store.reconcile``)."""
    return _seconds(STALE_AFTER_ENV, 120.0)
