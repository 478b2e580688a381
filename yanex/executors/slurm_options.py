"""``yanex.executors.slurm(...)``: how a batch's experiments go to Slurm, checked before anything runs.

The same options come from the shell as ``--executor slurm:partition=gpu,time=2h`` (commas between
``NAME=VALUE`` pairs); both go through one pydantic model, so a typo or a bad value is one line
naming the option, in Python and on the command line alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from yanex.specs import TimeLimit, parse_time_limit

SCHEME = "slurm"


class SlurmOptions(BaseModel):
    """The executor ``yanex.executors.slurm(...)`` describes; ``run_multiple`` opens it.

    ``time``: each experiment's time limit when its spec sets none (yanex stops the script then,
    recorded ``timed out``); the Slurm job asks for that plus a few minutes for start-up.
    ``max_parallel``: at most this many of the batch's jobs run at once, across its arrays.
    ``sbatch``: any other ``#SBATCH`` option, by its long name (``{"mail-type": "END"}``).
    ``setup``: shell lines each job runs first (``module load cuda``, activating a venv).
    ``folder``: where jobs, code and spool go; it must be on a filesystem the compute nodes share
    (default: ``$YANEX_SLURM_FOLDER``, else ``slurm/`` in ``YANEX_HOME``).
    ``python``: the command that runs Python on the nodes (default: this interpreter's path).
    ``cluster="local"``: submitit's local executor, the same job files on this machine (for
    trying a setup without a cluster).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    partition: str | None = Field(default=None, min_length=1)
    time: str = "1h"
    gpus_per_node: int | None = Field(default=None, ge=0)
    cpus_per_task: int | None = Field(default=None, ge=1)
    mem_gb: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    account: str | None = Field(default=None, min_length=1)
    qos: str | None = Field(default=None, min_length=1)
    constraint: str | None = Field(default=None, min_length=1)
    max_parallel: int | None = Field(default=None, ge=1)
    sbatch: dict[str, str] = Field(default_factory=dict)
    setup: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    folder: Path | None = None
    python: str | None = Field(default=None, min_length=1)
    cluster: Literal["slurm", "local"] = "slurm"

    @field_validator("time", mode="before")
    @classmethod
    def _a_duration(cls, value: object) -> str:
        """Seconds or ``90s``, ``5m``, ``2h``, ``1h30m``, as a spec's ``timeout``; kept as messages
        show it (``7200`` becomes ``7200s``)."""
        if not isinstance(value, int | float | str):
            raise ValueError(f"time must be seconds or a duration like 5m or 2h, got {type(value).__name__}")
        return parse_time_limit(value).text

    @property
    def time_limit(self) -> TimeLimit:
        return parse_time_limit(self.time)

    def describe(self) -> str:
        """A short label: ``slurm:partition=gpu,time=2h``."""
        given = self.model_dump(exclude_defaults=True, include=set(_SCALAR))
        return SCHEME + "".join(
            f"{',' if at else ':'}{key}={value}" for at, (key, value) in enumerate(given.items())
        )


_SCALAR = [name for name in SlurmOptions.model_fields if name not in ("sbatch", "setup", "env")]


def _one_line(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown option {where!r} (options: {', '.join(SlurmOptions.model_fields)})")
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
    return "; ".join(problems)


def slurm(**options: object) -> SlurmOptions:
    """Run a batch as Slurm jobs: ``run_multiple(specs, executor=yanex.executors.slurm(
    partition="gpu", time="2h", gpus_per_node=1))``. See ``SlurmOptions`` for the options.

    Raises ValueError naming the option for an unknown option or a bad value."""
    try:
        return SlurmOptions.model_validate(options)
    except ValidationError as error:
        raise ValueError(f"yanex.executors.slurm: {_one_line(error)}") from None


def parse_slurm(text: str) -> SlurmOptions:
    """``slurm`` or ``slurm:NAME=VALUE,...`` (the ``--executor`` form) into options."""
    rest = text.removeprefix(SCHEME)
    if rest and not rest.startswith(":"):
        raise ValueError(f"executor {text!r}: write slurm or slurm:NAME=VALUE,NAME=VALUE")
    options: dict[str, object] = {}
    for pair in filter(None, rest.removeprefix(":").split(",")):
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise ValueError(f"executor {text!r}: {pair!r} is not NAME=VALUE")
        options[name.strip().replace("-", "_")] = value.strip()
    try:
        return SlurmOptions.model_validate(options)
    except ValidationError as error:
        raise ValueError(f"executor {text!r}: {_one_line(error)}") from None


__all__ = ["SCHEME", "SlurmOptions", "parse_slurm", "slurm"]
