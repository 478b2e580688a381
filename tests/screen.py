"""A command run in a real pseudo-terminal of a given size, read back as a person sees the screen.

The bytes the command writes go through pyte, a VT100 emulator: what scrolled off the top or
wrapped at the right edge is seen as such. ``Screen.lines`` are the raw lines written (escape
sequences removed), to check that none is wider than the window.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass

import pyte

from tests.conftest import _take_terminal

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class Screen:
    display: list[str]  # the window's rows, padded to its width
    written: str  # everything the command wrote, escape sequences and all
    colours: list[list[str]]  # each cell's foreground colour name ("default", "cyan", ...)

    @property
    def rows(self) -> list[str]:
        """The window's rows without trailing blanks."""
        return [row.rstrip() for row in self.display]

    def lines(self, frame: str | None = None) -> list[str]:
        """The lines written (of the last frame that starts with ``frame``), without escapes."""
        text = self.written
        if frame is not None:
            text = text[text.rindex(frame) :]
        return [_ESCAPES.sub("", line) for line in text.replace("\r\n", "\n").split("\n")]


def run_in_window(
    args: list[str], *, columns: int = 80, rows: int = 24, until: str | None = None, seconds: float = 60
) -> Screen:
    """``yanex ARGS`` in a pseudo-terminal of ``columns`` x ``rows``: until it exits, or (a live
    command) until ``until`` has been written twice, when q is typed and it must exit."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
    screen = pyte.Screen(columns, rows)
    stream = pyte.ByteStream(screen)
    written = b""
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "yanex", *args],
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            start_new_session=True,
            preexec_fn=_take_terminal,
            env={**env, "TERM": "xterm-256color"},
        )
        deadline = time.monotonic() + seconds
        quit_sent = False
        while time.monotonic() < deadline:
            if until is not None and not quit_sent and written.count(until.encode()) >= 2:
                snapshot = (list(screen.display), _colours(screen))
                os.write(controller, b"q")
                quit_sent = True
            if select.select([controller], [], [], 0.1)[0]:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                written += chunk
                stream.feed(chunk)
            elif process.poll() is not None:
                break
        assert process.wait(timeout=30) == 0, written.decode(errors="replace")
    finally:
        os.close(terminal)
        os.close(controller)
    if until is not None:  # the live screen as it was before q restored the terminal
        assert quit_sent, f"{until!r} was not drawn twice: {written.decode(errors='replace')}"
        display, colours = snapshot
    else:
        display, colours = list(screen.display), _colours(screen)
    return Screen(display, written.decode(), colours)


def _colours(screen: pyte.Screen) -> list[list[str]]:
    return [[screen.buffer[y][x].fg for x in range(screen.columns)] for y in range(screen.lines)]
