"""What ``yanex.save_artifact`` and its siblings do inside an experiment script.

A tracked script never writes the database: it publishes the blob, appends one journal line
(the artifact exists from then on, for the supervisor to ingest), and links the blob into its
view ``experiments/<id>/artifacts/<name>``, where it reads its own artifacts back. An untracked
script (plain ``python train.py``) saves to ``./artifacts/<name>`` and never touches the store.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from yanex import config
from yanex.artifacts import blobs, formats, lines
from yanex.artifacts.names import check_name
from yanex.errors import NotFoundError, UsageError

_LOCKS: dict[Path, blobs.BlobLock] = {}


class Run(Protocol):
    """The current process's experiment, as ``yanex.run_api`` knows it."""

    experiment_id: str | None
    directory: str | None

    def append(self, line: bytes) -> None: ...


def _root(run: Run) -> Path:
    """Where this process's artifacts are read and written by name."""
    if run.experiment_id is None or run.directory is None:
        return Path.cwd() / config.ARTIFACTS_DIR
    return Path(run.directory) / config.ARTIFACTS_DIR


def _check_place(root: Path, name: str) -> None:
    """Refuse a name whose file would sit where a folder of artifacts is, or under a file."""
    target = root / name
    if target.is_dir():
        raise UsageError(
            f"artifact {name!r} would replace the folder of artifacts {name}/",
            hint="pick another name",
        )
    for parent in target.relative_to(root).parents:
        if parent != Path(".") and (root / parent).is_file():
            raise UsageError(
                f"artifact {name!r} would go under the artifact {parent.as_posix()!r}, which is a file",
                hint="pick another name",
            )


def _save_local(root: Path, name: str, write: Callable[[Path], object]) -> None:
    target = root / name
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.parent / f"{blobs.TEMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}"
    try:
        write(temp)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _record(run: Run, name: str, media_type: str, store: Callable[[Path], blobs.Stored]) -> None:
    assert run.experiment_id is not None and run.directory is not None
    root = config.blobs_root()
    lock = _LOCKS.setdefault(root, blobs.BlobLock(root))
    with lock.held():  # from the temp file until the journal line: see yanex.artifacts.blobs
        stored = store(root)
        run.append(lines.encode(name, stored.sha256, stored.size, media_type, time.time()))
    blobs.link_view(root, stored.sha256, _root(run) / name, Path(run.directory))


def save(run: Run, obj: Any, name: str, allow_pickle: bool) -> str:
    name = check_name(name)
    found = formats.for_saving(name, allow_pickle)
    root = _root(run)
    _check_place(root, name)

    def write(path: Path) -> None:
        found.save(obj, path, allow_pickle)

    if run.experiment_id is None:
        _save_local(root, name, write)
    else:
        _record(run, name, found.media_type, lambda blob_root: blobs.store_written(blob_root, write))
    return name


def _log_file(run: Run, source: Path, name: str) -> None:
    root = _root(run)
    _check_place(root, name)
    if run.experiment_id is None:
        _save_local(root, name, lambda path: shutil.copyfile(source, path))
    else:
        _record(run, name, formats.media_type(name), lambda blob_root: blobs.store_file(blob_root, source))


def log(run: Run, path: str | os.PathLike[str], name: str | None) -> str:
    source = Path(path)
    if not source.exists():
        raise NotFoundError(f"yanex.log_artifact: {str(source)!r} does not exist", hint="check the path")
    base = check_name(source.resolve().name if name is None else name)
    if not source.is_dir():
        _log_file(run, source, base)
        return base
    files = sorted(p for p in source.rglob("*") if p.is_file())
    if not files:
        raise UsageError(
            f"yanex.log_artifact: the folder {str(source)!r} holds no file", hint="check the path"
        )
    for file in files:
        _log_file(run, file, check_name(f"{base}/{file.relative_to(source).as_posix()}"))
    return base


def path(run: Run, name: str, experiment: str | None) -> Path:
    if experiment is not None:
        from yanex.artifacts.reading import artifact_file

        return artifact_file(experiment, check_name(name))
    found = _root(run) / check_name(name)
    if not found.exists():
        where = "this experiment" if run.experiment_id is not None else f"{_root(run)} (untracked run)"
        raise NotFoundError(
            f"no artifact {name!r} in {where}", hint="see what there is with yanex.list_artifacts()"
        )
    return found


def load(run: Run, name: str, experiment: str | None, allow_pickle: bool) -> Any:
    found = path(run, name, experiment)
    if found.is_dir():
        raise UsageError(
            f"artifact {name!r} is a folder of artifacts",
            hint="load its files by their names, or open yanex.artifact_path(name)",
        )
    return formats.load(check_name(name), found, allow_pickle)


def names(run: Run, experiment: str | None) -> list[str]:
    if experiment is not None:
        from yanex.artifacts.reading import artifacts_of

        return [record.name for record in artifacts_of(experiment)[1]]
    root = _root(run)
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(blobs.TEMP_PREFIX)
    )
