"""``yanex import --from yanex-files``: the store of the file-based yanex (the unrelated ``yanex``
0.x on the package index, tested with 0.6.1), one folder per experiment:

    experiments/<8 hex>/metadata.json    name, tags, description, status, times, script, error
                        params.yaml      the parameters, nested
                        metrics.json     a list of steps: {"step", "timestamp", <metric>: value...}
                                         (results.json in older versions)
                        dependencies.json {"dependencies": {slot: id}}
                        artifacts/       the saved files; stdout.txt and stderr.txt its captured output
    experiments/archived/<8 hex>/        archived experiments, the same way

Each experiment becomes a ``ForeignRun`` whose id starts with its 8 digits. Its times are naive
UTC there, as here. A step logged twice keeps its first timestamp there (its later values merged
in), so every value of a step has that time. Its own files (``metadata.json`` with its git and
environment capture, ``params.yaml``, ``dependencies.json``, ``script_runs.json``) are kept in the
experiment's folder under ``yanex-files/``, as they were; nothing else of theirs is interpreted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from yanex import file_yanex
from yanex.errors import UsageError
from yanex.status import Status
from yanex.store.bundle import DATABASE, FolderHome
from yanex.store.bundle import EXPERIMENTS as EXPERIMENTS_FOLDER
from yanex.store.foreign import ForeignFile, ForeignPoint, ForeignRun, write_home
from yanex.store.metric_values import JsonValue
from yanex.store.sources import Source

KIND = "yanex-files"
KEPT = ("metadata.json", "params.yaml", "dependencies.json", "script_runs.json")  # as they were
OUTPUT = {"stdout.txt": "stdout.log", "stderr.txt": "stderr.log"}  # its captured output, our names
NOT_METRICS = frozenset({"step", "timestamp", "last_updated"})
STATUSES = {
    "completed": Status.COMPLETED,
    "failed": Status.FAILED,
    "cancelled": Status.CANCELLED,
    "running": Status.RUNNING,
    "created": Status.CREATED,
    "staged": Status.CREATED,  # made to run later, never started
}


def _experiments(path: Path) -> Path | None:
    """The ``experiments`` folder ``path`` names: itself, or that of a home without a yanex database."""
    if not path.is_dir():
        return None
    if file_yanex.holds(path):
        return path
    if not (path / DATABASE).exists() and file_yanex.holds(path / EXPERIMENTS_FOLDER):
        return path / EXPERIMENTS_FOLDER
    return None


def detect(path: Path) -> bool:
    return _experiments(path) is not None


def open_source(path: Path, scratch: Path) -> Source:
    experiments = _experiments(path) or (path / EXPERIMENTS_FOLDER if path.is_dir() else None)
    if experiments is None or not file_yanex.holds(experiments):
        raise UsageError(
            f"{path} holds no experiments of the file-based yanex (experiments/<8 hex digits>/metadata.json)",
            hint="pass its home folder (~/.yanex) or its experiments folder (YANEX_EXPERIMENTS_DIR)",
        )
    file_yanex.being_imported(experiments)
    runs = (_run(folder, archived) for folder, archived in file_yanex.experiment_folders(experiments))
    home = scratch / "home"
    return Source(path, "file-based yanex store", write_home(runs, home), FolderHome(home), still=True)


def _run(folder: Path, archived: bool) -> ForeignRun:
    metadata = _json(folder / file_yanex.METADATA)
    if not isinstance(metadata, dict) or metadata.get("status") not in STATUSES:
        _damaged(folder / file_yanex.METADATA, "not an experiment's metadata with a known status")
    status = STATUSES[metadata["status"]]
    created = _time(metadata.get("created_at"), folder / file_yanex.METADATA) or datetime.fromtimestamp(
        folder.stat().st_mtime, UTC
    )
    error = metadata.get("error_message")
    if status is Status.CANCELLED and not error:
        error = metadata.get("cancellation_reason")
    tags = metadata.get("tags") or []
    return ForeignRun(
        kind=KIND,
        source_id=folder.name,
        id_prefix=folder.name,
        created_at=created,
        status=status,
        name=_text(metadata.get("name")),
        description=_text(metadata.get("description")),
        tags=tuple(str(tag) for tag in tags) if isinstance(tags, list) else (),
        config=_config(folder),
        started_at=_time(metadata.get("started_at"), folder / file_yanex.METADATA),
        ended_at=_time(metadata.get("completed_at"), folder / file_yanex.METADATA),
        error_message=_error_line(error) if isinstance(error, str) and error else None,
        script_path=str(metadata.get("script_path") or ""),
        points=_points(folder, created),
        files=_files(folder),
        archived=archived,
        depends_on=_dependencies(folder),
    )


def _points(folder: Path, created: datetime) -> Iterator[ForeignPoint]:
    """Every value of every step, in the order of the file (its steps are sorted there)."""
    path = folder / "metrics.json"
    if not path.is_file():
        path = folder / "results.json"  # its name before 0.4
        if not path.is_file():
            return
    steps = _json(path)
    if not isinstance(steps, list):
        _damaged(path, "not a list of steps")
    for index, entry in enumerate(steps):
        if not isinstance(entry, dict):
            _damaged(path, f"step {index} is not an object")
        step = entry.get("step", index)
        moment = _time(entry.get("timestamp"), path) or created
        for key, value in entry.items():
            if key not in NOT_METRICS:
                yield ForeignPoint(key, int(step), value, moment)


def _files(folder: Path) -> tuple[ForeignFile, ...]:
    files = [
        ForeignFile(f"{KIND}/{name}", folder / name, artifact=False)
        for name in KEPT
        if (folder / name).is_file()
    ]
    artifacts = folder / "artifacts"
    for path in sorted(artifacts.rglob("*")) if artifacts.is_dir() else ():
        if not path.is_file():
            continue
        name = path.relative_to(artifacts).as_posix()
        if name in OUTPUT:
            files.append(ForeignFile(OUTPUT[name], path, artifact=False))
        else:
            files.append(ForeignFile(name, path))
    return tuple(files)


def _dependencies(folder: Path) -> tuple[str, ...]:
    path = folder / "dependencies.json"
    if not path.is_file():
        return ()
    data = _json(path)
    slots = data.get("dependencies") if isinstance(data, dict) else None
    return tuple(sorted({str(v) for v in slots.values()})) if isinstance(slots, dict) else ()


def _config(folder: Path) -> dict[str, JsonValue]:
    import yaml

    path = folder / "params.yaml"
    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        _damaged(path, str(error).splitlines()[0])
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        _damaged(path, "not a mapping of parameters")
    # YAML has dates and non-string keys, JSON has not: as the text they would print as
    config: dict[str, JsonValue] = json.loads(json.dumps(loaded, default=str))
    return config


def _error_line(message: str) -> str:
    """The exception line of a traceback it kept whole (``Script exited with code 1: Traceback
    ...``), as yanex records a failure; the whole text stays in ``yanex-files/metadata.json``."""
    lines = [line for line in message.splitlines() if line.strip()]
    if len(lines) > 1 and any("Traceback (most recent call last)" in line for line in lines):
        return lines[-1].strip()
    return message


def _time(raw: object, path: Path) -> datetime | None:
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        _damaged(path, f"{raw!r} is not a time")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # naive there means UTC


def _text(raw: object) -> str | None:
    return str(raw) if raw not in (None, "") else None


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        _damaged(path, str(error))


def _damaged(path: Path, why: str) -> NoReturn:
    raise UsageError(
        f"cannot read {path} ({why}); nothing was imported",
        hint="fix or move that experiment's folder aside, then import again",
    )
