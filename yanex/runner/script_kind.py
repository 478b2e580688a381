"""Which files yanex runs as scripts: Python files, by their suffix or their shebang.

yanex starts every script with the interpreter it runs on (``sys.executable script``), so a file
that is not Python would fail with a confusing SyntaxError (``yanex run config.yaml``), or worse,
run by accident. Accepted: a ``.py`` or ``.pyw`` file, or any file whose first line is a shebang
naming python (``#!/usr/bin/env python3``), as an extensionless tool script has.
"""

from __future__ import annotations

from pathlib import Path

_PYTHON_SUFFIXES = (".py", ".pyw")
_KNOWN = {
    ".yaml": "a YAML file",
    ".yml": "a YAML file",
    ".json": "a JSON file",
    ".toml": "a TOML file",
    ".ipynb": "a Jupyter notebook",
    ".sh": "a shell script",
    ".txt": "a text file",
    ".csv": "a CSV file",
}


def not_python(path: Path) -> str | None:
    """None for a Python script, else what the file looks like (``a YAML file``)."""
    if path.suffix.lower() in _PYTHON_SUFFIXES:
        return None
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError:
        head = b""
    first = head.split(b"\n", 1)[0].strip()
    if first.startswith(b"#!"):
        if b"python" in first:
            return None
        interpreter = first[2:].decode("utf-8", "replace").strip()
        return f"a script for {interpreter!r}, not Python"
    if path.suffix.lower() in _KNOWN:
        return _KNOWN[path.suffix.lower()]
    if b"\0" in head:
        return "a binary file"
    if path.suffix:
        return f"a {path.suffix} file, not a .py file"
    return "a file without the .py suffix or a python shebang"
