"""Reading an experiment's metrics journal (written by ``yanex.run_api``) into the database."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from yanex import config
from yanex.db.engine import Database
from yanex.store.experiments import MetricRecord, ingest_metrics

FLUSH_INTERVAL = 0.5  # seconds: how stale `yanex show` may be while an experiment runs
HEARTBEAT_INTERVAL = 5.0
_MAX_READ = 16 * 1024 * 1024


class JournalReader:
    """Reads complete lines past the last offset; a torn last line waits for its newline."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read_new(self) -> list[MetricRecord]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read(_MAX_READ)
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        records = []
        for line in chunk[:end].splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            logged_at = datetime.fromtimestamp(entry["t"], UTC).replace(tzinfo=None)
            records.append(MetricRecord(entry["step"], logged_at, entry["values"]))
        return records


class JournalPump:
    """A thread that moves journal lines into the database and keeps the row's heartbeat."""

    def __init__(self, db: Database, experiment_id: str) -> None:
        self.db = db
        self.experiment_id = experiment_id
        self.reader = JournalReader(config.experiment_dir(experiment_id) / config.METRICS_FILE)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"yanex-journal-{experiment_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        since_beat = 0.0
        while not self._stop.wait(FLUSH_INTERVAL):
            since_beat += FLUSH_INTERVAL
            beat = since_beat >= HEARTBEAT_INTERVAL
            self.drain(beat=beat)
            if beat:
                since_beat = 0.0

    def drain(self, *, beat: bool = False) -> None:
        records = self.reader.read_new()
        ingest_metrics(self.db, self.experiment_id, records, beat=beat)
        while records:  # a burst larger than one read
            records = self.reader.read_new()
            ingest_metrics(self.db, self.experiment_id, records)

    def stop(self) -> list[MetricRecord]:
        """Stop the thread; return what the script wrote last, for the caller to store with the
        outcome (all but the last read of a large burst is ingested here)."""
        self._stop.set()
        self._thread.join()
        records = self.reader.read_new()
        while more := self.reader.read_new():
            ingest_metrics(self.db, self.experiment_id, records)
            records = more
        return records
