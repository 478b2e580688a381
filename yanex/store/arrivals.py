"""The files ``yanex import`` brings in: artifact blobs, verified, and experiment folders.

A blob is copied only when this store lacks it (a blob that is here with the right size is the
same content: blobs are named by their hash). The copy is hashed as it is written, and published
under its name only if it has the size and hash the source's database recorded
(``yanex.artifacts.blobs.store_chunks``); otherwise it is dropped and counted as damaged. Like a
saving script's, the copies are made under the blob folder's shared lock, which the caller holds
until the rows that refer to them are committed, so ``yanex gc`` never takes them for
unreferenced meanwhile.

An experiment's files are written under a temp name in its folder and renamed, so a reader sees
the old file or the new one.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import partial

from yanex import config
from yanex.artifacts.blobs import TEMP_PREFIX, present, store_chunks
from yanex.errors import DamagedArtifactError
from yanex.store.bundle import COPY_CHUNK, EXPERIMENTS, HomeFiles


@dataclass
class Copied:
    """What the copies added."""

    blobs: int = 0
    blob_bytes: int = 0
    missing_blobs: int = 0  # contents the source does not have either
    damaged_blobs: int = 0  # contents whose copy did not hash to their name
    files: int = 0  # files of experiment folders


def copy_blobs(files: HomeFiles | None, wanted: dict[str, int], done: Copied) -> None:
    """Bring in the blobs ``wanted`` (sha256 to size) this store does not have; hold the blob
    folder's lock (shared) from before this call until their rows are committed."""
    root = config.blobs_root()
    for sha256, size in sorted(wanted.items()):
        if present(root, sha256, size):
            continue
        member = None if files is None else files.blob(sha256)
        if files is None or member is None or member.size != size:
            done.missing_blobs += 1
            continue
        try:
            with files.open(member) as source:
                store_chunks(root, iter(partial(source.read, COPY_CHUNK), b""), sha256, size)
        except DamagedArtifactError:
            done.damaged_blobs += 1
            continue
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
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.parent / f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}"
        try:
            with files.open(member) as source, temp.open("wb") as out:
                shutil.copyfileobj(source, out, COPY_CHUNK)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        done.files += 1
