"""User text made safe to print: names, tags, values, descriptions, error messages.

Printed raw, a tag ``\\x1b[2J`` clears the screen, an OSC sequence sets the window title or the
clipboard, a carriage return overwrites what a line showed, and a newline splits the row a pipe
reads. Every such character (C0 and C1 controls, DEL, line and paragraph separators, bidi
overrides, lone surrogates) is shown as a Python-style escape instead: ``\\x1b``, ``\\n``,
``\\u202e``. Standard library only: the runner and the CLI edge use it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# A tag printed bare: no comma, double quote or backslash, no space at either end, no control.
_BARE_TAG = re.compile(r'[^\s,"\\](?:[^,"\\]*[^\s,"\\])?')


def _escape(char: str) -> str:
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: str, keep: str = "") -> str:
    """``text`` with every unsafe character escaped, except those in ``keep`` (such as ``"\\n"``
    for a block of several lines)."""
    if text.isprintable():  # no control, separator or format character: the common case, in C
        return text
    return _UNSAFE.sub(lambda m: m.group() if m.group() in keep else _escape(m.group()), text)


def json_printable(text: str) -> str:
    """JSON text with unsafe characters inside its strings written as ``\\uXXXX``: the same data.

    ``json.dumps`` escapes C0 controls but passes C1 controls and separators through; newlines,
    tabs and carriage returns outside strings are the layout and stay.
    """
    return _UNSAFE.sub(lambda m: m.group() if m.group() in "\n\r\t" else f"\\u{ord(m.group()):04x}", text)


def tag_list(tags: Iterable[str]) -> str:
    """Tags separated by commas, unambiguously: a tag that has a comma, a double quote, a
    backslash, a control character or a space at either end is written as a JSON string
    (``baseline,"a,b"``)."""
    import json

    return ",".join(
        tag
        if _BARE_TAG.fullmatch(tag) and not _UNSAFE.search(tag)
        else json_printable(json.dumps(tag, ensure_ascii=False))
        for tag in tags
    )


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None.

    The database and the experiment files hold UTF-8, which has no lone surrogates; Python makes
    them from bytes that were not UTF-8 (a file name or argument with ``\\xff``: ``os.fsdecode``).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return (
            f"contains {text[error.start]!r} at position {error.start}, a lone surrogate that UTF-8 "
            "cannot hold (from bytes that were not valid UTF-8)"
        )
    return None
