"""``yanex export``: selected experiments, with everything they need, in one self-contained file.

The file is a small yanex home in an uncompressed tar (``yanex.store.bundle``): a yanex database
holding only these experiments, their folders and the artifact blobs they use. The database is
made without SQLAlchemy or alembic (export must be quick): the source's own schema (its
``sqlite_master`` statements and its ``alembic_version`` row) is replayed into a new file, then
every table is copied with ``INSERT ... SELECT`` from the source attached read-only, in one read
transaction: one snapshot, however many writers run meanwhile, so each experiment's summaries
match its points exactly. Indexes are made after the rows (faster than keeping them while
inserting).

The experiments the selection depends on (``dependencies``, and the ones re-run by ``retry_of``),
however far back, are exported too, so that lineage survives the move. Folders and blobs are read
after the snapshot: a running experiment's log may hold a little more than its row says.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from yanex import config
from yanex.db.connections import read_only_uri
from yanex.errors import UsageError
from yanex.store.bundle import DATABASE, BundleWriter, FolderHome

# Source tables copied whole for the exported experiments, after ``experiments`` (in this order:
# ``batches`` and ``git_patches`` are what the experiments refer to).
_BY_EXPERIMENT = ("tags", "params", "metric_summary", "metric_goals", "artifacts")
# The experiments each one stands on: what it depends on, and what it re-runs.
_PARENTS = (
    "SELECT experiment_id AS child, depends_on_id AS parent FROM source.dependencies "
    "UNION ALL SELECT id, retry_of FROM source.experiments WHERE retry_of IS NOT NULL"
)
# Past this share of the source's points, the metrics are read in one pass over the table
# rather than through the index per experiment (measured: 0.5 s against 0.8 s for 1M points).
_SCAN_SHARE = 0.25


@dataclass(frozen=True)
class Exported:
    """What ``export_experiments`` wrote."""

    path: Path
    experiments: int  # in the file, ancestors included
    ancestors: int  # added because an exported experiment depends on them (or re-runs them)
    points: int
    artifacts: int
    blobs: int  # artifact contents in the file
    blob_bytes: int
    missing_blobs: int  # contents this store does not have (exported without them)
    bytes: int  # the file's size


@dataclass(frozen=True)
class _Copied:
    ids: list[str]
    ancestors: int
    points: int
    artifacts: int
    blobs: list[tuple[str, int]]  # (sha256, size) of each content the artifacts use


def export_experiments(source: Path, ids: Sequence[str], target: Path, *, force: bool) -> Exported:
    """Write the experiments ``ids`` of the database ``source`` (the store of YANEX_HOME: its
    folders and blobs go in too) to the file ``target``, written under a temp name and renamed.

    Refuses an existing ``target`` unless ``force`` (``check_target``).
    """
    check_target(target, force=force)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".yanex-export-") as scratch:
        database = Path(scratch) / DATABASE
        copied = _copy_database(source, ids, database)
        home = FolderHome(config.yanex_home())
        written = Path(scratch) / "export.tar"
        writer = BundleWriter(written)
        try:
            writer.add(DATABASE, database)
            for experiment_id in copied.ids:
                for member in home.experiment_files(experiment_id):
                    writer.add(member.name, home.root / member.name)
            blob_bytes = missing = 0
            for sha256, size in copied.blobs:
                blob = home.blob(sha256)
                if blob is None or blob.size != size:
                    missing += 1
                    continue
                blob_bytes += writer.add(blob.name, home.root / blob.name)
        finally:
            writer.close()
        os.replace(written, target)
    return Exported(
        path=target,
        experiments=len(copied.ids),
        ancestors=copied.ancestors,
        points=copied.points,
        artifacts=copied.artifacts,
        blobs=len(copied.blobs) - missing,
        blob_bytes=blob_bytes,
        missing_blobs=missing,
        bytes=target.stat().st_size,
    )


def check_target(target: Path, *, force: bool) -> None:
    """Refuse, before anything is read, a ``target`` that cannot be written or would replace a
    file without ``force``."""
    if target.is_dir():
        raise UsageError(f"{target} is a folder", hint="give the file to write, e.g. -o results.tar")
    if target.exists() and not force:
        raise UsageError(
            f"{target} exists already", hint="pass --force to replace it, or choose another name"
        )
    if not target.parent.is_dir():
        raise UsageError(
            f"cannot write {target}: {target.parent} is not an existing folder",
            hint="create the folder first, or fix the path",
        )


def _copy_database(source: Path, ids: Sequence[str], target: Path) -> _Copied:
    """A new yanex database at ``target`` holding the experiments ``ids`` of ``source`` and
    their ancestors, copied in one read transaction."""
    conn = sqlite3.connect(target.resolve().as_uri(), uri=True, isolation_level=None)
    try:
        # A scratch file, deleted if anything fails: no journal, no syncs (the tar is synced).
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("ATTACH DATABASE ? AS source", (read_only_uri(source),))
        conn.execute("BEGIN")  # the source's snapshot starts at the first read, and lasts until COMMIT
        conn.execute("CREATE TEMP TABLE chosen (id TEXT PRIMARY KEY)")
        conn.executemany("INSERT OR IGNORE INTO temp.chosen (id) VALUES (?)", [(i,) for i in ids])
        schema = conn.execute(
            "SELECT type, sql FROM source.sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
            "ORDER BY rowid"
        ).fetchall()
        for kind, statement in schema:
            if kind == "table":
                conn.execute(statement)
        conn.execute("INSERT INTO main.alembic_version SELECT * FROM source.alembic_version")
        conn.execute(
            f"WITH RECURSIVE parents AS ({_PARENTS}), wanted(id) AS (SELECT id FROM temp.chosen "
            "UNION SELECT parents.parent FROM parents JOIN wanted ON parents.child = wanted.id) "
            "INSERT INTO main.experiments SELECT * FROM source.experiments "
            "WHERE id IN (SELECT id FROM wanted) ORDER BY local_id"
        )
        exported = [row[0] for row in conn.execute("SELECT id FROM main.experiments ORDER BY local_id")]
        (selected,) = conn.execute(
            "SELECT count(*) FROM main.experiments WHERE id IN (SELECT id FROM temp.chosen)"
        ).fetchone()
        conn.execute(
            "INSERT INTO main.batches SELECT * FROM source.batches WHERE id IN "
            "(SELECT batch_id FROM main.experiments)"
        )
        conn.execute(
            "INSERT INTO main.git_patches SELECT * FROM source.git_patches WHERE sha256 IN "
            "(SELECT git_patch_sha256 FROM main.experiments)"
        )
        conn.execute(
            "INSERT INTO main.environments SELECT * FROM source.environments WHERE sha256 IN "
            "(SELECT environment_sha256 FROM main.experiments)"
        )
        for table in _BY_EXPERIMENT:
            conn.execute(
                f"INSERT INTO main.{table} SELECT * FROM source.{table} "
                "WHERE experiment_id IN (SELECT id FROM main.experiments)"
            )
        conn.execute(
            "INSERT INTO main.dependencies SELECT * FROM source.dependencies "
            "WHERE experiment_id IN (SELECT id FROM main.experiments)"
        )
        _copy_points(conn)
        for kind, statement in schema:
            if kind != "table":  # indexes, then views, in the source's order
                conn.execute(statement)
        (points,) = conn.execute("SELECT count(*) FROM main.metrics").fetchone()
        (artifacts,) = conn.execute("SELECT count(*) FROM main.artifacts").fetchone()
        blobs = conn.execute("SELECT DISTINCT sha256, size FROM main.artifacts ORDER BY sha256").fetchall()
        conn.execute("COMMIT")
    finally:
        conn.close()
    return _Copied(exported, len(exported) - selected, points, artifacts, [(s, n) for s, n in blobs])


def _copy_points(conn: sqlite3.Connection) -> None:
    """The exported experiments' metric rows, as they are (ids and local ids are the source's,
    which ``experiments.local_id`` keeps too)."""
    (wanted,) = conn.execute("SELECT coalesce(sum(count), 0) FROM main.metric_summary").fetchone()
    conn.execute(
        f"INSERT INTO main.metrics SELECT m.* FROM {metric_rows(conn, wanted)} "
        "WHERE m.experiment_local_id IN (SELECT local_id FROM main.experiments) ORDER BY m.id"
    )


def metric_rows(conn: sqlite3.Connection, wanted: int) -> str:
    """The ``metrics`` table of the database attached as ``source``, as ``m``, to read ``wanted``
    of its points from in id order: in one pass over the table when they are a good share of it,
    else through its index (SQLite, which has no statistics here, would always take the index)."""
    (stored,) = conn.execute("SELECT coalesce(max(id), 0) FROM source.metrics").fetchone()
    return "source.metrics AS m" + (" NOT INDEXED" if wanted >= _SCAN_SHARE * stored else "")
