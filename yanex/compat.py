"""The script-side names of the file-based yanex (the unrelated ``yanex`` 0.x on the package index)
that ours lacks, with the same meaning, so that scripts written for it run unchanged
(docs/scripts.md, "Scripts written for the file-based yanex").

Standard library only when imported; what reads the store loads on call. Standalone (plain
``python script.py``) each behaves as the file-based yanex's does: no context, None or empty
answers, ``completed``/``fail``/``cancel`` refused.
"""

from __future__ import annotations

import os
import sys

from yanex import config as _config
from yanex import run_api
from yanex.run_api import log_metrics

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

log_results = log_metrics  # the file-based yanex's older name of log_metrics


def has_context() -> bool:
    """True inside a tracked experiment (``yanex run``, a batch, ``yanex.start``)."""
    return run_api._run.experiment_id is not None


def get_experiment_dir() -> Path | None:
    """The experiment's folder (``~/.yanex/experiments/<id>``); None standalone."""
    from pathlib import Path

    directory = run_api._run.directory
    return None if directory is None else Path(directory)


def get_artifacts_dir() -> Path | None:
    """A folder to write artifact files into directly: every file written there is stored as an
    artifact (under its path in the folder) when the script or ``yanex.start`` run ends normally.
    None standalone, as in the file-based yanex (``save_artifact`` and ``copy_artifact`` work in
    both modes)."""
    directory = get_experiment_dir()
    if directory is None:
        return None
    folder = directory / _config.ARTIFACTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    current = run_api._run
    if not current.collect_folder:
        current.collect_folder = True
        if current.session is None:  # a script: stored as it exits (a session stores them as it ends)
            import atexit

            atexit.register(_collect_at_exit, os.getpid())
    return folder


def _collect_at_exit(pid: int) -> None:
    current = run_api._run
    if os.getpid() == pid and current.collect_folder and current.experiment_id is not None:
        from yanex.artifacts.script import collect_folder

        collect_folder(current)


def copy_artifact(src_path: str | os.PathLike[str], filename: str | None = None) -> None:
    """Store an existing file as the artifact ``filename`` (default: its name): ``log_artifact``."""
    run_api.log_artifact(src_path, filename)


def artifact_exists(filename: str) -> bool:
    """Whether this experiment has the artifact ``filename`` (standalone: in ``./artifacts``)."""
    return filename in run_api.list_artifacts()


def _record() -> Any:
    """This experiment as ``yanex.find`` returns it."""
    from yanex.api import find

    [record] = find([run_api._run.experiment_id or ""], archived="include")
    return record


def get_metadata() -> dict[str, Any]:
    """Everything stored about this experiment, as ``yanex show --format json`` gives it; empty
    standalone."""
    if run_api._run.experiment_id is None:
        return {}
    metadata: dict[str, Any] = _record().model_dump(mode="json")
    return metadata


def get_status() -> str | None:
    """This experiment's status (``running`` while it runs); None standalone."""
    if run_api._run.experiment_id is None:
        return None
    return str(_record().status.value)


def get_cli_args() -> dict[str, Any]:
    """What the experiment was run as, under the file-based yanex's option names: ``script``,
    ``script_args``, ``name``, ``tag``, ``description``; empty standalone."""
    if run_api._run.experiment_id is None:
        return {}
    record = _record()
    return {
        "script": record.script_path,
        "script_args": list(record.script_args),
        "name": record.name,
        "tag": list(record.tags),
        "description": record.description,
    }


class Dependency:
    """An experiment this one depends on, as the file-based yanex's ``get_dependency`` returns it:
    its ``id`` and ``name``, its artifacts and parameters."""

    def __init__(self, experiment_id: str, name: str | None) -> None:
        self.id, self.name = experiment_id, name

    def load_artifact(self, filename: str, *, allow_pickle: bool = False) -> Any:
        """The artifact's content, or None when it has none of that name (as theirs)."""
        if filename not in self.list_artifacts():
            return None
        return run_api.load_artifact(filename, self.id, allow_pickle=allow_pickle)

    def artifact_exists(self, filename: str) -> bool:
        return filename in self.list_artifacts()

    def list_artifacts(self) -> list[str]:
        return run_api.list_artifacts(self.id)

    def get_params(self) -> dict[str, Any]:
        from yanex.api import find

        [record] = find([self.id], archived="include")
        params: dict[str, Any] = record.config
        return params

    def get_param(self, key: str, default: Any = None) -> Any:
        node: Any = self.get_params()
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def __repr__(self) -> str:
        return f"Dependency({self.id!r}, {self.name!r})"


def get_dependencies() -> dict[str, Dependency]:
    """The experiments this one depends on by name (``yanex.dependencies()``, as objects); empty
    standalone."""
    return {
        slot: Dependency(parent, slot if slot != parent else None)
        for slot, parent in run_api.dependencies().items()
    }


def get_dependency(slot: str) -> Dependency | None:
    """The dependency called ``slot`` (a name, or an id), None when there is none (and standalone)."""
    return get_dependencies().get(slot)


def _end(function: str, status: str, message: str | None, exit_code: int) -> None:
    """Record how the experiment ended and leave it: a ``yanex.start`` run ends now (and its
    ``with`` block with it, if in one); a script under ``yanex run`` declares its outcome for its
    supervisor (``config.DECLARED_FILE``) and exits."""
    current = run_api._run
    if current.experiment_id is None:
        from yanex.errors import UsageError

        raise UsageError(
            f"yanex.{function}() needs a tracked experiment, and this script runs standalone",
            hint="run it with `yanex run SCRIPT`, or inside `with yanex.start():`",
        )
    session = current.session
    if session is not None:
        from yanex.runner.session import Ended

        if status == "completed":
            session.finish()
        elif status == "failed":
            session.fail(message)
        else:
            session.cancel(message)
        if session.entered:
            raise Ended(status)
        return
    import json

    assert current.directory is not None
    declared = os.path.join(current.directory, _config.DECLARED_FILE)
    with open(declared + ".tmp", "w", encoding="utf-8") as handle:
        json.dump({"status": status, "message": message}, handle)
    os.replace(declared + ".tmp", declared)
    sys.exit(exit_code)


def completed() -> None:
    """Record the experiment ``completed`` and end it (a script exits 0)."""
    _end("completed", "completed", None, 0)


def fail(message: str) -> None:
    """Record the experiment ``failed`` with ``message`` and end it (a script exits 1)."""
    _end("fail", "failed", message, 1)


def cancel(message: str) -> None:
    """Record the experiment ``cancelled`` with ``message`` and end it (a script exits 1)."""
    _end("cancel", "cancelled", message, 1)


__all__ = [
    "Dependency",
    "artifact_exists",
    "cancel",
    "completed",
    "copy_artifact",
    "fail",
    "get_artifacts_dir",
    "get_cli_args",
    "get_dependencies",
    "get_dependency",
    "get_experiment_dir",
    "get_metadata",
    "get_status",
    "has_context",
    "log_results",
]
