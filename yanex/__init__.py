"""yanex: experiment tracking on SQLite.

Importing this package loads only the standard library: experiment scripts import it on every run.
Everything heavier (pydantic, the store, the runner) is loaded on first attribute access.
"""

from __future__ import annotations

import importlib

from yanex.run_api import (
    artifact_path,
    dependencies,
    dependency,
    get_experiment_id,
    get_param,
    get_params,
    is_standalone,
    list_artifacts,
    load_artifact,
    log_artifact,
    log_metrics,
    save_artifact,
    set_goal,
    set_total,
    should_stop,
)
from yanex.version import __version__

_LAZY = {
    "ExperimentSpec": "yanex.specs",
    "ExperimentResult": "yanex.specs",
    "ExperimentView": "yanex.specs",
    "Status": "yanex.specs",
    "YanexError": "yanex.errors",
    "find": "yanex.api",
    "compare_frame": "yanex.api",
    "export": "yanex.api",
    "import_": "yanex.api",
    "run_multiple": "yanex.runner.batch",
    "rerun": "yanex.runner.rerun",
    # Sweeps
    "grid": "yanex.sweep.api",
    "sample": "yanex.sweep.api",
    "search": "yanex.sweep.api",
    "uniform": "yanex.sweep.api",
    "loguniform": "yanex.sweep.api",
    "randint": "yanex.sweep.api",
    "choice": "yanex.sweep.api",
    "Pruning": "yanex.sweep.plan",
    # Metric history (issue 11).
    "metrics": "yanex.api",
    "MetricPoint": "yanex.store.history",
    # In-process tracking (issue 23): the store and git load on first use, not on import.
    "start": "yanex.runner.session",
    "create_experiment": "yanex.runner.session",
    # The file-based yanex's script-side names (yanex.compat).
    "artifact_exists": "yanex.compat",
    "cancel": "yanex.compat",
    "completed": "yanex.compat",
    "copy_artifact": "yanex.compat",
    "fail": "yanex.compat",
    "get_artifacts_dir": "yanex.compat",
    "get_cli_args": "yanex.compat",
    "get_dependencies": "yanex.compat",
    "get_dependency": "yanex.compat",
    "get_experiment_dir": "yanex.compat",
    "get_metadata": "yanex.compat",
    "get_status": "yanex.compat",
    "has_context": "yanex.compat",
    "log_results": "yanex.compat",
}

# Not `from typing import TYPE_CHECKING`: importing typing alone costs ~2 ms of every script's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from yanex.api import compare_frame, export, find, import_, metrics
    from yanex.compat import (
        artifact_exists,
        cancel,
        completed,
        copy_artifact,
        fail,
        get_artifacts_dir,
        get_cli_args,
        get_dependencies,
        get_dependency,
        get_experiment_dir,
        get_metadata,
        get_status,
        has_context,
        log_results,
    )
    from yanex.errors import YanexError
    from yanex.runner.batch import run_multiple
    from yanex.runner.rerun import rerun
    from yanex.runner.session import create_experiment, start
    from yanex.specs import ExperimentResult, ExperimentSpec, ExperimentView, Status
    from yanex.store.history import MetricPoint  # metric history (issue 11)
    from yanex.sweep.api import choice, grid, loguniform, randint, sample, search, uniform
    from yanex.sweep.plan import Pruning


def __getattr__(name: str) -> Any:
    if name == "executors":  # yanex.executors.slurm(...) after a plain `import yanex`
        return importlib.import_module("yanex.executors")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'yanex' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public API only, not the facade's own imports (``importlib``, ``run_api``...)."""
    return sorted([*__all__, "executors"])


__all__ = [
    "ExperimentResult",
    "ExperimentSpec",
    "ExperimentView",
    "MetricPoint",
    "Pruning",
    "Status",
    "YanexError",
    "__version__",
    "artifact_exists",
    "artifact_path",
    "cancel",
    "choice",
    "compare_frame",
    "completed",
    "copy_artifact",
    "create_experiment",
    "dependencies",
    "dependency",
    "export",
    "fail",
    "find",
    "get_artifacts_dir",
    "get_cli_args",
    "get_dependencies",
    "get_dependency",
    "get_experiment_dir",
    "get_experiment_id",
    "get_metadata",
    "get_param",
    "get_params",
    "get_status",
    "grid",
    "has_context",
    "import_",
    "is_standalone",
    "list_artifacts",
    "load_artifact",
    "log_artifact",
    "log_metrics",
    "log_results",
    "loguniform",
    "metrics",
    "randint",
    "rerun",
    "run_multiple",
    "sample",
    "save_artifact",
    "search",
    "set_goal",
    "set_total",
    "should_stop",
    "start",
    "uniform",
]
