"""What an artifact may be called: a relative path that stays inside the experiment's view."""

from __future__ import annotations

import posixpath

from yanex.errors import UsageError

_HINT = "use a relative name such as 'model.pt' or 'plots/loss.png'"
NAME_MAX = 255  # bytes in one file name: the limit of ext4, XFS, btrfs, tmpfs and most others


def _shown(name: str) -> str:
    """``name`` quoted for one error line, cut short if long."""
    return repr(name) if len(name) <= 60 else repr(name[:57]) + "..."


def check_name(name: object) -> str:
    """The name normalised (``a/./b`` is ``a/b``), or ``UsageError`` for one that could escape
    the store: absolute, empty, with a NUL or a backslash, or reaching ``..`` once normalised; or
    that no file system could hold (a part over ``NAME_MAX`` bytes), refused before anything is
    written rather than when its file is made."""
    if not isinstance(name, str):
        raise UsageError(f"an artifact name must be a string, got {type(name).__name__}", hint=_HINT)
    if "\x00" in name or "\\" in name:
        raise UsageError(f"artifact name {name!r} holds a NUL or a backslash", hint=_HINT)
    try:
        name.encode()
    except UnicodeEncodeError:
        raise UsageError(f"artifact name {name!r} is not valid text", hint=_HINT) from None
    if name.startswith("/"):
        raise UsageError(f"artifact name {name!r} is an absolute path", hint=_HINT)
    normal = posixpath.normpath(name)
    if normal in (".", "") or normal == ".." or normal.startswith("../"):
        raise UsageError(f"artifact name {name!r} leaves the experiment's artifacts", hint=_HINT)
    for part in normal.split("/"):
        if len(part.encode()) > NAME_MAX:
            raise UsageError(
                f"artifact name {_shown(name)} has a part of {len(part.encode())} bytes; "
                f"a file name holds at most {NAME_MAX}",
                hint="shorten it",
            )
    return normal
