"""``yanex ui``'s curve readers (``yanex.ui.readers``): processes that read the compare page's parts
side by side. They answer what the server's own thread would, the server goes on without them
when they die, and they end with it however it ends: Ctrl-C to its process group, or SIGKILL."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import wait_until
from tests.ui_support import Server, start, stop
from yanex.ui.readers import MAX_READERS, READER_NAME

READERS = min(MAX_READERS, os.cpu_count() or 1)
CURVES = "/api/compare/curves?tag=sweep&key=loss&width={}"


def children(pid: int) -> dict[int, str]:
    """The server's child processes, by pid: their names (``comm``)."""
    found: dict[int, str] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread, or a child, ended meanwhile
            for child in (task / "children").read_text().split():
                with contextlib.suppress(OSError):
                    found[int(child)] = Path(f"/proc/{child}/comm").read_text().strip()
    return found


def readers(server: Server) -> list[int]:
    """The readers set up (named once they die with the server), by pid."""
    return [pid for pid, name in children(server.process.pid).items() if name == READER_NAME]


def ended(pids: list[int]) -> bool:
    return not any(map(alive, pids))


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@contextlib.contextmanager
def serving(store: Path) -> Iterator[Server]:
    """A server whose readers are all set up, stopped with Ctrl-C at the end: exit 0, no traceback."""
    server = start(store)
    try:
        wait_until(lambda: len(readers(server)) == READERS, "the readers", 30)
        yield server
    finally:
        code, err = stop(server)
    assert code == 0 and "Traceback" not in err, err


def test_the_server_reads_curves_in_one_process_per_core(store: Path) -> None:
    with serving(store) as server:
        assert server.json("/api/compare?tag=sweep")["cores"] == READERS
        # Read by the readers: the whole curves, and a zoom.
        first, second = server.json(CURVES.format(400)), server.json(CURVES.format(400) + "&from=0&to=19")
        assert len(first["runs"]) == 6 and len(second["runs"]) == 6
        assert all(run["highest"] <= 19 for run in second["runs"])


def test_curves_are_read_by_the_server_when_its_readers_died(store: Path) -> None:
    with serving(store) as server:
        before = server.json(CURVES.format(300))
        for pid in readers(server):
            os.kill(pid, signal.SIGKILL)
        # Another width: not an answer the server kept.
        after = server.json(CURVES.format(301))
        assert [run["values"] for run in after["runs"]] == [run["values"] for run in before["runs"]]
        assert server.json(CURVES.format(302) + "&part=1&parts=2")["runs"] == after["runs"][3:]
        assert server.json("/api/compare?tag=sweep")["cores"] == (os.cpu_count() or 1)


def test_a_server_killed_outright_takes_its_readers_along(store: Path) -> None:
    """Even readers that cannot see their pipe close: stopped here, as one deep in a long read."""
    server = start(store)
    try:
        wait_until(lambda: len(readers(server)) == READERS, "the readers", 30)
        left = list(children(server.process.pid))
        server.json(CURVES.format(400))
        for pid in readers(server):
            os.kill(pid, signal.SIGSTOP)
    finally:
        server.process.kill()
        server.process.wait()
    wait_until(functools.partial(ended, left), "the readers to end with the server", 30)


def test_ctrl_c_to_the_process_group_while_readers_start_says_no_traceback(store: Path) -> None:
    """As a terminal's Ctrl-C reaches the server and its readers at once, at the first moment it can."""
    for _ in range(3):
        process = subprocess.Popen(
            [sys.executable, "-m", "yanex", "ui", "--port", "0", "--no-browser"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "YANEX_HOME": str(store)},
            start_new_session=True,
        )
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith("http://127.0.0.1:")  # the readers are starting
            started = list(children(process.pid))
            os.killpg(process.pid, signal.SIGINT)
            _, err = process.communicate(timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        assert process.returncode == 0 and "Traceback" not in err, err
        wait_until(functools.partial(ended, started), "the readers to end", 30)
