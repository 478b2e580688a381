"""Freeing blobs no experiment refers to: after ``yanex delete``, and by ``yanex gc``.

A blob is referenced by a row of ``artifacts`` or by an artifact line of a journal that is not
ingested yet (a running script saved it a moment ago). Both are read while the blob lock is held
exclusively, so no saver is between publishing a blob and writing its line (see
``yanex.artifacts.blobs``); the database is read first, then the journals from the offsets that
snapshot gave, so a line ingested meanwhile is still seen in its journal.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from yanex import config
from yanex.artifacts import blobs, lines

if TYPE_CHECKING:
    from yanex.db.engine import Database


@dataclass(frozen=True)
class Collected:
    """What a collection freed (or, in a dry run, would free)."""

    blobs: int
    bytes: int
    temp_files: int  # left by savers that were killed mid-save
    dry_run: bool
    separated: int = 0  # blobs no longer hard-linked from elsewhere (see ``_separate``)


def referenced(db: Database) -> set[str]:
    """Every blob an experiment refers to, in the database or in its journal's unread tail."""
    from yanex.store.reading import reading

    with reading(db, settle=False) as conn:
        shas = {sha for (sha,) in conn.execute("SELECT DISTINCT sha256 FROM artifacts")}
        offsets: dict[str, int | None] = dict(conn.execute("SELECT id, metrics_offset FROM experiments"))
    root = config.experiments_root()
    folders = list(root.iterdir()) if root.is_dir() else []
    for folder in folders:
        # A folder without a row (being deleted, or never recorded) is read whole: kept if unsure.
        offset = offsets.get(folder.name) or 0
        shas |= {line.sha256 for line in lines.read(folder / config.METRICS_FILE, offset)[0]}
    return shas


def _blob_files(root: Path) -> list[Path]:
    return [
        blob
        for shard in root.iterdir()
        if len(shard.name) == 2 and shard.is_dir()
        for blob in shard.iterdir()
        if blob.name.startswith(shard.name)
    ]


def collect(db: Database, candidates: Collection[str] | None = None, *, dry_run: bool = False) -> Collected:
    """Delete the blobs (of ``candidates``, or all) that nothing refers to, and with all, the
    temp files of killed savers and the hard links older versions made to blobs (``_separate``);
    with ``dry_run``, only count them."""
    root = config.blobs_root()
    if not root.is_dir() or (candidates is not None and not candidates):
        return Collected(0, 0, 0, dry_run)
    with blobs.BlobLock(root).held(exclusive=True):
        keep = referenced(db)
        found = _blob_files(root)
        doomed = [
            blob
            for blob in found
            if blob.name not in keep and (candidates is None or blob.name in candidates)
        ]
        temps = list(root.glob(f"{blobs.TEMP_PREFIX}*")) if candidates is None else []
        freed = 0
        for path in [*doomed, *temps]:
            try:
                status = path.stat()
                freed += status.st_size if status.st_nlink == 1 else 0  # a view still holds a link
                if not dry_run:
                    path.unlink()
            except FileNotFoundError:
                continue
        if not dry_run:
            for shard in {blob.parent for blob in doomed}:
                with contextlib.suppress(OSError):  # it still holds other blobs
                    os.rmdir(shard)
        separated = 0
        if candidates is None:
            gone = set(doomed)
            linked = [blob for blob in found if blob not in gone and blob.stat().st_nlink > 1]
            separated = len(linked) if dry_run else _separate(root, linked)
    return Collected(len(doomed), freed, len(temps), dry_run, separated)


def _separate(root: Path, linked: list[Path]) -> int:
    """Give each blob of ``linked`` a file of its own. Older versions of yanex made views as hard
    links of blobs, so a write through one (root ignores r--r--r--) changed every experiment with
    the content: those views are removed (one is made again, as a copy, when a path is asked
    for); a blob still linked elsewhere (a file the schema-0008 upgrade adopted from an
    experiment folder) is replaced by a copy of itself. Returns how many blobs were linked."""
    inodes = {(status.st_dev, status.st_ino) for status in (blob.stat() for blob in linked)}
    for view in config.experiments_root().glob(f"*/{config.ARTIFACTS_DIR}/**/*"):
        status = view.lstat()
        if stat.S_ISREG(status.st_mode) and (status.st_dev, status.st_ino) in inodes:
            view.unlink()
    for blob in linked:
        if blob.stat().st_nlink > 1:
            blobs.replace_with_copy(root, blob)
    return len(linked)
