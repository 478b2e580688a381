"""The installed packages a script runs with, read where it runs, for its journal.

The supervisor starts every script with its own interpreter (``sys.executable``) and environment,
so its ``importlib.metadata`` sees what the script can import: the path the script will search
(its own folder, then the supervisor's path past its first entry) is what is read. Reading 70
distributions' metadata costs about 60 ms (measured), so 300 would delay every experiment of a
batch by a quarter of a second: the set is cached per interpreter and path, in
``$YANEX_HOME/cache/``, and read again when a distribution is installed, upgraded or removed (its
``NAME-VERSION.dist-info`` folder appears or goes).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

from yanex import config
from yanex.store.environments import Packages, normalized

_METADATA = (".dist-info", ".egg-info")
_DRIVER = re.compile(r"Kernel Module\s+(?:for\s+\S+\s+)?(\d+(?:\.\d+)+)")


def search_path(script_path: Path) -> list[str]:
    """The folders the script's ``import`` searches: its own folder first, as Python puts it."""
    return [str(script_path.parent), *sys.path[1:]]


def _key(path: list[str]) -> str:
    """What the set depends on: the interpreter and the metadata folders on the path (their names
    carry the versions: ``numpy-2.1.3.dist-info``). Not the folders' mtimes, which a script's
    own folder changes at every write."""
    found = []
    for folder in path:
        with contextlib.suppress(OSError):
            found.append(
                [folder, sorted(e.name for e in os.scandir(folder or ".") if e.name.endswith(_METADATA))]
            )
    return hashlib.sha256(json.dumps([sys.executable, found]).encode()).hexdigest()


def installed(path: list[str]) -> dict[str, str]:
    """Distribution name to version, as ``import`` would find them on ``path`` (the first of two
    copies of one distribution wins, as it does for ``import``); cached on disk."""
    cached = config.yanex_home() / "cache" / f"packages-{_key(path)}.json"
    with contextlib.suppress(OSError, ValueError):
        found: Any = json.loads(cached.read_text())
        if type(found) is dict:
            return found
    from importlib.metadata import distributions

    packages: dict[str, str] = {}
    seen: set[str] = set()
    for dist in distributions(path=path):
        name = dist.name
        if not isinstance(name, str) or normalized(name) in seen:
            continue
        seen.add(normalized(name))
        packages[name] = dist.version
    with contextlib.suppress(OSError):  # a cache that cannot be written costs time, nothing else
        cached.parent.mkdir(parents=True, exist_ok=True)
        temporary = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(packages))
        temporary.replace(cached)
    return packages


def nvidia_driver() -> str | None:
    """The loaded NVIDIA kernel module's version, None without one."""
    try:
        with open("/proc/driver/nvidia/version") as handle:
            match = _DRIVER.search(handle.read())
    except OSError:
        return None
    return match[1] if match else None


@cache
def nvml() -> Any:
    """``pynvml`` initialised (extra ``[gpu]``), or None: no library, no driver or no GPU is no
    error, only no GPU metrics."""
    try:
        import pynvml  # type: ignore[import-not-found, import-untyped, unused-ignore]

        pynvml.nvmlInit()
    except Exception:  # ImportError, or any NVMLError: library, driver, permission
        return None
    return pynvml


def cuda_version() -> str | None:
    """The newest CUDA version the driver supports (``12.4``), through NVML, else None."""
    library = nvml()
    if library is None:
        return None
    try:
        number = int(library.nvmlSystemGetCudaDriverVersion_v2())
    except Exception:  # an NVMLError
        return None
    return f"{number // 1000}.{number % 1000 // 10}"


def capture(script_path: Path) -> Packages:
    driver = nvidia_driver()
    return Packages(installed(search_path(script_path)), driver, cuda_version() if driver else None)


def environment_line(script_path: Path) -> bytes:
    """The journal line that carries the set (``yanex.store.ingest`` stores it once by hash)."""
    import time

    entry = {"environment": capture(script_path).as_json(), "t": time.time()}
    return (json.dumps(entry, separators=(",", ":")) + "\n").encode()
