"""The code a remote experiment runs: one archive per batch, unpacked once per worker.

In a git repository the snapshot is the repository's files as this checkout has them (every
tracked file plus the untracked ones git does not ignore): the recorded commit with its captured
patch, which is what the same batch would run locally. Outside a repository it is the script's
folder. Either way it is a tar archive in memory, named by its SHA-256, so a worker that already
unpacked it (``materialise``) reuses the folder for every later task of the sweep.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from yanex.errors import ConfigError

SIZE_LIMIT = 100 * 1024 * 1024  # bytes of files shipped per batch; data belongs elsewhere


@dataclass(frozen=True)
class Snapshot:
    """``root``: the folder archived (repository top or script folder), on the orchestrator."""

    digest: str
    data: bytes
    root: Path


def _repository_files(top: Path) -> list[str] | None:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=top,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return sorted({name for name in os.fsdecode(listed).split("\0") if name})


def _repository_top(folder: Path) -> Path | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=folder, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return Path(os.fsdecode(out.strip()))


def _folder_files(folder: Path) -> list[str]:
    files = []
    for directory, subdirs, names in os.walk(folder):
        subdirs[:] = sorted(d for d in subdirs if d not in ("__pycache__", ".git", ".venv"))
        for name in names:
            files.append(str(Path(directory, name).relative_to(folder)))
    return sorted(files)


def take_snapshot(script: Path, limit: int = SIZE_LIMIT) -> Snapshot:
    """Archive the code ``script`` belongs to; ``ConfigError`` past ``limit`` bytes."""
    script = script.resolve()
    top = _repository_top(script.parent)
    names = _repository_files(top) if top is not None else None
    if top is None or names is None:
        top, names = script.parent, _folder_files(script.parent)
    buffer = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in names:
            path = top / name
            if path.is_symlink() or not path.is_file():  # deleted in the checkout, or a link out
                continue
            total += path.stat().st_size
            if total > limit:
                raise ConfigError(
                    f"the code to ship to the cluster ({top}) is over {limit // (1024 * 1024)} MB",
                    hint="keep data and outputs out of the code: add them to .gitignore (in a "
                    "repository) or move the script to a folder of its own, and read data from "
                    "storage the workers share",
                )
            info = archive.gettarinfo(str(path), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0  # the same files give the same digest
            with path.open("rb") as handle:
                archive.addfile(info, handle)
    data = buffer.getvalue()
    return Snapshot(hashlib.sha256(data).hexdigest(), data, top)


def relative_to_snapshot(snapshot_root: Path, path: Path) -> str | None:
    """``path`` inside the snapshot (POSIX, relative), or None if it lies outside it."""
    try:
        return PurePosixPath(path.resolve().relative_to(snapshot_root)).as_posix()
    except ValueError:
        return None


def materialise(cache: Path, digest: str, fetch: Callable[[], bytes]) -> Path:
    """The snapshot unpacked under ``cache/<digest>``; fetched and unpacked once, atomically (a
    folder renamed into place), so concurrent tasks on one machine never see half of it."""
    target = cache / digest
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    data = fetch()
    if hashlib.sha256(data).hexdigest() != digest:
        raise RuntimeError(f"the code snapshot {digest[:12]} arrived damaged")
    staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=cache))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
            archive.extractall(staging, filter="data")
        with contextlib.suppress(OSError):  # another task renamed its copy first
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


__all__ = ["SIZE_LIMIT", "Snapshot", "materialise", "relative_to_snapshot", "take_snapshot"]
