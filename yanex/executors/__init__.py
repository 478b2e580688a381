"""Executors that run a batch's experiments on other machines (``executor=`` of ``run_multiple``).

``"local"`` is the local pool (``yanex.runner.local_pool``); ``"dask://HOST:PORT"`` or a
``distributed.Client`` is ``yanex.executors.dask``. The engines are optional extras, imported
only when one is asked for.
"""

from __future__ import annotations

from typing import Protocol

from yanex.db.engine import Database
from yanex.runner.executor import Executor
from yanex.store.experiments import Owner

LOCAL = "local"
_DASK = "dask://"


class RemoteExecutor(Executor, Protocol):
    @property
    def workers(self) -> int:
        """How many workers the engine has now (for the progress line)."""
        ...


def _is_dask_client(target: object) -> bool:
    kind = type(target)
    return kind.__module__.startswith("distributed") and kind.__name__ == "Client"


def check_executor(target: object) -> None:
    """Refuse an unknown ``executor=`` before anything runs."""
    if target == LOCAL or _is_dask_client(target):
        return
    if isinstance(target, str) and target.startswith(_DASK) and target.removeprefix(_DASK):
        return
    raise ValueError(f"executor must be 'local', 'dask://HOST:PORT' or a distributed.Client, got {target!r}")


def open_executor(target: object, db: Database, owner: Owner) -> RemoteExecutor | None:
    """The executor ``target`` names, connected; None for the local one."""
    if target == LOCAL:
        return None
    from yanex.executors.dask import open_dask

    return open_dask(target, db, owner)


__all__ = ["LOCAL", "RemoteExecutor", "check_executor", "open_executor"]
