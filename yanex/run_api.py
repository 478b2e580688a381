"""What experiment scripts call. Standard library only: this is every experiment's start-up path.

A tracked script never touches the database. ``log_metrics`` appends one JSON line to the
experiment's journal with a single unbuffered ``os.write``, so a point is in the kernel before the
call returns and survives the script crashing, exiting or being SIGKILLed. The supervising process
tails the journal and writes points to the database in batches.
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from yanex import config as _config

_MISSING = object()


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


_encode = json.JSONEncoder(separators=(",", ":"), default=_to_json).encode


class _Run:
    """The current process's experiment, read once from the environment the supervisor set."""

    def __init__(self) -> None:
        self.experiment_id = os.environ.get(_config.EXPERIMENT_ID_ENV) or None
        directory = os.environ.get(_config.EXPERIMENT_DIR_ENV)
        self.directory = Path(directory) if directory and self.experiment_id else None
        self._params: dict[str, Any] | None = None
        self._journal_fd = -1
        self._journal_pid = -1
        self._next_step = 0
        self._lock = threading.Lock()

    @property
    def params(self) -> dict[str, Any]:
        if self._params is None:
            if self.directory is None:
                self._params = {}
            else:
                with open(self.directory / _config.CONFIG_FILE, encoding="utf-8") as handle:
                    self._params = json.load(handle)
        return self._params

    def journal(self) -> int:
        if self._journal_pid != os.getpid():  # a forked child opens its own descriptor
            assert self.directory is not None
            self._journal_fd = os.open(
                self.directory / _config.METRICS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
            )
            self._journal_pid = os.getpid()
        return self._journal_fd

    def log(self, data: dict[str, Any], step: int | None) -> None:
        with self._lock:
            if step is None:
                step = self._next_step
            self._next_step = step + 1
            if self.directory is None:
                return
            line = _encode({"step": step, "t": time.time(), "values": data})
            os.write(self.journal(), (line + "\n").encode())


_run = _Run()


def get_param(name: str, default: Any = None) -> Any:
    """A parameter of the current experiment; dotted names reach into nested config.

    Outside a tracked experiment (plain ``python train.py``) every call returns its default.
    """
    node: Any = _run.params
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return copy.deepcopy(node)


def get_params() -> dict[str, Any]:
    """All parameters of the current experiment as given (nested); empty when standalone."""
    return copy.deepcopy(_run.params)


def log_metrics(data: dict[str, Any], step: int | None = None) -> None:
    """Record metric values at ``step`` (one past the previous step when omitted, from 0).

    Costs a few microseconds; a no-op apart from step counting when standalone.
    """
    if not isinstance(data, dict):
        raise TypeError(f"log_metrics expects a dict of name to value, got {type(data).__name__}")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        raise TypeError(f"log_metrics step must be an int, got {type(step).__name__}")
    _run.log(data, step)


def get_experiment_id() -> str | None:
    """The 8-hex id of the running experiment, or None when standalone."""
    return _run.experiment_id


def is_standalone() -> bool:
    """True when the script runs outside any tracked experiment."""
    return _run.experiment_id is None
