"""The kinds of source ``yanex import`` reads, by the name ``--from`` takes.

``yanex`` is another yanex store (``yanex.store.sources``); each other tracker's reader is a module
of this package that turns its store into ``yanex.store.foreign`` runs, written as a yanex home in
the import's scratch folder. Either way ``yanex.store.importing`` imports the result: one path for
conflicts, re-imports and later points. Readers are imported only when their kind is asked for
or tried.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from yanex.errors import UsageError
from yanex.store.sources import YANEX, Kind, Source


def _is_tensorboard(path: Path) -> bool:
    from yanex.importers import tensorboard

    return tensorboard.detect(path)


def _open_tensorboard(path: Path, scratch: Path) -> Source:
    from yanex.importers import tensorboard

    return tensorboard.open_source(path, scratch)


KINDS: dict[str, Kind] = {"yanex": YANEX, "tensorboard": Kind(_is_tensorboard, _open_tensorboard)}


@contextmanager
def opened(path: Path, kind: str | None = None) -> Iterator[Source]:
    """The source at ``path``, of ``kind`` (a name in ``KINDS``) or of the kind that recognises it."""
    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown source kind {kind!r}", hint=f"known kinds: {', '.join(KINDS)}")
    if not path.exists():
        raise UsageError(f"no such file or folder: {path}", hint="check the path")
    chosen = KINDS[kind] if kind is not None else next((k for k in KINDS.values() if k.detect(path)), None)
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
