"""yanex: experiment tracking on SQLite.

Importing this package loads only the standard library: experiment scripts import it on every run.
Everything heavier (pydantic, SQLAlchemy, the runner) is loaded on first attribute access.
"""

from __future__ import annotations

import importlib

from yanex.run_api import get_experiment_id, get_param, get_params, is_standalone, log_metrics, set_goal

__version__ = "0.1.0"

_LAZY = {
    "ExperimentSpec": "yanex.specs",
    "ExperimentResult": "yanex.specs",
    "ExperimentView": "yanex.specs",
    "Status": "yanex.specs",
    "YanexError": "yanex.errors",
    "find": "yanex.api",
    "compare_frame": "yanex.api",
    "run_multiple": "yanex.runner.batch",
    "rerun": "yanex.runner.batch",
}

# Not `from typing import TYPE_CHECKING`: importing typing alone costs ~2 ms of every script's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from yanex.api import compare_frame, find
    from yanex.errors import YanexError
    from yanex.runner.batch import rerun, run_multiple
    from yanex.specs import ExperimentResult, ExperimentSpec, ExperimentView, Status


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'yanex' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "ExperimentResult",
    "ExperimentSpec",
    "ExperimentView",
    "Status",
    "YanexError",
    "__version__",
    "compare_frame",
    "find",
    "get_experiment_id",
    "get_param",
    "get_params",
    "is_standalone",
    "log_metrics",
    "rerun",
    "run_multiple",
    "set_goal",
]
