"""TensorBoard logs as a source of ``yanex import --from tensorboard DIR`` (docs/moving.md).

A run is a folder holding event files (``events.out.tfevents.*``), named by its path below DIR as
``tensorboard --logdir DIR`` names it (``lr0.1/seed0``; DIR's own name when DIR is the run). Each
becomes one experiment: every scalar as a metric point (its tag, step, value, and wall time as
the moment it was logged), the HParams plugin's session start info as its params, its times
from the first and last event. Histograms, images, text and graphs are not imported.

Its source id is the name of its first event file and the wall time of that file's first event,
to the microsecond (``events.out.tfevents.1796644081.vm@1796644081.200310``): what one writer wrote
and no other, wherever the folder now is. The run's path is no part of it: tensorboardX names its
files by the second and the host alone (a sweep's runs started together share one name), and the
same runs are found below another DIR, a parent of this one, or after the folder moved. So
importing the same runs again adds nothing, from whichever folder; and a run that has logged
more since (its event file grew, or a resumed writer began another) adds only its new points,
provided that copy was imported while it ran (see ``RECENT``).

Files are read with TensorBoard's own loader (the ``tensorboard`` extra: ~160 MB installed with
numpy and grpcio, 0.14 s to import; tbparse, a pandas wrapper over it last released in 2024, adds
~90 MB and 0.2 s). It is used raw: the compatibility layer TensorBoard's UI reads through
re-encodes every scalar as a tensor, which made reading three times slower (90 s for a million
scalars, not 28 s). So both encodings are read here: ``simple_value`` (``add_scalar``, TF1) and a
tensor under the scalars plugin (``tf.summary.scalar`` in TF2, whose plugin metadata comes only
with a tag's first value). Nothing is dropped: unlike TensorBoard's view, points a restarted
writer logged again for steps it had already logged are all kept, in the order they were logged.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from yanex.errors import UsageError, install_hint
from yanex.status import Status
from yanex.store.bundle import DATABASE, FolderHome
from yanex.store.foreign import ForeignPoint, ForeignRun, write_home
from yanex.store.metric_values import JsonValue
from yanex.store.sources import Source

KIND = "tensorboard"
EVENT_FILE = "events.out.tfevents."
# A run without an HParams session end whose newest event is younger than this is taken to be
# still running: a writer flushes every two minutes by default (PyTorch's, tensorboardX's), and an
# evaluation may log nothing for a few. Importing it again later brings its points and final state.
RECENT = timedelta(minutes=10)
_SESSION_START = "_hparams_/session_start_info"
_SESSION_END = "_hparams_/session_end_info"
_FAILED = "its HParams session ended with status FAILURE"


def detect(path: Path) -> bool:
    """Whether ``path`` is a folder with an event file somewhere below it (the walk stops at the
    first), and no other tracker's store: a yanex home or an MLflow store may keep event files
    among their artifacts."""
    if not path.is_dir() or (path / DATABASE).exists() or (path / "mlflow.db").exists():
        return False
    with os.scandir(path) as entries:
        if any(entry.is_dir() and (Path(entry.path) / "meta.yaml").is_file() for entry in entries):
            return False  # an MLflow file store: mlruns/<experiment id>/meta.yaml
    return any(_is_event_file(name) for _, _, files in os.walk(path) for name in files)


def open_source(path: Path, scratch: Path) -> Source:
    """The runs below ``path`` written as a yanex home in ``scratch``."""
    reader = _Reader.load()
    if not path.is_dir():
        raise UsageError(
            f"{path} is no folder: TensorBoard logs are a folder of run folders",
            hint="pass the folder you would give tensorboard --logdir",
        )
    folders = _run_folders(path)
    if not folders:
        raise UsageError(
            f"no TensorBoard event files ({EVENT_FILE}*) below {path}",
            hint="pass the folder you would give tensorboard --logdir",
        )
    now = datetime.now(UTC)
    runs = (reader.run(path, folder, now) for folder in folders)
    home = scratch / "home"
    return Source(path, "TensorBoard logs", write_home(runs, home), FolderHome(home), still=True)


def _run_folders(root: Path) -> list[Path]:
    """The folders at or below ``root`` that hold event files, in sorted order."""
    found: list[Path] = []
    for directory, folders, files in os.walk(root):
        folders.sort()
        if any(_is_event_file(name) for name in files):
            found.append(Path(directory))
    return found


def _event_files(folder: Path) -> list[Path]:
    """A run's event files in the order they were begun (their names lead with the time)."""
    return sorted(
        folder / name for name in os.listdir(folder) if _is_event_file(name) and (folder / name).is_file()
    )


def _is_event_file(name: str) -> bool:
    return name.startswith(EVENT_FILE)


@dataclass
class _Points:
    """A run's scalars in compact columns (a million points take ~30 MB, not ~300 MB as objects),
    yielded in the order they were logged: by wall time, and in file order where they tie."""

    keys: list[str] = field(default_factory=list)
    key_index: dict[str, int] = field(default_factory=dict)
    key_of: array[int] = field(default_factory=lambda: array("I"))
    steps: array[int] = field(default_factory=lambda: array("q"))
    values: array[float] = field(default_factory=lambda: array("d"))
    walls: array[float] = field(default_factory=lambda: array("d"))

    def add(self, key: str, step: int, value: float, wall: float) -> None:
        index = self.key_index.get(key)
        if index is None:
            index = self.key_index[key] = len(self.keys)
            self.keys.append(key)
        self.key_of.append(index)
        self.steps.append(step)
        self.values.append(value)
        self.walls.append(wall)

    def __iter__(self) -> Iterator[ForeignPoint]:
        walls = self.walls
        ordered = all(a <= b for a, b in pairwise(walls))
        # Out of order only when two writers wrote the run at once: then sorted (stably) by time.
        for i in range(len(walls)) if ordered else sorted(range(len(walls)), key=walls.__getitem__):
            yield ForeignPoint(
                self.keys[self.key_of[i]],
                self.steps[i],
                self.values[i],
                datetime.fromtimestamp(walls[i], UTC),
            )


class _Reader:
    """TensorBoard's modules, imported once (they take ~0.15 s)."""

    def __init__(
        self, loader: Any, hparams_data: Any, tensor_util: Any, end_statuses: dict[int, Status]
    ) -> None:
        self.loader = loader
        self.hparams_data = hparams_data
        self.tensor_util = tensor_util
        self.end_statuses = end_statuses

    @classmethod
    def load(cls) -> _Reader:
        try:
            from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
            from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
            from tensorboard.util import tensor_util
        except ImportError:
            raise UsageError(
                "reading TensorBoard logs needs tensorboard, which is not installed",
                hint=install_hint("tensorboard"),
            ) from None
        ends = {api_pb2.STATUS_SUCCESS: Status.COMPLETED, api_pb2.STATUS_FAILURE: Status.FAILED}
        return cls(LegacyEventFileLoader, plugin_data_pb2.HParamsPluginData, tensor_util, ends)

    def run(self, root: Path, folder: Path, now: datetime) -> ForeignRun:
        """One run folder as an experiment (its points read once, into compact columns)."""
        files = _event_files(folder)
        relative = folder.relative_to(root).as_posix()
        points = _Points()
        plugins: dict[str, str] = {}  # tag -> plugin, from the tag's first value that names one
        config: dict[str, JsonValue] = {}
        ended: Status | None = None
        first = last = None
        source_id = files[0].name
        for file in files:
            read = False
            for event in self.loader(str(file)).Load():
                read = True
                wall = float(event.wall_time)
                if first is None:
                    source_id = f"{files[0].name}@{wall:.6f}"
                first = wall if first is None else min(first, wall)
                last = wall if last is None else max(last, wall)
                for value in event.summary.value:
                    tag = str(value.tag)
                    if value.HasField("metadata") and value.metadata.plugin_data.plugin_name:
                        plugins.setdefault(tag, str(value.metadata.plugin_data.plugin_name))
                    kind = value.WhichOneof("value")
                    if kind == "simple_value":
                        points.add(tag, int(event.step), float(value.simple_value), wall)
                    elif kind == "tensor" and plugins.get(tag) == "scalars":
                        number = self.tensor_util.make_ndarray(value.tensor).item()
                        points.add(tag, int(event.step), float(number), wall)
                    elif tag == _SESSION_START:
                        config = self._hparams(value.metadata.plugin_data.content)
                    elif tag == _SESSION_END:
                        data = self.hparams_data.FromString(value.metadata.plugin_data.content)
                        ended = self.end_statuses.get(int(data.session_end_info.status))
            if not read and file.stat().st_size:
                # A writer's first record (its file version) is whole in its first flush: nothing
                # readable is no event file, or a damaged one (a record damaged later ends the
                # reading of its file, as in TensorBoard: the loader takes it for one half written).
                raise UsageError(
                    f"{file} holds no record TensorBoard can read: it is damaged, or no event file; "
                    "nothing was imported",
                    hint="move it out of the folder, then import again",
                )
        if first is None or last is None:  # files begun, nothing written yet
            first = last = files[0].stat().st_mtime
        started = datetime.fromtimestamp(first, UTC)
        finished = datetime.fromtimestamp(last, UTC)
        status = ended or (Status.RUNNING if now - finished < RECENT else Status.COMPLETED)
        return ForeignRun(
            kind=KIND,
            source_id=source_id,
            created_at=started,
            started_at=started,
            ended_at=finished if status.is_final else None,
            status=status,
            error_message=_FAILED if status is Status.FAILED else None,
            name=relative if relative != "." else root.resolve().name,
            config=config,
            points=points,
        )

    def _hparams(self, content: bytes) -> dict[str, JsonValue]:
        """The session's hyperparameters: numbers are all doubles there, so whole ones become ints
        (a batch size of 32 is 32, not 32.0)."""
        from google.protobuf.json_format import MessageToDict

        data = self.hparams_data.FromString(content)
        found: dict[str, JsonValue] = {}
        for name, value in sorted(data.session_start_info.hparams.items()):
            kind = value.WhichOneof("kind")
            if kind == "number_value":
                number = float(value.number_value)
                found[str(name)] = int(number) if number.is_integer() else number
            elif kind == "string_value":
                found[str(name)] = str(value.string_value)
            elif kind == "bool_value":
                found[str(name)] = bool(value.bool_value)
            else:  # a list or struct, or null
                found[str(name)] = MessageToDict(value)
        return found
