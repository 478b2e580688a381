"""The files of a yanex home, read the same way from a folder or from an export file.

An export file (``yanex export``) is an uncompressed tar holding a small yanex home, under the
names a home has (docs/moving.md):

    yanex.db                    a yanex database holding only the exported experiments (first,
                                so that an import reads it without scanning the rest)
    experiments/<id>/...        each experiment's folder: its captured output, config.json and
                                whatever else its script left there
    blobs/<sha[:2]>/<sha256>    the artifacts' content

So ``yanex import`` of an export file and of another store's folder are one code path: both are
``HomeFiles``. What of an experiment's folder travels is ``travels``: not the metrics journal
(its points are in the database, and a journal next to a row without ``metrics_offset`` would be
read again by ``yanex gc``), nor the artifact views (private copies, made again from the blobs).
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from yanex import config

DATABASE = "yanex.db"
EXPERIMENTS = "experiments"
BLOBS = "blobs"
# Bytes per read when copying into or out of a tar: few system calls for a large blob.
COPY_CHUNK = 1024 * 1024


def experiment_name(experiment_id: str, relative: str) -> str:
    """The home-relative name of a file of an experiment's folder."""
    return f"{EXPERIMENTS}/{experiment_id}/{relative}"


def blob_name(sha256: str) -> str:
    return f"{BLOBS}/{sha256[:2]}/{sha256}"


def travels(relative: PurePosixPath) -> bool:
    """Whether a file of an experiment's folder (``relative`` to it) is exported and imported."""
    parts = relative.parts
    if not parts or any(part in ("", ".", "..") for part in parts) or relative.is_absolute():
        return False
    if parts[0] == config.ARTIFACTS_DIR or parts == (config.METRICS_FILE,):
        return False
    name = parts[-1]
    return not name.endswith(".tmp") and not name.startswith(".tmp-")


@dataclass(frozen=True)
class Member:
    """A file of a home: its name relative to the home (``experiments/<id>/stdout.log``) and size."""

    name: str
    size: int


class HomeFiles(ABC):
    """The experiment folders and blobs of a home, by home-relative name."""

    @abstractmethod
    def experiment_files(self, experiment_id: str) -> list[Member]:
        """The files of the experiment's folder that travel, none when it has no folder."""

    @abstractmethod
    def blob(self, sha256: str) -> Member | None:
        """The blob ``sha256``, None when the home does not have it."""

    @abstractmethod
    def open(self, member: Member) -> IO[bytes]:
        """The member's bytes (close it after)."""

    def close(self) -> None:  # noqa: B027 (most homes hold nothing open)
        """Release what reading needed (an open tar)."""


def _relative(path: Path, folder: Path) -> PurePosixPath:
    return PurePosixPath(path.relative_to(folder).as_posix())


class FolderHome(HomeFiles):
    """A home on disk: a store's YANEX_HOME, or the folder of a database file being imported."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def experiment_files(self, experiment_id: str) -> list[Member]:
        folder = self.root / EXPERIMENTS / experiment_id
        found: list[Member] = []
        for directory, folders, files in os.walk(folder):
            here = Path(directory)
            folders[:] = sorted(name for name in folders if travels(_relative(here / name, folder)))
            for name in sorted(files):
                path = here / name
                relative = _relative(path, folder)
                try:
                    status = path.lstat()
                except OSError:
                    continue  # removed meanwhile
                if stat.S_ISREG(status.st_mode) and travels(relative):
                    found.append(Member(experiment_name(experiment_id, str(relative)), status.st_size))
        return found

    def blob(self, sha256: str) -> Member | None:
        try:
            status = (self.root / blob_name(sha256)).stat()
        except OSError:
            return None
        return Member(blob_name(sha256), status.st_size) if stat.S_ISREG(status.st_mode) else None

    def open(self, member: Member) -> IO[bytes]:
        return (self.root / member.name).open("rb")


class TarHome(HomeFiles):
    """An export file: its members are read in place, never extracted under their own names."""

    def __init__(self, path: Path) -> None:
        self.tar = tarfile.open(path, "r:")  # noqa: SIM115 (closed by close())
        self.members: dict[str, tarfile.TarInfo] = {}
        self.by_experiment: dict[str, list[Member]] = {}
        for info in self.tar:
            if not info.isreg():
                continue
            self.members[info.name] = info
            parts = PurePosixPath(info.name).parts
            if len(parts) > 2 and parts[0] == EXPERIMENTS and travels(PurePosixPath(*parts[2:])):
                self.by_experiment.setdefault(parts[1], []).append(Member(info.name, info.size))

    def database(self) -> Member | None:
        info = self.members.get(DATABASE)
        return None if info is None else Member(info.name, info.size)

    def experiment_files(self, experiment_id: str) -> list[Member]:
        return self.by_experiment.get(experiment_id, [])

    def blob(self, sha256: str) -> Member | None:
        info = self.members.get(blob_name(sha256))
        return None if info is None else Member(info.name, info.size)

    def open(self, member: Member) -> IO[bytes]:
        opened = self.tar.extractfile(self.members[member.name])
        assert opened is not None  # a regular file, as indexed
        return opened

    def close(self) -> None:
        self.tar.close()


def first_member(path: Path) -> str | None:
    """The name of the first member of a tar file, None if ``path`` is no tar (an export file
    holds ``yanex.db`` first)."""
    try:
        with tarfile.open(path, "r:") as tar:
            first = tar.next()
    except (tarfile.TarError, OSError):
        return None
    return None if first is None else first.name


class BundleWriter:
    """Writes an export file: members streamed into an uncompressed tar, in the order added."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tar = tarfile.TarFile(path, "w", format=tarfile.PAX_FORMAT, copybufsize=COPY_CHUNK)
        self.bytes = 0

    def add(self, name: str, source: Path) -> int:
        """Stream the regular file ``source`` in as ``name``; its size as it was when opened (a
        log still growing is taken up to there). Returns that size."""
        with source.open("rb") as handle:
            status = os.fstat(handle.fileno())
            info = tarfile.TarInfo(name)
            info.size = status.st_size
            info.mtime = int(status.st_mtime)
            info.mode = 0o644
            self.tar.addfile(info, handle)
        self.bytes += info.size
        return info.size

    def close(self) -> None:
        self.tar.close()
        with self.path.open("rb") as handle:
            os.fsync(handle.fileno())


def extract_database(home: TarHome, member: Member, folder: Path) -> Path:
    """The export file's database copied out to ``folder`` (SQLite reads files, not tar members)."""
    target = folder / DATABASE
    with home.open(member) as source, target.open("wb") as out:
        shutil.copyfileobj(source, out, COPY_CHUNK)
    return target
