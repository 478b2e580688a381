"""What the server keeps between requests: curves, as the JSON they were sent as, and the whole
buckets of live tails (``yanex.store.series.KeptBuckets``).

Curves: the compare page asks for the same
30 curves again for every change of view (a key and back, a group and back, a zoom reset), and a
reduced curve of 10,000 points costs its reduction (``yanex.store.series``) and its encoding.

A curve is read up to the page's cursor (``id <= until``), and ``metrics`` rows are only ever
inserted, each with a larger id than any before, so the points of experiment X with ``id <=
until`` are the same in every later snapshot: a curve is keyed by the file's identity (a replaced
database starts afresh), the experiment's id (128 random bits, never reused), the metric, the
cursor, the step range, the width and whether times were asked for. It is kept only when the
cursor is not past the snapshot's own (a later point could still take an id below it). The one
way a kept curve could differ from a fresh read: points of a deleted experiment's ids given to
new points of X, which a page holding the old cursor would not be shown live either.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from yanex.store.series import KeptBuckets

KEPT_BYTES = 32 * 1024 * 1024  # about 1.2 million points of encoded curves


class Kept:
    """Encoded curves by key (module docstring), the least recently used dropped past
    ``KEPT_BYTES``, and live tails' whole ``buckets``; shared by the server's threads."""

    def __init__(self, limit: int = KEPT_BYTES) -> None:
        self.buckets = KeptBuckets()
        self._limit = limit
        self._lock = threading.Lock()
        self._kept: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            body = self._kept.get(key)
            if body is not None:
                self._kept.move_to_end(key)
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        if len(body) > self._limit:
            return
        with self._lock:
            old = self._kept.pop(key, None)
            self._size += len(body) - (len(old) if old is not None else 0)
            self._kept[key] = body
            while self._size > self._limit:
                _, dropped = self._kept.popitem(last=False)
                self._size -= len(dropped)
