"""``yanex ingest``: recover experiments from the spool cluster workers write, idempotently.

A worker keeps each experiment's folder in its spool (``yanex.executors.remote``): the metrics
journal, the output and the outcome marker (and in the spool's ``blobs/``, the contents of the
artifacts its scripts saved). When the orchestrator dies before it has them, the rows stay open
(then reconciled ``failed``) with only the points that had streamed back. Ingesting
a spool folder appends the journal bytes the local copy lacks, ingests them from the offset the
database holds (each point exactly once, however often it runs), copies the contents of the
artifacts it records that the blob store lacks, copies the output, and records the outcome the
worker saw over an open or "lost" row.

Exactly once under concurrency too: while the process that runs an experiment lives, it appends
what the worker streams to the local journal as it comes, so an ingest then is refused (it would
append the same bytes first, and they would be stored twice); two ingests at once append under
an exclusive lock on the local journal.
"""

from __future__ import annotations

import fcntl
import shutil
from dataclasses import dataclass
from pathlib import Path

from yanex import config
from yanex.artifacts import blobs
from yanex.artifacts.transfer import FolderSource, copy_blobs, saved_in, spool_blobs
from yanex.db.engine import Database
from yanex.errors import UsageError
from yanex.executors.remote import TASK_FILE
from yanex.store.experiments import Owner
from yanex.store.ingest import JournalIngest, record_recovered, stored_offset
from yanex.store.outcome import read_marker_file
from yanex.store.reconcile import live_owners


@dataclass(frozen=True)
class Recovered:
    experiment_id: str
    known: bool  # the database has the row
    points: int  # newly stored
    outcome: str | None  # the status recorded now, if this run recorded one
    note: str | None = None
    contents: int = 0  # artifact contents brought home


def spool_folders(path: Path) -> list[Path]:
    """The experiment folders at ``path``: the folder itself, those directly inside it, or those
    in the ``spool`` of a Slurm batch's folder or of every batch in the Slurm folder."""
    if (path / TASK_FILE).is_file():
        return [path]
    patterns = (f"*/{TASK_FILE}", f"spool/*/{TASK_FILE}", f"*/spool/*/{TASK_FILE}")
    return sorted({found.parent for pattern in patterns for found in path.glob(pattern)})


def _append_missing(spooled: bytes, target: Path) -> str | None:
    """Make ``target`` (the local journal) hold all of ``spooled``; a note if they disagree. Under
    an exclusive lock on ``target``: another ingest reads it only once this one has appended."""
    with target.open("a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        handle.seek(0)
        local = handle.read()
        if not spooled.startswith(local):
            return f"its local journal is not a prefix of the spool's; {target} left as it is"
        handle.write(spooled[len(local) :])  # at the end: the file is open in append mode
    return None


def recover(db: Database, folder: Path) -> Recovered:
    experiment_id = folder.name
    if stored_offset(db, experiment_id) is None:
        return Recovered(experiment_id, False, 0, None, "not in this database")
    local = config.experiment_dir(experiment_id)
    local.mkdir(parents=True, exist_ok=True)
    try:
        spooled = (folder / config.METRICS_FILE).read_bytes()
    except OSError:
        spooled = b""
    # The contents of its artifacts first, as a saver does: under the blob lock until the lines
    # that refer to them are in the local journal.
    saved = saved_in(spooled)
    root = config.blobs_root()
    with blobs.lock_for(root).held():
        copied = copy_blobs(root, FolderSource(spool_blobs(folder.parent), "the spool's blob folder"), saved)
        note = _append_missing(spooled, local / config.METRICS_FILE) if spooled else None
    lacking = [artifact for artifact in saved if artifact.sha256 in copied.failed]
    if lacking:
        first = f"{lacking[0].name}: {copied.failed[lacking[0].sha256]}"
        missing = f"the content of {len(lacking)} artifact(s) could not be brought home ({first})"
        note = f"{note}; {missing}" if note else missing
    for name in (config.STDOUT_FILE, config.STDERR_FILE, config.CONFIG_FILE, config.PARAMS_FILE):
        source, target = folder / name, local / name
        if source.is_file() and (not target.exists() or target.stat().st_size < source.stat().st_size):
            shutil.copyfile(source, target)
    ingest = JournalIngest(db, experiment_id)
    ingest.drain()
    marker = read_marker_file(folder / config.OUTCOME_FILE)
    outcome = None
    if marker is not None and record_recovered(
        db, experiment_id, marker.status, marker.exit_code, marker.error_message, marker.ended_at
    ):
        outcome = marker.status.value
    return Recovered(experiment_id, True, ingest.points, outcome, note, copied.count)


def _refuse_live(owners: dict[str, Owner]) -> None:
    """``UsageError`` naming the experiments whose owner lives, and what to do."""
    ids = sorted(owners)
    names = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
    owner = owners[ids[0]]
    others = len(set(owners.values())) - 1
    one = len(ids) == 1
    raise UsageError(
        f"experiment{'' if one else 's'} {names} {'is' if one else 'are'} still being run by yanex "
        f"process {owner.pid} on {owner.host}"
        + (f" (and {others} other process{'es' * (others > 1)})" if others else "")
        + f", which stores {'its' if one else 'their'} points as they come: ingesting "
        + f"{'its spool' if one else 'their spools'} now would store them twice",
        hint="wait for it to end (or stop it: Ctrl-C where it runs), then run `yanex ingest` again",
    )


def ingest_spool(path: Path, db: Database | None = None) -> list[Recovered]:
    """Recover every experiment folder at ``path`` (see the module docstring); ``UsageError``,
    before anything is written, if a live process still runs any of them."""
    db = db or Database()
    folders = spool_folders(path)
    # Rows of a dead orchestrator are settled first (then corrected here); a live one's are refused.
    owners = live_owners(db, [folder.name for folder in folders])
    if owners:
        _refuse_live(owners)
    return [recover(db, folder) for folder in folders]


__all__ = ["Recovered", "ingest_spool", "recover", "spool_folders"]
