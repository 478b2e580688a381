"""The folders of the file-based yanex (the unrelated ``yanex`` 0.x on the package index), which
keeps each experiment in ``~/.yanex/experiments/<8 hex digits>/`` around a ``metadata.json``
(archived ones in ``experiments/archived/<id>/``): the home and folder this yanex uses, whose
experiment folders are named by 32 digits, so the two never share a folder.

Standard library only: the database layer asks here before it creates a database or says there
is none (so its users learn where their experiments went), the importer before it reads them.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

METADATA = "metadata.json"
ARCHIVED = "archived"
_ID = re.compile(r"[0-9a-f]{8}")

# Experiments folders this process is importing: no notice tells the user to import them.
_being_imported: set[Path] = set()


def is_experiment(folder: Path) -> bool:
    """Whether ``folder`` is one experiment of the file-based yanex."""
    return _ID.fullmatch(folder.name) is not None and (folder / METADATA).is_file()


def experiment_folders(experiments: Path) -> Iterator[tuple[Path, bool]]:
    """Its experiments in an ``experiments`` folder, each with whether it is archived, in id order."""
    for parent, archived in ((experiments, False), (experiments / ARCHIVED, True)):
        try:
            names = sorted(os.listdir(parent))
        except (FileNotFoundError, NotADirectoryError):
            continue
        yield from ((parent / name, archived) for name in names if is_experiment(parent / name))


def holds(experiments: Path) -> bool:
    """Whether ``experiments`` holds an experiment of the file-based yanex (stops at the first)."""
    return next(experiment_folders(experiments), None) is not None


def being_imported(experiments: Path) -> None:
    _being_imported.add(experiments.resolve())


def count(experiments: Path) -> int:
    """How many of its experiments ``experiments`` holds; 0 while this process imports them."""
    if experiments.resolve() in _being_imported:
        return 0
    return sum(1 for _ in experiment_folders(experiments))


def found(experiments: Path, count: int) -> str:
    return f"{experiments} holds {count} experiment{'s' if count != 1 else ''} of the file-based yanex 0.x"


def import_command(experiments: Path) -> str:
    return f"`yanex import {shlex.quote(str(experiments))}`"
