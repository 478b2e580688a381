"""``yanex db check``'s look at artifact contents: every blob a row of ``artifacts`` refers to is
there, of the size saved, hashes to its name (the one check that reads every byte: readers check
sizes only), and is no other path's file (older versions of yanex hard-linked views to blobs, so
that one write through a view changed every experiment with the content: ``yanex gc`` separates
them, see ``yanex.artifacts.collect``)."""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

from yanex import config
from yanex.artifacts import blobs

if TYPE_CHECKING:
    from yanex.db.engine import Database


def content_problems(db: Database) -> list[str]:
    """One line per blob that is missing, of another size, changed in place or hard-linked."""
    from yanex.store.reading import reading

    # SQLite takes the bare columns from the row min() picked: one experiment that refers to it.
    with reading(db, settle=False) as conn:
        referred = conn.execute(
            "SELECT sha256, size, name, experiment_id, count(*), min(rowid) FROM artifacts "
            "GROUP BY sha256, size ORDER BY sha256"
        ).fetchall()
    root = config.blobs_root()
    problems: list[str] = []
    for sha256, size, name, experiment_id, count, _ in referred:
        blob = blobs.blob_path(root, sha256)
        what = f"artifact content {sha256[:12]} ({name} of {experiment_id}"
        what += f" and {count - 1} more)" if count > 1 else ")"
        try:
            status = os.stat(blob)
            found = status.st_size
            if status.st_nlink > 1:
                problems.append(
                    f"{what} shares its file with {status.st_nlink - 1} other path"
                    f"{'s' if status.st_nlink > 2 else ''} (a hard link older versions of yanex made): "
                    "a write through one changes it; `yanex gc` separates them"
                )
            if found != size:
                problems.append(f"{what} has {found} bytes where {size} were saved{_REPAIR}")
                continue
            with blob.open("rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
        except FileNotFoundError:
            problems.append(f"{what} is missing from {root}{_REPAIR}")
            continue
        if digest != sha256:
            problems.append(f"{what} does not match its hash: it was changed on disk{_REPAIR}")
    return problems


_REPAIR = "; saving the same file again repairs it"
