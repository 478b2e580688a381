"""What ``yanex.save_artifact`` and its siblings do inside an experiment script.

A tracked script never writes the database: it publishes the blob and appends one journal line
(the artifact exists from then on, for the supervisor to ingest). It reads its own artifacts
back through those lines (``_Journal``: the database may not have them yet), from their blobs;
a path to one is a private copy made when asked for (``yanex.artifacts.views``). An untracked
script (plain ``python train.py``) saves to ``./artifacts/<name>`` and never touches the store.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import time
import warnings
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from yanex import config
from yanex.artifacts import blobs, formats, inputs, lines, views
from yanex.artifacts.names import check_name
from yanex.errors import NotFoundError, UsageError, YanexWarning


class Run(Protocol):
    """The current process's experiment, as ``yanex.run_api`` knows it."""

    experiment_id: str | None
    directory: str | None

    def append(self, line: bytes) -> None: ...


class _Journal:
    """The artifacts this experiment saved, by name: the artifact lines of its journal, read on
    from where the last call stopped (a save costs a read of the lines appended since). A forked
    child inherits what its parent read, which stays true: the journal is only appended to."""

    def __init__(self, journal: Path) -> None:
        self.journal = journal
        self.offset = 0
        self.saved: dict[str, lines.ArtifactLine] = {}
        self.folders: set[str] = set()

    def current(self) -> _Journal:
        found, self.offset = lines.read(self.journal, self.offset)
        for line in found:
            self.saved[line.name] = line
            self.folders.update(parent.as_posix() for parent in PurePosixPath(line.name).parents)
        return self


_JOURNALS: dict[Path, _Journal] = {}


def _saved(run: Run) -> _Journal | None:
    """This experiment's saved artifacts, up to date; None for an untracked script."""
    if run.experiment_id is None or run.directory is None:
        return None
    journal = Path(run.directory) / config.METRICS_FILE
    return _JOURNALS.setdefault(journal, _Journal(journal)).current()


def _root(run: Run) -> Path:
    """Where this process's artifacts are (tracked: their views) by name."""
    if run.experiment_id is None or run.directory is None:
        return Path.cwd() / config.ARTIFACTS_DIR
    return Path(run.directory) / config.ARTIFACTS_DIR


def _check_place(run: Run, name: str) -> None:
    """Refuse a name whose file would sit where a folder of artifacts is, or under a file."""
    saved = _saved(run)
    root = _root(run)

    def is_file(other: str) -> bool:
        return other in saved.saved if saved is not None else (root / other).is_file()

    def is_folder(other: str) -> bool:
        return other in saved.folders if saved is not None else (root / other).is_dir()

    if is_folder(name):
        raise UsageError(
            f"artifact {name!r} would replace the folder of artifacts {name}/",
            hint="pick another name",
        )
    for parent in PurePosixPath(name).parents:
        if parent.name and is_file(parent.as_posix()):
            raise UsageError(
                f"artifact {name!r} would go under the artifact {parent.as_posix()!r}, which is a file",
                hint="pick another name",
            )


def _save_local(root: Path, name: str, write: Callable[[Path], object]) -> None:
    target = root / name
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.parent / f"{blobs.TEMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}"
    try:
        write(temp)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _record(run: Run, name: str, media_type: str, store: Callable[[Path], blobs.Stored]) -> None:
    assert run.experiment_id is not None and run.directory is not None
    root = config.blobs_root()
    with blobs.lock_for(root).held():  # from the temp file until the journal line: see yanex.artifacts.blobs
        stored = store(root)
        run.append(lines.encode(name, stored.sha256, stored.size, media_type, time.time()))


def save(run: Run, obj: Any, name: str, allow_pickle: bool) -> str:
    name = check_name(name)
    found = formats.for_saving(name, allow_pickle)
    _check_place(run, name)

    def write(path: Path) -> None:
        found.save(obj, path, allow_pickle)

    if run.experiment_id is None:
        _save_local(_root(run), name, write)
    else:
        _record(run, name, found.media_type, lambda blob_root: blobs.store_written(blob_root, write))
    return name


def _log_file(run: Run, source: Path, name: str) -> None:
    if run.experiment_id is None:
        with open(blobs.open_regular(source), "rb") as reader:  # refused before anything is written

            def copy(path: Path) -> None:
                with path.open("wb") as writer:
                    shutil.copyfileobj(reader, writer, blobs.CHUNK)

            _save_local(_root(run), name, copy)
    else:
        _record(run, name, formats.media_type(name), lambda blob_root: blobs.store_file(blob_root, source))


def _link_problem(link: Path, top: Path) -> str | None:
    """Why the link ``link`` in the folder ``top`` is left out; None if it is stored (as the
    content of the file in the folder it points to)."""
    try:
        target = link.resolve(strict=True)
    except FileNotFoundError:
        return "a link to nothing"
    except RuntimeError:  # Python < 3.13 says so for a loop
        return "a link in a loop"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a link in a loop"
        return f"a link that cannot be followed: {error.strerror}"
    if not target.is_relative_to(top):
        return f"a link leaving the folder, to {target}"
    mode = target.stat().st_mode
    if stat.S_ISDIR(mode):
        return "a link to a folder in it, whose files are stored under their own names"
    return None if stat.S_ISREG(mode) else f"a link to {blobs.kind(mode)}"


def _folder(source: Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """The files under the folder ``source`` with their paths in it, and every entry left out,
    with why. Regular files are stored; so is a link to a file in the folder, as that file's
    content under the link's name. Left out: links to folders (not followed, so no loop), links
    leaving the folder or to nothing, FIFOs, sockets and devices (no regular file: reading one
    would block or never end), and what cannot be read."""
    top = source.resolve()
    files: list[tuple[Path, str]] = []
    skipped: list[str] = []

    def unreadable(error: OSError) -> None:
        where = Path(error.filename).relative_to(top).as_posix() if error.filename else str(top)
        skipped.append(f"{where} (cannot be read: {error.strerror})")

    for folder, subfolders, entries in os.walk(top, onerror=unreadable):
        for entry in sorted([*subfolders, *entries]):
            file = Path(folder) / entry
            relative = file.relative_to(top).as_posix()
            mode = file.lstat().st_mode
            if stat.S_ISDIR(mode):
                continue  # walked
            if stat.S_ISLNK(mode):
                problem = _link_problem(file, top)
            else:
                problem = None if stat.S_ISREG(mode) else blobs.kind(mode)
            if problem is None:
                files.append((file, relative))
            else:
                skipped.append(f"{relative} ({problem})")
    return sorted(files, key=lambda found: found[1]), skipped


def log(run: Run, path: str | os.PathLike[str], name: str | None) -> str:
    source = Path(path)
    if not source.exists():
        raise NotFoundError(f"yanex.log_artifact: {str(source)!r} does not exist", hint="check the path")
    base = check_name(source.resolve().name if name is None else name)
    if not source.is_dir():
        _check_place(run, base)
        _log_file(run, source, base)
        return base
    files, skipped = _folder(source)
    left_out = f"; left out: {', '.join(skipped)}" if skipped else ""
    if not files:
        raise UsageError(
            f"yanex.log_artifact: the folder {str(source)!r} holds no regular file{left_out}",
            hint="check the path",
        )
    # Every name and place is checked before anything is written.
    named = [(file, check_name(f"{base}/{relative}")) for file, relative in files]
    for _, artifact in named:
        _check_place(run, artifact)
    if skipped:
        warnings.warn(
            YanexWarning(
                f"yanex.log_artifact stored {len(named)} files of {str(source)!r} as {base}/ and left out "
                f"{len(skipped)}: {', '.join(skipped)}"
            ),
            stacklevel=3,
        )
    for file, artifact in named:
        _log_file(run, file, artifact)
    return base


# Why a dependency's content is not on the worker, when the inputs list says nothing better.
_NOT_HERE = (
    "it did not reach the blob folder of this worker's spool before the script started",
    "run the experiment again once `yanex artifacts get` of it works on the orchestrator",
)


def _other(run: Run, reference: str) -> tuple[views.Recorded[views.Saved], Path]:
    """Another experiment's artifacts, and the folder its views go to. On a cluster worker (no
    database there) those of a dependency, from the inputs its task brought, viewed in this
    experiment's folder; else the database's, viewed in that experiment's own folder."""
    manifest = os.environ.get(config.INPUTS_ENV)
    if manifest is None or run.experiment_id is None or run.directory is None:
        from yanex.artifacts.reading import artifacts_of

        found = artifacts_of(reference)
        return found, config.experiment_dir(found.experiment_id)
    parent = inputs.resolve(Path(manifest), reference, run.experiment_id)
    missing = {sha: (why, _NOT_HERE[1]) for sha, why in parent.missing.items()}
    directory = Path(run.directory) / inputs.VIEWS / parent.experiment_id
    return views.Recorded(parent.experiment_id, parent.artifacts, _NOT_HERE, missing), directory


def path(run: Run, name: str, experiment: str | None) -> Path:
    name = check_name(name)
    if experiment is not None:
        other, directory = _other(run, experiment)
        chosen = views.selected(name, other)
        directory.mkdir(parents=True, exist_ok=True)  # views are made beside, then renamed in
        made = [views.view(one, other.experiment_id, directory, other.why_missing(one)) for one in chosen]
        return made[0] if chosen[0].name == name else directory / config.ARTIFACTS_DIR / name
    saved = _saved(run)
    found = _root(run) / name
    if saved is None:
        if not found.exists():
            raise _missing(run, name)
        return found
    assert run.experiment_id is not None and run.directory is not None
    chosen = views.select(name, list(saved.saved.values()))
    if not chosen:
        raise _missing(run, name)
    for entry in chosen:
        views.view(entry, run.experiment_id, Path(run.directory))
    return found


def _missing(run: Run, name: str) -> NotFoundError:
    where = "this experiment" if run.experiment_id is not None else f"{_root(run)} (untracked run)"
    return NotFoundError(
        f"no artifact {name!r} in {where}", hint="see what there is with yanex.list_artifacts()"
    )


def load(run: Run, name: str, experiment: str | None, allow_pickle: bool) -> Any:
    name = check_name(name)
    saved = _saved(run)
    if experiment is not None:
        other, _ = _other(run, experiment)
        chosen = views.selected(name, other)
        if chosen[0].name != name:
            raise views.folder_error(name)
        found = views.content(chosen[0], other.experiment_id, other.why_missing(chosen[0]))
    elif saved is None:
        found = path(run, name, None)
        if found.is_dir():
            raise views.folder_error(name)
    else:
        assert run.experiment_id is not None
        chosen = views.select(name, list(saved.saved.values()))
        if not chosen:
            raise _missing(run, name)
        if chosen[0].name != name:
            raise views.folder_error(name)
        found = views.content(chosen[0], run.experiment_id)
    return formats.load(name, found, allow_pickle)


def names(run: Run, experiment: str | None) -> list[str]:
    if experiment is not None:
        return sorted(saved.name for saved in _other(run, experiment)[0].artifacts)
    saved = _saved(run)
    if saved is not None:
        return sorted(saved.saved)
    root = _root(run)
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(blobs.TEMP_PREFIX)
    )


def collect_folder(run: Run) -> list[str]:
    """Store the files a script wrote straight into its artifacts folder (the file-based yanex's
    ``get_artifacts_dir()``), each under its path in the folder; what was saved through yanex
    (and the views ``artifact_path`` made of it) is left as it is. Returns the names stored."""
    saved = _saved(run)
    if saved is None:
        return []
    root = _root(run)
    written = [
        (file, file.relative_to(root).as_posix())
        for file in sorted(root.rglob("*"))
        if file.is_file() and not file.is_symlink() and not file.name.startswith(blobs.TEMP_PREFIX)
    ]
    stored = []
    for file, name in written:
        if name not in saved.saved:
            _record(run, check_name(name), formats.media_type(name), _storing(file))
            stored.append(name)
    return stored


def _storing(source: Path) -> Callable[[Path], blobs.Stored]:
    return lambda blob_root: blobs.store_file(blob_root, source)
