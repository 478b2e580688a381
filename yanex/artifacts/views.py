"""Paths to artifacts: an experiment's view ``experiments/<id>/artifacts/<name>``, made when a
path is asked for (``yanex.artifact_path``), never when an artifact is saved.

A view is a private copy of its blob (a clone where the file system has them), read-only, its
modification time the moment the artifact was saved. Writing it (root can, whatever the mode; a
script can chmod it first) changes that file only: the next time a path is asked for, the view
is found changed (its size, its modification time, or it is a link) and made again from the
blob. Loading an artifact reads the blob itself (its size checked) and needs no view.

Why not at save time: on a file system without clones each view would be a second copy, and the
same 1 GB checkpoint saved by 20 experiments would take 21 GB instead of 1 GB.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from yanex import config
from yanex.artifacts import blobs
from yanex.errors import NotFoundError, UsageError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Saved(Protocol):
    """One saved artifact: a row of ``artifacts``, or a journal line not ingested yet."""

    @property
    def name(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...  # UTC, naive or aware


S = TypeVar("S", bound=Saved)
S_co = TypeVar("S_co", bound=Saved, covariant=True)


@dataclass(frozen=True)
class Recorded(Generic[S_co]):
    """Another experiment's artifacts, and why the content of one may be missing (for its error:
    by SHA-256 in ``missing_at`` where that is known better than ``missing``)."""

    experiment_id: str
    artifacts: Sequence[S_co]
    missing: tuple[str, str] = blobs.DELETED
    missing_at: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def why_missing(self, saved: Saved) -> tuple[str, str]:
        return self.missing_at.get(saved.sha256, self.missing)


def select(name: str, saved: Sequence[S]) -> list[S]:
    """The artifact ``name``, else every artifact in the folder ``name`` (none: empty)."""
    exact = [entry for entry in saved if entry.name == name]
    return exact or [entry for entry in saved if entry.name.startswith(name + "/")]


def selected(name: str, found: Recorded[S]) -> list[S]:
    """The artifact ``name`` of ``found``, or every artifact in the folder ``name``;
    ``NotFoundError`` if none."""
    chosen = select(name, found.artifacts)
    if not chosen:
        listed = ", ".join(saved.name for saved in found.artifacts[:10])
        listed += ", ..." if len(found.artifacts) > 10 else ""
        raise NotFoundError(
            f"experiment {found.experiment_id} has no artifact {name!r}"
            + (f" (it has {listed})" if found.artifacts else " (it has none)"),
            hint=f"list them with `yanex artifacts {found.experiment_id}`",
        )
    return chosen


def folder_error(name: str) -> UsageError:
    return UsageError(
        f"artifact {name!r} is a folder of artifacts",
        hint="load its files by their names, or open yanex.artifact_path(name)",
    )


def describe(name: str, experiment_id: str) -> str:
    return f"artifact {name!r} of experiment {experiment_id}"


def content(saved: Saved, experiment_id: str, missing: tuple[str, str] = blobs.DELETED) -> Path:
    """The artifact's blob, its size checked: for reading only, never handed out. ``missing``:
    why it may be gone, and what to do, for the error if it is."""
    return blobs.verified(
        config.blobs_root(), saved.sha256, saved.size, describe(saved.name, experiment_id), missing
    )


def _stamp(moment: datetime) -> int:
    """``moment`` in nanoseconds since the epoch, exactly (a float would round)."""
    since = moment.replace(tzinfo=UTC) - _EPOCH
    return (since.days * 86_400 + since.seconds) * 1_000_000_000 + since.microseconds * 1_000


def view(saved: Saved, experiment_id: str, directory: Path, missing: tuple[str, str] = blobs.DELETED) -> Path:
    """The artifact's view in the experiment folder ``directory``, made again from its blob unless
    it is as made: a file of its own, of the saved size and modification time (``missing``: as
    for ``content``)."""
    target = directory / config.ARTIFACTS_DIR / saved.name
    stamp = _stamp(saved.created_at)
    try:
        status = os.lstat(target)
        if (
            stat.S_ISREG(status.st_mode)
            and status.st_nlink == 1  # a hard link of a blob, as yanex made them before, is not
            and status.st_size == saved.size
            and status.st_mtime_ns == stamp
        ):
            return target
    except (FileNotFoundError, NotADirectoryError):
        pass
    blob = content(saved, experiment_id, missing)
    try:
        blobs.copy_out(blob, target, directory, stamp)
    except OSError as error:
        raise UsageError(
            f"cannot make a copy of {describe(saved.name, experiment_id)} at {target}: "
            f"{error.strerror or error}",
            hint="read it with yanex.load_artifact, or copy it with `yanex artifacts get ID NAME -o PATH`",
        ) from None
    return target
