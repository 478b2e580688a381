"""Reading an experiment's metrics journal (written by ``yanex.run_api``) into the database."""

from __future__ import annotations

import json
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
    """Moves journal lines into the database for the supervisor, which calls it every
    ``FLUSH_INTERVAL`` while the script runs and once more when it has ended."""

    def __init__(self, db: Database, experiment_id: str) -> None:
        self.db = db
        self.experiment_id = experiment_id
        self.reader = JournalReader(config.experiment_dir(experiment_id) / config.METRICS_FILE)

    def drain(self, *, beat: bool = False) -> None:
        """Ingest everything new; with ``beat``, also refresh the row's heartbeat."""
        records = self.reader.read_new()
        ingest_metrics(self.db, self.experiment_id, records, beat=beat)
        while records:  # a burst larger than one read
            records = self.reader.read_new()
            ingest_metrics(self.db, self.experiment_id, records)

    def last_records(self) -> list[MetricRecord]:
        """What the script wrote last, for the caller to store with the outcome in one
        transaction (all but the last read of a large burst is ingested here)."""
        records = self.reader.read_new()
        while more := self.reader.read_new():
            ingest_metrics(self.db, self.experiment_id, records)
            records = more
        return records
