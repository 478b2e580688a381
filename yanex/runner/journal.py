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
# Bytes ingested per tick while the script runs (about 20,000 points): a script that logs faster
# than the database takes it in must not starve the supervisor's other duties (output, heartbeat).
TICK_READ = 1024 * 1024
_FINAL_READ = 16 * 1024 * 1024
_SQLITE_INTEGER = range(-(2**63), 2**63)


def _record(line: bytes) -> MetricRecord | None:
    """One journal line as a record, or None for a line yanex cannot store."""
    try:
        entry = json.loads(line)
        step, moment, values = entry["step"], entry["t"], entry["values"]
        if type(step) is not int or step not in _SQLITE_INTEGER or not isinstance(values, dict):
            return None
        logged_at = datetime.fromtimestamp(moment, UTC).replace(tzinfo=None)
    except (ValueError, TypeError, KeyError, OverflowError, OSError):
        return None
    return MetricRecord(step, logged_at, values)


class JournalReader:
    """Reads complete lines past the last offset; a torn last line waits for its newline.

    Lines that cannot be stored are skipped and counted, never allowed to stop the ingest.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.skipped = 0
        self.behind = False  # the last read stopped at its size limit: more is waiting

    def read_new(self, limit: int | None = None) -> list[MetricRecord]:
        """Records of the complete lines written since the last call (about ``limit`` bytes)."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read(limit or -1)
                while limit and len(chunk) >= limit and b"\n" not in chunk:  # one line longer than that
                    more = handle.read(limit)
                    if not more:
                        break
                    chunk += more
        except FileNotFoundError:
            return []
        self.behind = limit is not None and len(chunk) >= limit
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        records = []
        for line in chunk[:end].splitlines():
            if not line.strip():
                continue
            record = _record(line)
            if record is None:
                self.skipped += 1
            else:
                records.append(record)
        return records


class JournalPump:
    """Moves journal lines into the database for the supervisor, which calls ``drain`` every
    ``FLUSH_INTERVAL`` while the script runs and ``last_records`` once it has ended."""

    def __init__(self, db: Database, experiment_id: str) -> None:
        self.db = db
        self.experiment_id = experiment_id
        self.reader = JournalReader(config.experiment_dir(experiment_id) / config.METRICS_FILE)

    def drain(self, *, beat: bool = False) -> bool:
        """Ingest one tick's worth (with ``beat``, refresh the heartbeat too); True if more waits."""
        ingest_metrics(self.db, self.experiment_id, self.reader.read_new(TICK_READ), beat=beat)
        return self.reader.behind

    def last_records(self) -> list[MetricRecord]:
        """What the script wrote last, for the caller to store with the outcome in one transaction
        (a large backlog is ingested here first, a bounded read at a time)."""
        records = self.reader.read_new(_FINAL_READ)
        while self.reader.behind:
            ingest_metrics(self.db, self.experiment_id, records)
            records = self.reader.read_new(_FINAL_READ)
        return records
