"""The files ``yanex import`` brings in: artifact blobs, verified, and experiment folders.

A blob is copied only when this store lacks it (a blob that is here with the right size is the
same content: blobs are named by their hash). The copy is hashed as it is written, to a temp file
in the blob folder, and published under its name only if it has the size and hash the source's
database recorded; otherwise it is dropped and counted as damaged. Like a saving script's, the
copies are made under the blob folder's shared lock, which the caller holds until the rows that
refer to them are committed, so ``yanex gc`` never takes them for unreferenced meanwhile.

An experiment's files are written under a temp name in its folder and renamed, so a reader sees
the old file or the new one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from yanex import config
from yanex.artifacts.blobs import TEMP_PREFIX, blob_path
from yanex.store.bundle import COPY_CHUNK, EXPERIMENTS, HomeFiles, Member


@dataclass
class Copied:
    """What the copies added."""

    blobs: int = 0
    blob_bytes: int = 0
    missing_blobs: int = 0  # contents the source does not have either
    damaged_blobs: int = 0  # contents whose copy did not hash to their name
    files: int = 0  # files of experiment folders


def _temp(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}"


def _copy(files: HomeFiles, member: Member, temp: Path) -> tuple[str, int]:
    """Copy ``member`` to ``temp``, synced; its sha256 and size as written."""
    digest = hashlib.sha256()
    size = 0
    with files.open(member) as source, temp.open("wb") as out:
        while chunk := source.read(COPY_CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


def copy_blobs(files: HomeFiles | None, wanted: dict[str, int], done: Copied) -> None:
    """Bring in the blobs ``wanted`` (sha256 to size) this store does not have; hold the blob
    folder's lock (shared) from before this call until their rows are committed."""
    root = config.blobs_root()
    for sha256, size in sorted(wanted.items()):
        target = blob_path(root, sha256)
        try:
            if target.stat().st_size == size:
                continue
        except FileNotFoundError:
            pass
        member = None if files is None else files.blob(sha256)
        if files is None or member is None or member.size != size:
            done.missing_blobs += 1
            continue
        temp = _temp(root)
        try:
            written = _copy(files, member, temp)
            if written != (sha256, size):
                done.damaged_blobs += 1
                continue
            os.chmod(temp, 0o444)
            target.parent.mkdir(exist_ok=True)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        done.blobs += 1
        done.blob_bytes += size


def copy_folder(files: HomeFiles, experiment_id: str, done: Copied, *, replace: bool) -> None:
    """Bring in the files of an experiment's folder; with ``replace`` (a copy of a later state),
    over those here, else only those missing here."""
    folder = config.experiment_dir(experiment_id)
    prefix = f"{EXPERIMENTS}/{experiment_id}/"
    for member in files.experiment_files(experiment_id):
        target = folder / member.name.removeprefix(prefix)
        if not replace and target.exists():
            continue
        temp = _temp(target.parent)
        try:
            _copy(files, member, temp)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        done.files += 1
