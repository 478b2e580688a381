"""The code a remote experiment runs: one archive per batch, unpacked once per worker.

In a git repository the snapshot is the repository's files as this checkout has them (every
tracked file plus the untracked ones git does not ignore): the recorded commit with its captured
patch, which is what the same batch would run locally. Outside a repository it is the script's
folder. Either way it is a tar archive in memory, named by its SHA-256, so a worker that already
unpacked it (``materialise``) reuses the folder for every later task of the sweep.

It leaves the machine, so it follows the git patch's policy (``yanex.outgoing``): a file outside
version control goes only if its name and content look like no credential and it fits the size
caps; a tracked file whose uncommitted changes look like a credential goes as committed. What is
left out is said once on stderr and kept in ``Snapshot.omitted``.
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
from typing import NamedTuple

from yanex import config
from yanex.display import format_size
from yanex.errors import ConfigError
from yanex.outgoing import gitlinks, leave_out_secrets, named, take_outside
from yanex.specs import OmittedChange
from yanex.supervisor.launch import say

SIZE_LIMIT = 100 * 1024 * 1024  # bytes of files shipped per batch; data belongs elsewhere


@dataclass(frozen=True)
class Snapshot:
    """``root``: the folder archived (repository top or script folder), on the orchestrator;
    ``omitted``: what of it stayed here, and why."""

    digest: str
    data: bytes
    root: Path
    omitted: tuple[OmittedChange, ...] = ()


def _git(top: Path, *args: str) -> bytes | None:
    try:
        return subprocess.run(
            ["git", "-c", "core.quotePath=true", *args], cwd=top, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def _repository_files(top: Path) -> tuple[list[str], list[str]] | None:
    """The tracked files, and the untracked ones git does not ignore."""
    listed = _git(top, "ls-files", "-z", "-t", "--cached", "--others", "--exclude-standard")
    if listed is None:
        return None
    entries = {name for name in os.fsdecode(listed).split("\0") if name}
    tracked = sorted(entry[2:] for entry in entries if not entry.startswith("? "))
    return tracked, sorted(entry[2:] for entry in entries if entry.startswith("? "))


class _Listing(NamedTuple):
    """What of a repository goes, by path from the top repository."""

    tracked: list[str]
    untracked: list[str]  # not ignored
    instead: dict[str, bytes | None]  # see ``_committed_instead``
    omitted: list[OmittedChange]


def _repository(top: Path, prefix: str = "") -> _Listing | None:
    """The files of the repository at ``top`` (paths under ``prefix``), and those of each of its
    checked-out submodules by the same rules: they are part of the code that runs."""
    listed = _repository_files(top)
    if listed is None:
        return None
    instead, omitted = _committed_instead(top)
    listing = _Listing(
        [prefix + name for name in listed[0]],
        [prefix + name for name in listed[1]],
        {prefix + name: data for name, data in instead.items()},
        [OmittedChange(path=prefix + change.path, reason=change.reason) for change in omitted],
    )
    index = _git(top, "ls-files", "--stage", "-z") if (top / ".gitmodules").is_file() else None
    for path in gitlinks(index):
        inner = _repository(top / path, f"{prefix}{path}/") if (top / path / ".git").exists() else None
        if inner is not None:
            listing.tracked.extend(inner.tracked)
            listing.untracked.extend(inner.untracked)
            listing.instead.update(inner.instead)
            listing.omitted.extend(inner.omitted)
    return listing


def _repository_top(folder: Path) -> Path | None:
    out = _git(folder, "rev-parse", "--show-toplevel")
    return None if out is None else Path(os.fsdecode(out.strip()))


def _folder_files(folder: Path) -> list[str]:
    files = []
    for directory, subdirs, names in os.walk(folder):
        subdirs[:] = sorted(d for d in subdirs if d not in ("__pycache__", ".git", ".venv"))
        for name in names:
            files.append(str(Path(directory, name).relative_to(folder)))
    return sorted(files)


def _committed_instead(top: Path) -> tuple[dict[str, bytes | None], list[OmittedChange]]:
    """Tracked files whose uncommitted changes look like a credential (``leave_out_secrets``, as
    for the patch): the committed content to send instead (None: new since the commit, left out)."""
    has_commit = _git(top, "rev-parse", "--verify", "--quiet", "HEAD") is not None
    base = (
        "HEAD"
        if has_commit
        else (_git(top, "hash-object", "-t", "tree", "/dev/null") or b"").decode().strip()
    )
    diff = _git(
        top,
        "diff",
        base,
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--src-prefix=a/",
        "--dst-prefix=b/",
    )
    _, found = leave_out_secrets((diff or b"").decode("utf-8", "replace"))
    looks: dict[str, list[str]] = {}
    for change in found:
        what = change.reason.removeprefix("looks like ")
        if what not in looks.setdefault(change.path, []):
            looks[change.path].append(what)
    instead: dict[str, bytes | None] = {}
    omitted = []
    for path, whats in looks.items():
        instead[path] = _git(top, "cat-file", "blob", f"HEAD:{path}") if has_commit else None
        went = "the committed version is sent" if instead[path] is not None else "left out"
        omitted.append(
            OmittedChange(
                path=path, reason=f"its uncommitted changes look like {' and '.join(whats)}: {went}"
            )
        )
    return instead, omitted


def _add(archive: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    """One file, with nothing of this machine's (owner, time) in it: the same files give the same
    digest."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode & 0o777
    archive.addfile(info, io.BytesIO(data))


def take_snapshot(script: Path, limit: int = SIZE_LIMIT) -> Snapshot:
    """Archive the code ``script`` belongs to; ``ConfigError`` past ``limit`` bytes (or for a
    malformed size cap in the environment). Names on stderr what it leaves out."""
    script = script.resolve()
    file_limit, total_limit = config.git_untracked_limits()
    top = _repository_top(script.parent)
    listing = _repository(top) if top is not None else None
    if top is None or listing is None:
        top = script.parent
        listing = _Listing([], _folder_files(script.parent), {}, [])
    tracked, outside, instead, omitted = listing
    files: dict[str, tuple[bytes, int]] = {}
    total = 0

    def room_for(size: int) -> None:
        """Refuse before reading past ``limit``: a folder of data may be far larger."""
        if total + size > limit:
            raise ConfigError(
                f"the code to ship to the cluster ({top}) is over {format_size(limit)}",
                hint="keep data and outputs out of the code: add them to .gitignore (in a "
                "repository) or move the script to a folder of its own, and read data from "
                "storage the workers share",
            )

    def keep(name: str, data: bytes, mode: int) -> None:
        nonlocal total
        room_for(len(data))
        total += len(data)
        files[name] = (data, mode)

    for name in tracked:
        path = top / name
        if path.is_symlink() or not path.is_file():  # deleted in the checkout, or a link out
            continue
        if name not in instead:
            room_for(path.stat().st_size)
        data = instead[name] if name in instead else path.read_bytes()
        if data is not None:  # None: new since the commit, with a credential
            keep(name, data, path.stat().st_mode)
    room = total_limit
    for name in outside:
        path = top / name
        if name.endswith("/") or path.is_symlink():  # a nested repository, or a link
            continue
        taken = take_outside(path, name, file_limit, total_limit, room)
        if isinstance(taken, str):
            omitted.append(OmittedChange(path=name, reason=taken))
            continue
        keep(name, taken.data, taken.mode)
        room -= len(taken.data)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in sorted(files):
            _add(archive, name, *files[name])
    omitted.sort(key=lambda change: change.path)
    script_name = relative_to_snapshot(top, script)
    left = next((change for change in omitted if change.path == script_name), None)
    if left is not None:  # it would fail on every worker, after a wait
        raise ConfigError(
            f"the script {script_name} cannot be sent to the cluster: {left.reason}",
            hint="keep credentials out of the code: read them from environment variables on the workers",
        )
    if omitted:
        say(f"the code sent to the cluster leaves out {named(omitted)}")
    data = buffer.getvalue()
    return Snapshot(hashlib.sha256(data).hexdigest(), data, top, tuple(omitted))


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
