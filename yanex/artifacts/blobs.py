"""Content stored once by SHA-256, published atomically, never handed out.

A blob is written to a temp file in the blob folder, hashed, fsynced, made read-only and only
then published under ``<sha[:2]>/<sha>`` with ``os.replace``: a blob that exists is replaced by
the copy just verified (which costs nothing more: the copy is written either way), so a save of
content whose blob was changed behind yanex's back repairs it. A process killed at any point
leaves at most a temp file that nothing refers to, which ``collect`` removes.

No path yanex hands out is a blob's file: a path to an artifact is a private clone or copy
(``copy_out``), and readers check a blob's size before trusting it (``verified``). Mode r--r--r--
does not stop root, so a hard link to a blob would let one write change every experiment that
shares the content.

Savers hold a shared ``flock`` on ``blobs/.lock`` from their temp file until the journal line that
records the blob is written; ``collect`` holds it exclusively while it decides and deletes, so it
never sees a blob that is published but not yet recorded, nor a temp file still being written.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import shutil
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from yanex.errors import DamagedArtifactError, NotFoundError, UsageError

LOCK_FILE = ".lock"
TEMP_PREFIX = ".tmp-"
# Bytes per read when copying and hashing: large enough that a gigabyte costs few system calls.
CHUNK = 8 * 1024 * 1024
_FICLONE = 0x40049409  # ioctl: a copy-on-write clone on btrfs, XFS and others
_KERNEL_COPY = hasattr(os, "copy_file_range")  # Linux
_KERNEL_STEP = 64 * 1024 * 1024  # bytes per copy_file_range call: how often the hasher catches up
_NO_KERNEL_COPY = (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF, errno.ESPIPE)


@dataclass(frozen=True)
class Stored:
    """A published blob."""

    sha256: str
    size: int


def blob_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256


class BlobLock:
    """The shared/exclusive lock on a blob folder, one descriptor per process (a forked child
    opens its own: a lock taken through an inherited descriptor would be the parent's too)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._fd = -1
        self._pid = -1

    def _descriptor(self) -> int:
        if self._pid != os.getpid():
            self.root.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def held(self, *, exclusive: bool = False) -> Iterator[None]:
        fd = self._descriptor()
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


_LOCKS: dict[Path, BlobLock] = {}


def lock_for(root: Path) -> BlobLock:
    """This process's lock on the blob folder ``root`` (one descriptor per folder, kept open)."""
    return _LOCKS.setdefault(root, BlobLock(root))


def _in_folder(make: Callable[[], object], folder: Path) -> None:
    """``make()`` a file in ``folder``, creating the folder only when it is missing: a save must
    cost few system calls (and ``collect`` removes shard folders it empties)."""
    try:
        make()
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
        make()


def _temp(root: Path) -> tuple[int, Path]:
    path = root / f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}"
    opened: list[int] = []
    _in_folder(
        lambda: opened.append(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)), root
    )
    return opened[0], path


def _publish(root: Path, temp: Path, sha256: str) -> None:
    """Make ``temp`` (its data already fsynced) the blob ``sha256``, replacing the blob if it
    exists (see the module's docstring); ``temp`` is gone after. The folder is not fsynced: a
    machine crash can lose the new name (as it can lose the journal line not yet flushed that
    would refer to it), never its content."""
    target = blob_path(root, sha256)
    try:
        os.chmod(temp, 0o444)
        _in_folder(lambda: os.replace(temp, target), target.parent)
    finally:
        temp.unlink(missing_ok=True)


_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFLNK: "a symbolic link",
}


def kind(mode: int) -> str:
    """What a file of ``mode`` is, in words."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def open_regular(path: Path) -> int:
    """A descriptor to read ``path``, or ``UsageError`` if it is no regular file: a device such
    as /dev/zero has no end to store, and opening a FIFO would wait for a writer (it is opened
    without waiting, then looked at)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UsageError(
            f"yanex.log_artifact: {str(path)!r} is {kind(mode)}, not a regular file",
            hint="log a regular file, or a folder of them",
        )
    os.set_blocking(fd, True)
    return fd


class _Copier(threading.Thread):
    """Copies with ``copy_file_range`` (in the kernel: no pass through Python's memory), saying
    how far it got, so that the caller can hash the copy as it grows."""

    def __init__(self, source: int, target: int, copied: int) -> None:
        super().__init__(daemon=True)
        self.source, self.target = source, target
        self.copied = copied
        self.done = False
        self.error: OSError | None = None
        self.progress = threading.Condition()

    def run(self) -> None:
        try:
            while step := os.copy_file_range(self.source, self.target, _KERNEL_STEP):
                with self.progress:
                    self.copied += step
                    self.progress.notify()
                # Write back as the copy grows, while the caller hashes: the final fsync then
                # waits for the last step only, not for the whole file.
                os.fdatasync(self.target)
        except OSError as error:
            self.error = error
        finally:
            with self.progress:
                self.done = True
                self.progress.notify()


def _kernel_copy(source: int, fd: int) -> Stored | None:
    """Copy in the kernel while hashing what has landed in the temp file (the copy, not the
    source: a source changed meanwhile cannot make the hash disagree with the blob). None where
    the kernel cannot copy this source (a pipe, another file system on older kernels), before
    anything is written."""
    try:
        first = os.copy_file_range(source, fd, _KERNEL_STEP)
    except OSError as error:
        if error.errno in _NO_KERNEL_COPY:
            return None
        raise
    copier = _Copier(source, fd, first)
    copier.start()
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    hashed = 0
    while True:
        with copier.progress:
            while copier.copied == hashed and not copier.done:
                copier.progress.wait()
            copied, done = copier.copied, copier.done
        while hashed < copied:
            read = os.preadv(fd, [view[: min(CHUNK, copied - hashed)]], hashed)
            digest.update(view[:read])
            hashed += read
        if done:
            break
    copier.join()
    if copier.error is not None:
        raise copier.error
    return Stored(digest.hexdigest(), hashed)


def _user_copy(source: int, fd: int) -> Stored:
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    while read := os.readv(source, [buffer]):
        chunk = view[:read]
        digest.update(chunk)
        written = 0
        while written < read:
            written += os.write(fd, chunk[written:])
        size += read
    return Stored(digest.hexdigest(), size)


def store_file(root: Path, source: Path) -> Stored:
    """Copy the regular file ``source`` into the store and hash it: in the kernel where it can,
    else in one pass. ``UsageError`` before anything is written if it is no regular file."""
    reader = open_regular(source)
    try:
        fd, temp = _temp(root)
        try:
            stored = (_kernel_copy(reader, fd) if _KERNEL_COPY else None) or _user_copy(reader, fd)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
    finally:
        os.close(reader)
    os.close(fd)
    _publish(root, temp, stored.sha256)
    return stored


def store_written(root: Path, write: Callable[[Path], object]) -> Stored:
    """Let ``write`` fill a temp file (serialisers seek, so it is hashed after), then publish it."""
    fd, temp = _temp(root)
    try:
        os.close(fd)
        write(temp)
        fd = os.open(temp, os.O_RDONLY | os.O_CLOEXEC)
        try:
            digest = hashlib.sha256()
            size = 0
            buffer = bytearray(min(CHUNK, os.fstat(fd).st_size + 1))  # small files: one small read
            view = memoryview(buffer)
            while read := os.readv(fd, [buffer]):
                digest.update(view[:read])
                size += read
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    sha = digest.hexdigest()
    _publish(root, temp, sha)
    return Stored(sha, size)


def store_chunks(root: Path, chunks: Iterable[bytes], sha256: str, size: int) -> None:
    """Publish the blob ``sha256`` of ``size`` bytes from ``chunks`` (its content arriving piece
    by piece from another store: never whole in memory), hashed as it is written;
    ``DamagedArtifactError`` instead if what arrived is not that content."""
    fd, temp = _temp(root)
    try:
        digest = hashlib.sha256()
        written = 0
        for chunk in chunks:
            digest.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
            written += len(chunk)
        if written != size or digest.hexdigest() != sha256:
            raise DamagedArtifactError(
                f"the content {sha256[:12]} arrived as {written} bytes hashing to "
                f"{digest.hexdigest()[:12]}: not the {size} bytes that were saved",
                hint="send it again",
            )
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    os.close(fd)
    _publish(root, temp, sha256)


def present(root: Path, sha256: str, size: int) -> bool:
    """Whether the blob ``sha256`` is in ``root`` with the size it was saved with."""
    try:
        return os.stat(blob_path(root, sha256)).st_size == size
    except OSError:
        return False


def _clone(source: Path, target: Path) -> bool:
    """A copy-on-write clone where the file system has them; False where it has not."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
        except OSError:
            return False
    return True


def replace_with_copy(root: Path, blob: Path) -> None:
    """Give ``blob`` a file of its own: a durable copy renamed over it (other links to the old
    file keep that one). Taken under the blob lock, exclusively."""
    fd, temp = _temp(root)
    try:
        os.close(fd)
        shutil.copyfile(blob, temp)
        fd = os.open(temp, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(temp, 0o444)
        os.replace(temp, blob)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# Why a recorded artifact's content may be missing, and what to do: for its error. These are for
# an artifact saved on this machine: nothing in yanex deletes content an artifact refers to.
DELETED = (
    "yanex never deletes the content of a recorded artifact, so it was removed from that folder "
    "by hand, or this database is used with the blobs/ of another YANEX_HOME than it was saved in",
    "save it again (the same content repairs it), or point YANEX_HOME at the folder whose blobs/ holds it",
)


def verified(root: Path, sha256: str, size: int, what: str, missing: tuple[str, str] = DELETED) -> Path:
    """The blob ``sha256`` of an artifact saved with ``size`` bytes (``what`` names it in
    errors): ``NotFoundError`` if it is gone, saying where it was expected and ``missing``'s why
    and hint; ``DamagedArtifactError`` if its size changed. Only the size: reading the whole
    content to hash it is ``yanex db check``'s job."""
    blob = blob_path(root, sha256)
    try:
        found = os.stat(blob).st_size
    except FileNotFoundError:
        why, hint = missing
        message = f"the content of {what} is missing: expected at {blob}; {why}"
        raise NotFoundError(message, hint=hint) from None
    if found != size:
        raise DamagedArtifactError(
            f"the stored content of {what} is damaged: {found} bytes where {size} were saved",
            hint="`yanex db check` lists every damaged content; saving the same file again repairs it",
        )
    return blob


def copy_out(blob: Path, target: Path, scratch: Path, stamp_ns: int) -> None:
    """Put a private, read-only copy of ``blob`` at ``target`` (a clone where the file system has
    them: no space taken until one of them is written), its modification time ``stamp_ns`` (so a
    write to it is seen: see ``yanex.artifacts.views``). Made under a temp name in ``scratch`` (a
    folder on the same file system, outside the view) and renamed over ``target``, so a reader
    sees the old file or the new one, never part of one."""
    temp = scratch / f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}"
    try:
        if not _clone(blob, temp):
            shutil.copyfile(blob, temp)
        os.chmod(temp, 0o444)
        os.utime(temp, ns=(stamp_ns, stamp_ns))
        _in_folder(lambda: os.replace(temp, target), target.parent)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
