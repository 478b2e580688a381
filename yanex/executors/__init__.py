"""Executors that run a batch's experiments on other machines (``executor=`` of ``run_multiple``).

``"local"`` is the local pool (``yanex.runner.local_pool``); ``"dask://HOST:PORT"`` or a
``distributed.Client`` is ``yanex.executors.dask``; ``slurm(...)`` (or ``"slurm:NAME=VALUE,..."``)
is ``yanex.executors.slurm_executor``. The engines are optional extras, imported only when one is
asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from yanex.db.engine import Database
from yanex.store.experiments import Owner
from yanex.supervisor.executor import Executor

if TYPE_CHECKING:
    from yanex.executors.slurm_options import SlurmOptions, slurm

LOCAL = "local"
_DASK = "dask://"
FORMS = "'local', 'dask://HOST:PORT', 'slurm' or 'slurm:NAME=VALUE,...'"


class RemoteExecutor(Executor, Protocol):
    @property
    def where(self) -> str:
        """Where the experiments run, for the progress line (``on 4 Dask worker threads``)."""
        ...

    @property
    def label(self) -> str:
        """The executor as ``batches.executor`` records it: ``dask://HOST:PORT``, ``slurm:...``."""
        ...


def _is_dask_client(target: object) -> bool:
    kind = type(target)
    return kind.__module__.startswith("distributed") and kind.__name__ == "Client"


def _slurm_options(target: object) -> SlurmOptions | None:
    """The Slurm options ``target`` gives, if it names Slurm. The options module (a pydantic
    model) loads only then: a local batch's start-up does without it."""
    if isinstance(target, str) and target.split(":", 1)[0] == "slurm":
        from yanex.executors.slurm_options import parse_slurm

        return parse_slurm(target)
    if type(target).__module__ == "yanex.executors.slurm_options":
        from yanex.executors.slurm_options import SlurmOptions

        return target if isinstance(target, SlurmOptions) else None
    return None


def __getattr__(name: str) -> Any:
    """``slurm`` and ``SlurmOptions``, loaded on first use (see ``_slurm_options``)."""
    if name in ("slurm", "SlurmOptions"):
        from yanex.executors import slurm_options

        return getattr(slurm_options, name)
    raise AttributeError(f"module 'yanex.executors' has no attribute {name!r}")


def _dask_address_problem(address: str) -> str | None:
    """What is wrong with the ``HOST:PORT`` of a ``dask://`` executor, or None. Checked here:
    given to ``distributed.Client``, a bad one raised only after the client's event loop had
    started, whose clean-up then hung for 20 s and printed a traceback."""
    host, colon, port = address.rpartition(":")
    if not colon or not port:
        return "has no port"
    if not host:
        return "has no host"
    if not port.isdigit() or not 0 < int(port) < 65536:
        return f"has a port that is not a number from 1 to 65535 ({port!r})"
    return None


def check_executor(target: object) -> None:
    """Refuse an unknown ``executor=`` (ValueError, one line) before anything runs."""
    if target == LOCAL or _is_dask_client(target) or _slurm_options(target) is not None:
        return
    if isinstance(target, str) and target.startswith(_DASK) and target.removeprefix(_DASK):
        problem = _dask_address_problem(target.removeprefix(_DASK))
        if problem is None:
            return
        raise ValueError(f"executor {target!r} {problem}: a Dask scheduler's address is dask://HOST:PORT")
    raise ValueError(
        f"executor must be {FORMS}, yanex.executors.slurm(...) or a distributed.Client, got {target!r}"
    )


def open_executor(target: object, db: Database, owner: Owner) -> RemoteExecutor | None:
    """The executor ``target`` names, connected; None for the local one."""
    if target == LOCAL:
        return None
    options = _slurm_options(target)
    if options is not None:
        from yanex.executors.slurm_executor import SlurmExecutor

        return SlurmExecutor(options, db, owner)
    from yanex.executors.dask import open_dask

    return open_dask(target, db, owner)


__all__ = ["FORMS", "LOCAL", "RemoteExecutor", "SlurmOptions", "check_executor", "open_executor", "slurm"]
