"""The supervisor's side of the metrics journal: ingest it while the script runs, drain it after.

The reading, parsing and idempotent storing live in ``yanex.store.ingest``, which reconcilers and
``yanex db repair`` use too.
"""

from __future__ import annotations

from yanex.db.engine import Database
from yanex.store.ingest import FINAL_READ, JournalIngest

FLUSH_INTERVAL = 0.5  # seconds: how stale `yanex show` may be while an experiment runs
# Bytes ingested per tick while the script runs (about 20,000 points): a script that logs faster
# than the database takes it in must not starve the supervisor's other duties (output, heartbeat).
TICK_READ = 1024 * 1024


class JournalPump:
    """Moves journal lines into the database for the supervisor, which calls ``drain`` every
    ``FLUSH_INTERVAL`` while the script runs and ``finish`` once it has ended."""

    def __init__(self, db: Database, experiment_id: str) -> None:
        self.ingest = JournalIngest(db, experiment_id)

    def drain(self, *, beat: bool = False) -> bool:
        """Ingest one tick's worth (with ``beat``, refresh the heartbeat too); True if more waits."""
        return self.ingest.step(TICK_READ, beat=beat)

    def finish(self) -> None:
        """Ingest everything the script wrote, in bounded transactions."""
        self.ingest.drain(FINAL_READ)
