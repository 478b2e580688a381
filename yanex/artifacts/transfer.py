"""Moving artifact contents between blob stores: a cluster worker's spool and the orchestrator's.

A script on a cluster worker saves its artifacts' contents into the blob folder of the worker's
spool (``<spool>/blobs``, shared by every experiment the spool holds), then writes their journal
lines as it does locally. The orchestrator brings each content home before it appends the line
that records it to the local journal (so before the row exists), from a ``BlobSource``: the
spool's folder itself when it can read it (Slurm's shared filesystem, ``yanex ingest``), or the
Dask worker, in parts. Contents go the other way too: what a dependent experiment's
dependencies saved, into the blob folder of the spool where it runs.

Every copy goes through ``blobs.store_chunks``: ``PART`` bytes at a time, hashed as it is
written, published only if it is the content the line names. A blob already there (with its
size) is not copied again, so bringing a spool home twice copies nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from yanex.artifacts import blobs, lines
from yanex.artifacts.lines import ArtifactLine
from yanex.errors import YanexError

SPOOL_BLOBS = "blobs"  # in a spool folder, beside its experiments' folders
# Bytes per part of a content on its way: what a transfer holds in memory, on each side. Small
# enough for a Dask message (the scheduler relays it), large enough that a gigabyte is few parts.
PART = 4 * 1024 * 1024


class TransferError(Exception):
    """A content could not be had from its source; the message says why, for the user."""


class BlobSource(Protocol):
    """Where contents come from, part by part."""

    def parts(self, sha256: str, size: int) -> Iterator[bytes]:
        """The blob's bytes in order, ``PART`` at a time; ``TransferError`` if it cannot be had."""
        ...


def spool_blobs(spool: Path) -> Path:
    """The blob folder of the spool ``spool`` (a worker's, or a Slurm batch's ``spool/``)."""
    return spool / SPOOL_BLOBS


def read_part(root: Path, sha256: str, offset: int, size: int = PART) -> bytes:
    """Up to ``size`` bytes of the blob ``sha256`` in ``root`` from ``offset``."""
    fd = os.open(blobs.blob_path(root, sha256), os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.pread(fd, size, offset)
    finally:
        os.close(fd)


class FolderSource:
    """The blob folder ``root`` of a store this process can read."""

    def __init__(self, root: Path, where: str) -> None:
        self.root = root
        self.where = where  # for errors: "the batch's folder", "the spool"

    def parts(self, sha256: str, size: int) -> Iterator[bytes]:
        if not blobs.present(self.root, sha256, size):
            raise TransferError(f"it is not in {self.where} ({self.root})")
        for offset in range(0, size, PART):
            yield read_part(self.root, sha256, offset)


def saved_in(data: bytes) -> list[ArtifactLine]:
    """The artifacts the journal bytes ``data`` record (complete lines only)."""
    if lines.PREFIX not in data:
        return []
    return lines.parse(lines.split(data.split(b"\n"))[1])[0]


@dataclass(frozen=True)
class Copied:
    """What ``copy_blobs`` did: contents copied, and why each that could not be (by SHA-256)."""

    count: int
    failed: dict[str, str]


def copy_blobs(root: Path, source: BlobSource, wanted: Iterable[ArtifactLine]) -> Copied:
    """Copy into the blob folder ``root`` the content of each artifact of ``wanted`` it lacks."""
    failed: dict[str, str] = {}
    copied: set[str] = set()
    for artifact in wanted:
        sha256, size = artifact.sha256, artifact.size
        if sha256 in copied or sha256 in failed or blobs.present(root, sha256, size):
            continue
        try:
            blobs.store_chunks(root, source.parts(sha256, size), sha256, size)
        except (TransferError, YanexError, OSError) as error:
            failed[sha256] = error.message if isinstance(error, YanexError) else str(error)
            continue
        copied.add(sha256)
    return Copied(len(copied), failed)


__all__ = [
    "PART",
    "SPOOL_BLOBS",
    "BlobSource",
    "Copied",
    "FolderSource",
    "TransferError",
    "copy_blobs",
    "read_part",
    "saved_in",
    "spool_blobs",
]
