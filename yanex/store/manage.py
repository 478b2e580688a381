"""Changing experiments after the fact: rename, describe, tag, archive, delete.

Each call is one IMMEDIATE transaction; ``delete`` checks for open experiments inside it, so an
experiment that starts meanwhile is never deleted under its supervisor.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence

from sqlalchemy import Connection, delete, insert, select, update

from yanex import config
from yanex.db.engine import Database
from yanex.db.models import ExperimentRow, GitPatchRow, TagRow
from yanex.errors import UsageError
from yanex.specs import text_problem
from yanex.store.experiments import OPEN_STATUSES
from yanex.store.query import chunks
from yanex.store.reconcile import reconcile_orphans

_INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL


def update_experiments(
    db: Database,
    ids: Sequence[str],
    *,
    name: str | None = None,
    description: str | None = None,
    add_tags: Sequence[str] = (),
    remove_tags: Sequence[str] = (),
) -> None:
    """Set name and/or description and add/remove tags on each experiment (None leaves a field)."""
    for tag in add_tags:
        if not tag.strip():
            raise UsageError("tags must be non-empty", hint="pass --add-tag NAME")
    texts = [("name", name), ("description", description)] + [
        ("tag", tag) for tag in [*add_tags, *remove_tags]
    ]
    for field, text in texts:
        problem = text_problem(text) if text is not None else None
        if problem:
            raise UsageError(f"{field} {problem}", hint="pass text that is valid UTF-8")
    values = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
    with db.write() as conn:
        for chunk in chunks(ids):
            if values:
                conn.execute(update(ExperimentRow).where(ExperimentRow.id.in_(chunk)).values(**values))
            if remove_tags:
                conn.execute(
                    delete(TagRow).where(TagRow.experiment_id.in_(chunk), TagRow.tag.in_(remove_tags))
                )
            if add_tags:
                have = set(
                    conn.execute(
                        select(TagRow.experiment_id, TagRow.tag).where(
                            TagRow.experiment_id.in_(chunk), TagRow.tag.in_(add_tags)
                        )
                    )
                )
                new = [
                    {"experiment_id": i, "tag": t}
                    for i in chunk
                    for t in dict.fromkeys(add_tags)
                    if (i, t) not in have
                ]
                if new:
                    conn.execute(insert(TagRow), new)


def set_archived(db: Database, ids: Sequence[str], archived: bool) -> int:
    """Archive or unarchive; returns how many experiments changed."""
    changed = 0
    with db.write() as conn:
        for chunk in chunks(ids):
            result = conn.execute(
                update(ExperimentRow)
                .where(ExperimentRow.id.in_(chunk), ExperimentRow.archived != archived)
                .values(archived=archived)
            )
            changed += result.rowcount
    return changed


def _give_back_free_pages(conn: Connection) -> None:
    """Shrink the file by the pages a delete freed, on a database with ``auto_vacuum=INCREMENTAL``
    (every one yanex creates; ``vacuum_database`` converts older ones). Elsewhere a no-op.

    pysqlite runs a pragma statement one step at a time and each step frees one page, so the pragma
    is run once per free page: ~10 ms per 4 MB freed.
    """
    if conn.dialect.name != "sqlite" or conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() != _INCREMENTAL:
        return
    free = conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0
    sqlite = conn.connection.driver_connection
    assert sqlite is not None  # an open transaction has its connection
    cursor = sqlite.cursor()
    try:
        for _ in range(free):
            cursor.execute("PRAGMA incremental_vacuum(1)")
    finally:
        cursor.close()


def delete_with_files(db: Database, ids: Sequence[str]) -> int:
    """Delete experiments (tags, params and metrics cascade) and their folders.

    Rows whose owner is dead are settled first (``reconcile_orphans``); then, changing nothing, it
    refuses if any is still open (created, queued or running): its owner may be alive, even if
    stopped, and would write to a row that is gone. Patches and artifact blobs no experiment
    refers to any more are removed too, and the pages freed are given back to the file system.
    Returns the bytes of artifact blobs freed.
    """
    from yanex.artifacts.collect import collect
    from yanex.db.models import ArtifactRow

    blobs: set[str] = set()
    for chunk in chunks(ids):
        reconcile_orphans(db, chunk)
    with db.write() as conn:
        busy: list[str] = []
        for chunk in chunks(ids):
            busy += conn.scalars(
                select(ExperimentRow.id).where(
                    ExperimentRow.id.in_(chunk), ExperimentRow.status.in_(OPEN_STATUSES)
                )
            )
        if busy:
            raise UsageError(
                f"refusing to delete {len(busy)} experiment(s) whose process may still be running "
                f"(created, queued or running): {', '.join(sorted(busy)[:10])}",
                hint="wait for them to finish, or stop them first (Ctrl-C, or kill the process "
                "given by their owner_pid)",
            )
        for chunk in chunks(ids):
            blobs.update(conn.scalars(select(ArtifactRow.sha256).where(ArtifactRow.experiment_id.in_(chunk))))
            conn.execute(delete(ExperimentRow).where(ExperimentRow.id.in_(chunk)))
        conn.execute(
            delete(GitPatchRow).where(
                GitPatchRow.sha256.not_in(
                    select(ExperimentRow.git_patch_sha256).where(ExperimentRow.git_patch_sha256.is_not(None))
                )
            )
        )
        _give_back_free_pages(conn)
    for experiment_id in ids:
        shutil.rmtree(config.experiment_dir(experiment_id), ignore_errors=True)
    return collect(db, blobs).bytes
