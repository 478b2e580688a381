"""Pydantic models at the edges: what users hand to yanex and what yanex hands back.

Rows never leave the store: it reads them as records (``yanex.store.tables``), which the Python API
hands back as these frozen views. The git and environment parts are the records' own (frozen
dataclasses), re-exported here with the other types users meet.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationInfo, field_validator

from yanex.config import PARAMS_SIZE_LIMIT_ENV, params_size_limit
from yanex.display import format_size
from yanex.errors import ConfigError

# Re-exported: they live in standard-library modules so that the read path needs no pydantic.
from yanex.status import ACTIVE_STATUSES as ACTIVE_STATUSES
from yanex.status import FINAL_STATUSES as FINAL_STATUSES
from yanex.status import FinalStatus as FinalStatus
from yanex.status import Status as Status
from yanex.store.tables import EnvironmentInfo as EnvironmentInfo
from yanex.store.tables import GitInfo as GitInfo
from yanex.store.tables import OmittedChange as OmittedChange
from yanex.store.tables import Submodule as Submodule
from yanex.terminal import text_problem as text_problem

# Deeper than any real config, and far below Python's recursion limit and SQLite's JSON depth
# limit (1000), which a deeper config would hit later as a crash instead of a message.
MAX_CONFIG_DEPTH = 100


def _short(path: str) -> str:
    return path if len(path) <= 60 else f"...{path[-57:]}"


def _check_json(value: Any, path: str = "", depth: int = 0, parents: frozenset[int] = frozenset()) -> Any:
    """Return ``value`` as plain JSON data, or raise naming the first key that is not JSON."""
    if isinstance(value, dict | list | tuple):
        if id(value) in parents:
            raise ValueError(
                f"config key {_short(path)!r} contains itself; config must be a tree, not a cycle"
            )
        if depth >= MAX_CONFIG_DEPTH:
            raise ValueError(
                f"config is nested more than {MAX_CONFIG_DEPTH} levels deep (at {_short(path)!r})"
            )
        parents = parents | {id(value)}
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(
                    f"config key {key!r} at {path or 'top level'} is not a string; use string keys"
                )
            dotted = f"{path}.{key}" if path else key
            problem = text_problem(key)
            if problem:
                raise ValueError(f"config key {_short(dotted)!r} {problem}")
            out[key] = _check_json(item, dotted, depth + 1, parents)
        return out
    if isinstance(value, list | tuple):
        return [_check_json(item, f"{path}[{i}]", depth + 1, parents) for i, item in enumerate(value)]
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise ValueError(f"config key {_short(path)!r} has a value that {problem}")
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"config key '{path}' is {value}, which JSON cannot store")
        return value
    raise ValueError(
        f"config key '{path}' has a value of type {type(value).__name__}, which is not "
        "JSON-serialisable; use numbers, strings, booleans, lists or dicts"
    )


def flat_params(config: Mapping[str, JsonValue], prefix: str = "") -> list[tuple[str, JsonValue]]:
    """One ``(dotted key, value)`` per parameter: nested keys joined with dots, lists and empty
    mappings kept whole. Raises ``ValueError`` when two parameters get the same dotted key, as
    ``{"a.b": 1, "a": {"b": 2}}`` does: the params table and ``--where`` could not tell them apart."""
    leaves = list(_leaves(config))
    seen: set[str] = set()
    for dotted, _ in leaves:
        if dotted in seen:
            raise ValueError(
                f"config gives parameter {_short(dotted)!r} twice, as a dotted key and as nested "
                "keys; write it one way"
            )
        seen.add(dotted)
    return leaves


def _leaves(config: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{dotted}.")
        else:
            yield dotted, value


_SIZE_HINT = (
    "save large data in a file and pass its path as the parameter, or log it with yanex.log_artifact; "
    "{env}={suggested}M would raise the limit"
)


def size_limit_error(statement: str, size: int, detail: str = "") -> ConfigError:
    """``statement`` (``parameter 'x' is 2.0 MiB as JSON``) made an error naming the limit, the
    alternative, and the setting that would let ``size`` bytes through."""
    limit = params_size_limit()
    return ConfigError(
        f"{statement}, over the {format_size(limit)} limit on an experiment's parameters{detail}",
        hint=_SIZE_HINT.format(env=PARAMS_SIZE_LIMIT_ENV, suggested=-(-size // 2**20)),
    )


def check_config_size(value: Mapping[str, Any]) -> None:
    """Refuse parameters whose JSON, as stored, is over ``yanex.params_size_limit()``.

    Each experiment holds its parameters about five times (its row, the params table, config.json,
    config.marshal, the write-ahead log): a 10 MB parameter grew the database by 50 MB. Measured
    with one ``json.dumps``, 0.2 s for a 2,000,000-element list that validating value by value
    takes seconds over; data that is not JSON is left to the walk that names its key. Raises
    ``ConfigError`` naming the largest parameters.
    """
    try:
        size = len(json.dumps(value))
    except (TypeError, ValueError, RecursionError):
        return
    if size <= params_size_limit():
        return
    sizes = sorted(((len(json.dumps(leaf)), key) for key, leaf in _leaves(value)), reverse=True)
    largest, key = sizes[0]
    if largest > params_size_limit():
        raise size_limit_error(f"parameter {_short(key)!r} is {format_size(largest)} as JSON", largest)
    named = ", ".join(f"{_short(key)} {format_size(each)}" for each, key in sizes[:3])
    raise size_limit_error(
        f"the parameters are {format_size(size)} as JSON in all", size, f" (the largest: {named})"
    )


_DURATION = re.compile(r"(?:(\d+(?:\.\d*)?)h)?(?:(\d+(?:\.\d*)?)m)?(?:(\d+(?:\.\d*)?)s)?")
_DURATION_FORMS = "a number of seconds or a duration like 90, 90s, 5m, 2h or 1h30m"


class TimeLimit(NamedTuple):
    """How long a script may run; ``text`` is the limit as given, for ``timed out after 2h``."""

    seconds: float
    text: str


def parse_time_limit(value: float | str) -> TimeLimit:
    """Seconds (a number, or a string like ``90``, ``90s``, ``5m``, ``2h``, ``1h30m``) into a limit.

    Raises ValueError for anything else, zero, or a negative or infinite limit.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"timeout must be {_DURATION_FORMS}, got {type(value).__name__}")
    if isinstance(value, str):
        text = value.strip()
        match = _DURATION.fullmatch(text.lower())
        if re.fullmatch(r"\d+(?:\.\d*)?", text):
            total, text = float(text), f"{text}s"
        elif text and match is not None:
            hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
            total = hours * 3600 + minutes * 60 + seconds
        else:
            raise ValueError(f"timeout must be {_DURATION_FORMS}, got {value!r}")
    else:
        total, text = float(value), f"{value:g}s"
    if not math.isfinite(total) or total <= 0:
        raise ValueError(f"timeout must be a positive, finite duration, got {value!r}")
    return TimeLimit(total, text)


# The script_path of an experiment ``yanex.start`` tracked in a REPL, ``python -c`` or a notebook
# that cannot be found: stored as it is, never resolved against the working directory.
INTERACTIVE = Path("<interactive>")


class ExperimentSpec(BaseModel):
    """One experiment to run: a script, its parameters and its arguments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    script_path: Path
    config: dict[str, JsonValue] = Field(default_factory=dict)
    script_args: list[str] = Field(default_factory=list)
    name: str | None = None
    tags: list[str] = Field(default_factory=list)
    description: str | None = None
    timeout: float | str | None = None
    depends_on: list[str] = Field(default_factory=list)
    # Metric directions for best values, e.g. {"loss": "min"} (issue 11; see metric_goals).
    goals: dict[str, Literal["min", "max"]] = Field(default_factory=dict)

    def __init__(
        self,
        script_path: Path | str,
        config: Mapping[str, Any] | None = None,
        script_args: Sequence[str] = (),
        name: str | None = None,
        tags: Sequence[str] = (),
        description: str | None = None,
        timeout: float | str | None = None,
        depends_on: Sequence[str] = (),
        goals: Mapping[str, str] | None = None,
    ) -> None:
        """Arguments by keyword, or by position in the order the fields are documented.

        ``timeout`` (seconds, or a string like ``90s``, ``5m``, ``2h``, ``1h30m``): past it the
        script gets SIGTERM, then SIGKILL after a grace, and is recorded failed.
        ``depends_on``: experiments this one runs on, each the name of another spec of the same
        ``run_multiple`` call (it starts once that one completes) or a completed experiment's id,
        id prefix or name; the script finds their ids with ``yanex.dependency()``. ``goals``: the
        direction of metrics, ``{"loss": "min", "bleu": "max"}``, which ``metrics.KEY.best``
        follows (as ``yanex run --goal``; the script may also call ``yanex.set_goal``).
        """
        super().__init__(
            script_path=script_path,
            config=config,
            script_args=script_args,
            name=name,
            tags=tags,
            description=description,
            timeout=timeout,
            depends_on=depends_on,
            goals=goals or {},
        )

    @property
    def time_limit(self) -> TimeLimit | None:
        return None if self.timeout is None else parse_time_limit(self.timeout)

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout_is_a_duration(cls, value: Any) -> Any:
        if value is not None:
            parse_time_limit(value)
        return value

    @field_validator("script_path", mode="before")
    @classmethod
    def _path_is_given(cls, value: Any) -> Any:
        # Path("") is the current directory: an empty value is a mistake, not a folder.
        if isinstance(value, str) and not value.strip():
            raise ValueError("script_path is empty; give the path of a Python script")
        return value

    @field_validator("script_path")
    @classmethod
    def _path_is_storable(cls, path: Path) -> Path:
        # Stored as its absolute form, so a working directory that is not UTF-8 counts too.
        try:
            full = str(path.absolute())
        except OSError:  # the working directory is gone: launching reports that
            full = str(path)
        problem = text_problem(full)
        if problem:
            raise ValueError(f"script_path {full!r} {problem}; rename the file or folder")
        return path

    @field_validator("name")
    @classmethod
    def _name_is_text(cls, name: str | None) -> str | None:
        if name is not None and not name.strip():
            raise ValueError("name must be a non-empty string, or None for no name")
        return name

    @field_validator("name", "description", "tags", "script_args", "depends_on")
    @classmethod
    def _text_is_storable(cls, value: str | list[str] | None, info: ValidationInfo) -> str | list[str] | None:
        for index, text in enumerate([value] if isinstance(value, str) else value or []):
            problem = text_problem(text)
            if problem:
                where = info.field_name if isinstance(value, str) else f"{info.field_name}[{index}]"
                raise ValueError(f"{where} {problem}")
        return value

    @field_validator("config", mode="before")
    @classmethod
    def _config_is_json(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"config must be a dict, got {type(value).__name__}")
        check_config_size(value)  # first: the walk below takes seconds over millions of values
        checked = _check_json(value)
        flat_params(checked)
        return checked

    @field_validator("tags")
    @classmethod
    def _tags_are_words(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not tag.strip():
                raise ValueError("tags must be non-empty strings")
        return tags

    @field_validator("script_args", mode="before")
    @classmethod
    def _args_are_strings(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError("script_args must be a list of strings, not one string")
        return value

    @field_validator("depends_on", mode="before")
    @classmethod
    def _dependencies_are_a_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(f"depends_on must be a list of names or ids, not one string: [{value!r}]")
        return value

    @field_validator("depends_on")
    @classmethod
    def _dependencies_are_named(cls, references: list[str]) -> list[str]:
        if any(not reference.strip() for reference in references):
            raise ValueError("depends_on must hold non-empty names or ids")
        return list(dict.fromkeys(reference.strip() for reference in references))


class ExperimentResult(BaseModel):
    """The outcome of one experiment of a batch, in the order the specs were given.

    ``experiment_id`` is the full id (32 hex digits, the same in every store the experiment is
    exported to); yanex shows it by its first 8 digits, which every command takes as well.
    """

    model_config = ConfigDict(frozen=True)

    experiment_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    status: FinalStatus
    error_message: str | None = None
    duration: float | None = Field(default=None, ge=0)
    name: str | None = None


class ExperimentView(BaseModel):
    """Everything the experiments table knows about one experiment, plus its tags.

    The fields of ``yanex.store.tables.ExperimentRecord``, which it is made from: a field the record
    has and the view lacks is refused, never dropped (``tests/test_tables.py`` holds them equal).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str | None
    description: str | None
    status: Status
    script_path: str
    working_dir: str | None
    script_args: list[str]
    config: dict[str, JsonValue]
    tags: list[str]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    duration: float | None
    exit_code: int | None
    error_message: str | None
    batch_id: str | None
    retry_of: str | None
    archived: bool
    pid: int | None
    imported_at: datetime | None  # when `yanex import` brought it from another store
    total_steps: int | None  # the steps the script said it will log (yanex.set_total)
    imported_from: str | None  # another tracker's run it came from, "mlflow:<run id>"
    git: GitInfo
    environment: EnvironmentInfo
