"""The kinds of source ``yanex import`` reads, by the name ``--from`` takes.

``yanex`` is another yanex store (``yanex.store.sources``); each other tracker's reader is a module
of this package that turns its store into ``yanex.store.foreign`` runs, written as a yanex home in
the import's scratch folder. Either way ``yanex.store.importing`` imports the result: one path for
conflicts, re-imports and later points. Readers are imported only when their kind is asked for
or tried.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from yanex.errors import UsageError
from yanex.store.sources import YANEX, Kind, Source


def _reader(load: Callable[[], ModuleType]) -> Kind:
    """The kind a reader module (``detect``, ``open_source``) gives, loading it on first use."""
    return Kind(lambda path: load().detect(path), lambda path, scratch: load().open_source(path, scratch))


def _yanex_files() -> ModuleType:
    from yanex.importers import yanex_files

    return yanex_files


def _mlflow() -> ModuleType:
    from yanex.importers import mlflow

    return mlflow


def _tensorboard() -> ModuleType:
    from yanex.importers import tensorboard

    return tensorboard


KINDS: dict[str, Kind] = {
    "yanex": YANEX,
    "yanex-files": _reader(_yanex_files),
    "mlflow": _reader(_mlflow),
    "tensorboard": _reader(_tensorboard),
}


@contextmanager
def opened(path: Path, kind: str | None = None) -> Iterator[Source]:
    """The source at ``path``, of ``kind`` (a name in ``KINDS``) or of the kind that recognises it."""
    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown source kind {kind!r}", hint=f"known kinds: {', '.join(KINDS)}")
    if not path.exists():
        raise UsageError(f"no such file or folder: {path}", hint="check the path")
    # The yanex kind takes any SQLite file (to say what is wrong with one), so it is tried last.
    tried = sorted(KINDS.values(), key=lambda k: k is YANEX)
    chosen = KINDS[kind] if kind is not None else next((k for k in tried if k.detect(path)), None)
    if chosen is None:
        raise UsageError(
            f"cannot tell what {path} is: no yanex export file, yanex home or yanex database",
            hint=f"pass --from KIND to say what it is (known kinds: {', '.join(KINDS)})",
        )
    with tempfile.TemporaryDirectory(prefix="yanex-import-") as scratch:
        source = chosen.open(path, Path(scratch))
        try:
            yield source
        finally:
            if source.files is not None:
                source.files.close()
