"""Curves read in processes of their own, so that the parts of a chart are read side by side.

The compare page asks for its 30 curves in parts, as many at a time as the server has readers
(``/api/compare``'s ``cores``). The server's threads share one interpreter: two parts asked
together took as long as one after the other (30 runs of 10,000 points: 40 ms a part alone, 72 ms
each two at a time, all parts 300 ms either way). Each reader here is a process holding its own
read-only connection, so each part is reduced on a core of its own.

Readers start with the server, from its main thread: they get the kernel's parent-death signal
tied to that thread (a server killed outright takes them along) and ignore Ctrl-C, which the
server takes for them (it stops them as it closes). A reader that cannot be reached (it died, it
failed to start) is dropped, and its curves are read in the request's own thread, as they are
without readers.
"""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import threading
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from yanex.db.engine import Database

MAX_READERS = 4  # a reader holds an interpreter and a connection: about 40 MB
READER_NAME = "yanex-ui-reader"


class CurveAsk(NamedTuple):
    """What one curve read takes (``yanex.store.series.series``'s arguments); sent to a reader."""

    experiment_id: str
    key: str
    buckets: int
    until: int
    first: int | None
    last: int | None
    times: bool


def read_curve(conn: sqlite3.Connection, ask: CurveAsk) -> bytes:
    """One curve as the JSON the pages read: ``yanex.store.series.Series``'s fields."""
    import json

    from yanex.store.series import series

    found = series(
        conn,
        ask.experiment_id,
        ask.key,
        buckets=ask.buckets,
        until=ask.until,
        first=ask.first,
        last=ask.last,
        times=ask.times,
    )
    fields = {name: getattr(found, name) for name in found.__dataclass_fields__}  # not asdict: no copies
    return json.dumps(fields, allow_nan=False, separators=(",", ":")).encode()


class Readers:
    """``count`` reader processes on ``db`` (module docstring); each request takes an idle one."""

    def __init__(self, db: Database, count: int) -> None:
        import multiprocessing
        from multiprocessing import resource_tracker

        context = multiprocessing.get_context("spawn")  # a fork would copy the server's connections
        # Spawning starts multiprocessing's resource tracker, which unblocks SIGINT after it: first.
        resource_tracker.ensure_running()
        # Idle readers; None once none is left, so that no request waits for one that died.
        self._idle: queue.SimpleQueue[tuple[BaseProcess, Connection] | None] = queue.SimpleQueue()
        self._all: list[tuple[BaseProcess, Connection]] = []
        self._lock = threading.Lock()
        self.count = 0
        # Blocked until each reader ignores it: a Ctrl-C while one starts would end it in a traceback.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for _ in range(count):
                ours, theirs = context.Pipe()
                process = context.Process(
                    target=_serve,
                    args=(theirs, db.url, os.getpid()),
                    name=READER_NAME,
                    daemon=True,
                )
                try:
                    process.start()
                except OSError:
                    ours.close()
                    break
                finally:
                    theirs.close()
                self._all.append((process, ours))
                self._idle.put((process, ours))
                self.count += 1
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if not self.count:
            self._idle.put(None)

    def curves(self, asks: list[CurveAsk]) -> list[bytes] | None:
        """The curves ``asks`` names, read by one reader; None when none is left (or it could not
        read them): the caller reads them itself."""
        while True:
            reader = self._idle.get()
            if reader is None:
                self._idle.put(None)
                return None
            process, pipe = reader
            try:
                pipe.send(asks)
                answer: list[bytes] | None = pipe.recv()
            except (OSError, EOFError):  # it died: the others go on without it
                process.kill()
                with self._lock:
                    self.count -= 1
                    if not self.count:
                        self._idle.put(None)
                continue
            self._idle.put(reader)
            return answer

    def close(self) -> None:
        """Stop every reader, busy or not: a page being read gets its answer from no one."""
        for process, pipe in self._all:
            process.kill()
            pipe.close()
        for process, _ in self._all:
            process.join(5)
        self._all.clear()
        self.count = 0
        self._idle.put(None)


def _serve(pipe: Connection, url: str, parent: int) -> None:
    """A reader: each message a list of ``CurveAsk``, answered with their JSON in one snapshot
    (None when reading failed: the server reads them again itself, and says why)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    from yanex.processes import call_this_process, die_with_parent

    die_with_parent(signal.SIGKILL)
    if os.getppid() != parent:  # the server was gone before the signal was set
        return
    call_this_process(READER_NAME)  # in ps and top; and, for tests, a reader set up so far
    from yanex.db.engine import Database
    from yanex.store.reading import reading

    db = Database(url)
    while True:
        try:
            asks: Any = pipe.recv()
        except (EOFError, OSError):
            return
        try:
            with reading(db, settle=False) as conn:
                answer: list[bytes] | None = [read_curve(conn, ask) for ask in asks]
        except Exception:  # a replaced or damaged store: the server's own read says so
            answer = None
        try:
            pipe.send(answer)
        except OSError:  # the server is gone
            return


__all__ = ["MAX_READERS", "READER_NAME", "CurveAsk", "Readers", "read_curve"]
