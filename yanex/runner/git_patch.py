"""The experiment's git patch: what of the uncommitted changes it holds, in a form that applies.

Tracked changes (staged and unstaged) always go in. Untracked, non-ignored files go in when
``yanex.outgoing.take_outside`` lets them out of the checkout (names and content that look like
no credential, within the size caps) and they are UTF-8 text. Then the whole patch is scanned for
credentials and every hunk that seems to hold one is left out (``yanex.outgoing``, the policy the
cluster's code snapshot follows too). Each omission comes back as an ``OmittedChange``: a patch is
never partial without saying so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from yanex.display import format_size
from yanex.outgoing import file_path, secret_name, take_outside
from yanex.specs import OmittedChange

SNIFF_BYTES = 8192  # as git decides: a NUL byte in the first 8 KB makes a file binary

_C_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 34: '\\"', 92: "\\\\"}


def _quote(name: str) -> str:
    """A path as git writes it in a patch: C-quoted, octal bytes, when it has unusual characters."""
    raw = os.fsencode(name)
    if all(0x20 <= c < 0x7F and c not in (34, 92) for c in raw):
        return name
    escaped = (_C_ESCAPES.get(c) or (chr(c) if 0x20 <= c < 0x7F else f"\\{c:03o}") for c in raw)
    return '"' + "".join(escaped) + '"'


def readable(path: str) -> str:
    """A path from the file system as text that can be stored (undecodable bytes replaced)."""
    return os.fsencode(path).decode("utf-8", "replace")


def new_file_diff(path: str, text: str, mode: int) -> str:
    """The patch git writes for a new file holding ``text`` (``git apply`` creates it)."""
    a, b = _quote(f"a/{path}"), _quote(f"b/{path}")
    head = f"diff --git {a} {b}\nnew file mode {mode:o}\n"
    if not text:
        return head
    lines = text.split("\n")
    ends_with_newline = lines[-1] == ""
    if ends_with_newline:
        lines.pop()
    span = "1" if len(lines) == 1 else f"1,{len(lines)}"
    body = "".join(f"+{line}\n" for line in lines)
    if not ends_with_newline:
        body += "\\ No newline at end of file\n"
    return f"{head}--- /dev/null\n+++ {b}\n@@ -0,0 +{span} @@\n{body}"


class Untracked(NamedTuple):
    diff: str  # new-file patches of the files taken
    omitted: list[OmittedChange]


def untracked_diff(top: Path, paths: Sequence[str], file_limit: int, total_limit: int) -> Untracked:
    """New-file patches for the untracked ``paths`` (relative to ``top``) that may be kept."""
    parts: list[str] = []
    omitted: list[OmittedChange] = []
    total = 0
    for path in paths:
        taken = _read_untracked(top / path, path, file_limit, total_limit, total_limit - total)
        if isinstance(taken, str):
            omitted.append(OmittedChange(path=readable(path), reason=taken))
            continue
        text, mode, size = taken
        parts.append(new_file_diff(path, text, mode))
        total += size
    return Untracked("".join(parts), omitted)


def _read_untracked(
    file: Path, path: str, file_limit: int, total_limit: int, room: int
) -> tuple[str, int, int] | str:
    """The text, mode and size of a file to keep, or why it is left out."""
    if path.endswith("/"):
        return "a nested git repository"
    if file.is_symlink() and not secret_name(path):  # a patch records a link as its target
        try:
            target = os.readlink(file)
        except OSError as error:
            return f"unreadable: {error.strerror or error}"
        if len(target) > room:
            return f"untracked files over {format_size(total_limit)} in all"
        return readable(target), 0o120000, len(target)
    taken = take_outside(file, path, file_limit, total_limit, room)
    if isinstance(taken, str):
        return taken
    if b"\0" in taken.data[:SNIFF_BYTES]:
        return "binary"
    try:
        text = taken.data.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8 text"
    mode = 0o100755 if taken.mode & 0o100 else 0o100644
    return text, mode, len(taken.data)


def decoded_sections(raw: bytes) -> Iterator[str | OmittedChange]:
    """A ``git diff`` output as text, file by file; a file whose diff is not UTF-8 is left out
    (decoding it with replacements would store a patch that no longer applies)."""
    try:
        yield raw.decode("utf-8")
        return
    except UnicodeDecodeError:
        pass
    for section in re.split(rb"(?m)^(?=diff --git )", raw):
        try:
            yield section.decode("utf-8")
        except UnicodeDecodeError:
            path = file_path(section.decode("utf-8", "replace"))
            yield OmittedChange(path=path, reason="its changes are not UTF-8 text")
