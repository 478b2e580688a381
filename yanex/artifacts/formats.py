"""Objects to files and back, chosen by the artifact's extension.

Each library (numpy, pandas, torch, matplotlib, yaml) is imported only by the format that needs it.
Pickle runs code when loaded, so ``.pkl`` (and a ``.pt`` or ``.npy`` holding arbitrary objects)
is written and read only when the caller says ``allow_pickle=True``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yanex.errors import UsageError, install_hint

# Libraries that an extra of yanex's checkout installs: its hint names the extra.
_EXTRAS = {"matplotlib": "plot", "pandas": "pandas"}


def _library(name: str, ext: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        package = {"matplotlib.figure": "matplotlib", "yaml": "pyyaml"}.get(name, name)
        extra = _EXTRAS.get(package)
        raise UsageError(
            f"{ext} artifacts need {package}, which is not installed",
            hint=install_hint(extra) if extra else f"pip install {package}",
        ) from None


def _wrong(ext: str, wanted: str, obj: object) -> UsageError:
    return UsageError(
        f"a {ext} artifact is saved from {wanted}, got {type(obj).__name__}",
        hint="pick the extension for the object (see yanex.save_artifact's help), or save the file "
        "yourself and record it with yanex.log_artifact(path)",
    )


def _save_json(obj: Any, path: Path, _: bool) -> None:
    import json

    with path.open("w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=2, ensure_ascii=False)


def _load_json(path: Path, _: bool) -> Any:
    import json

    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def _save_yaml(obj: Any, path: Path, _: bool) -> None:
    yaml = _library("yaml", ".yaml")
    with path.open("w", encoding="utf-8") as handle:
        yaml.safe_dump(obj, handle, sort_keys=False, allow_unicode=True)


def _load_yaml(path: Path, _: bool) -> Any:
    yaml = _library("yaml", ".yaml")
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _save_text(obj: Any, path: Path, _: bool) -> None:
    if not isinstance(obj, str):
        raise _wrong(".txt", "a str", obj)
    path.write_text(obj, encoding="utf-8")


def _load_text(path: Path, _: bool) -> Any:
    return path.read_text(encoding="utf-8")


def _save_csv(obj: Any, path: Path, _: bool) -> None:
    if type(obj).__name__ == "DataFrame" and hasattr(obj, "to_csv"):
        obj.to_csv(path, index=False)
        return
    if not isinstance(obj, list) or not all(isinstance(row, dict) for row in obj):
        raise _wrong(".csv", "a list of dicts or a pandas DataFrame", obj)
    import csv

    columns = list(dict.fromkeys(key for row in obj for key in row))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(obj)


def _load_csv(path: Path, _: bool) -> Any:
    pandas = _library("pandas", ".csv")
    try:
        return pandas.read_csv(path)
    except pandas.errors.EmptyDataError:  # an empty list was saved
        return pandas.DataFrame()


def _save_npy(obj: Any, path: Path, allow_pickle: bool) -> None:
    numpy = _library("numpy", ".npy")
    if not isinstance(obj, numpy.ndarray):
        raise _wrong(".npy", "a numpy array", obj)
    with path.open("wb") as handle:
        numpy.save(handle, obj, allow_pickle=allow_pickle)


def _load_npy(path: Path, allow_pickle: bool) -> Any:
    numpy = _library("numpy", ".npy")
    with path.open("rb") as handle:
        return numpy.load(handle, allow_pickle=allow_pickle)


def _save_npz(obj: Any, path: Path, allow_pickle: bool) -> None:
    numpy = _library("numpy", ".npz")
    if not isinstance(obj, dict) or not all(
        isinstance(key, str) and isinstance(value, numpy.ndarray) for key, value in obj.items()
    ):
        raise _wrong(".npz", "a dict of names to numpy arrays", obj)
    with path.open("wb") as handle:
        numpy.savez(handle, allow_pickle=allow_pickle, **obj)


def _load_npz(path: Path, allow_pickle: bool) -> Any:
    numpy = _library("numpy", ".npz")
    with numpy.load(path, allow_pickle=allow_pickle) as archive:
        return {key: archive[key] for key in archive.files}


def _save_torch(obj: Any, path: Path, _: bool) -> None:
    torch = _library("torch", ".pt")
    with path.open("wb") as handle:  # a handle: torch names the archive after a path's stem
        torch.save(obj, handle)


def _load_torch(path: Path, allow_pickle: bool) -> Any:
    # weights_only: tensors, state dicts and plain containers, without running pickled code.
    return _library("torch", ".pt").load(path, weights_only=not allow_pickle)


def _save_pickle(obj: Any, path: Path, _: bool) -> None:
    import pickle

    with path.open("wb") as handle:
        pickle.dump(obj, handle, protocol=pickle.HIGHEST_PROTOCOL)


def _load_pickle(path: Path, _: bool) -> Any:
    import pickle

    with path.open("rb") as handle:
        return pickle.load(handle)


def _figure_saver(ext: str) -> Callable[[Any, Path, bool], None]:
    def save(obj: Any, path: Path, _: bool) -> None:
        figure = _library("matplotlib.figure", ext)
        if not isinstance(obj, figure.Figure):
            raise _wrong(ext, "a matplotlib Figure", obj)
        with path.open("wb") as handle:
            obj.savefig(handle, format=ext[1:])

    return save


def _load_bytes(path: Path, _: bool) -> Any:
    return path.read_bytes()


@dataclass(frozen=True)
class Format:
    media_type: str
    save: Callable[[Any, Path, bool], None]
    load: Callable[[Path, bool], Any]
    pickles: bool = False  # saving and loading need allow_pickle=True


FORMATS: dict[str, Format] = {
    ".json": Format("application/json", _save_json, _load_json),
    ".yaml": Format("application/yaml", _save_yaml, _load_yaml),
    ".yml": Format("application/yaml", _save_yaml, _load_yaml),
    ".txt": Format("text/plain", _save_text, _load_text),
    ".csv": Format("text/csv", _save_csv, _load_csv),
    ".npy": Format("application/x-npy", _save_npy, _load_npy),
    ".npz": Format("application/x-npz", _save_npz, _load_npz),
    ".pt": Format("application/x-pytorch", _save_torch, _load_torch),
    ".pth": Format("application/x-pytorch", _save_torch, _load_torch),
    ".png": Format("image/png", _figure_saver(".png"), _load_bytes),
    ".pdf": Format("application/pdf", _figure_saver(".pdf"), _load_bytes),
    ".svg": Format("image/svg+xml", _figure_saver(".svg"), _load_bytes),
    ".pkl": Format("application/x-pickle", _save_pickle, _load_pickle, pickles=True),
}


def extension(name: str) -> str:
    return posixpath.splitext(name)[1].lower()


def for_saving(name: str, allow_pickle: bool) -> Format:
    """The format ``save_artifact`` uses for ``name``; ``UsageError`` naming the supported ones."""
    ext = extension(name)
    found = FORMATS.get(ext)
    if found is None:
        supported = ", ".join(FORMATS)
        raise UsageError(
            f"yanex.save_artifact cannot save {name!r}: "
            + (f"no format for {ext}" if ext else "the name has no extension")
            + f"; it saves {supported}",
            hint="save the file yourself and record it with yanex.log_artifact(path, name)",
        )
    if found.pickles and not allow_pickle:
        raise UsageError(
            f"{name!r} would be a pickle, which runs code when it is loaded",
            hint="pass allow_pickle=True if you mean it, or save it as .json, .npz or .pt",
        )
    return found


def media_type(name: str) -> str:
    """The media type recorded for an artifact: its format's, else a guess from the extension."""
    found = FORMATS.get(extension(name))
    if found is not None:
        return found.media_type
    import mimetypes

    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def load(name: str, path: Path, allow_pickle: bool) -> Any:
    """The object in the file ``path`` of the artifact ``name``; its bytes when yanex knows no
    format for its extension (a file recorded with ``log_artifact``), and for images."""
    found = FORMATS.get(extension(name))
    if found is None:
        return path.read_bytes()
    if found.pickles and not allow_pickle:
        raise UsageError(
            f"{name!r} is a pickle, which runs code when it is loaded",
            hint="pass allow_pickle=True if you trust the experiment that saved it",
        )
    return found.load(path, allow_pickle)
