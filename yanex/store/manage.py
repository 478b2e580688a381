"""Changing experiments after the fact: rename, describe, tag, archive, delete.

Each call is one IMMEDIATE transaction; ``delete`` checks for open experiments inside it, so an
experiment that starts meanwhile is never deleted under its supervisor.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from sqlite3 import Connection

from yanex import config
from yanex.db.engine import Database
from yanex.errors import UsageError
from yanex.specs import text_problem
from yanex.store.dialect import Binder, chunks
from yanex.store.experiments import OPEN_SQL
from yanex.store.owned import EXPERIMENT_OWNED_HERE
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
        for chunk in chunks(conn, ids, len(values) + len(remove_tags)):
            binder = Binder()
            in_chunk = binder.bind_all(chunk)
            if values:
                assignments = ", ".join(
                    f"{column} = {binder.bind(value)}" for column, value in values.items()
                )
                conn.execute(f"UPDATE experiments SET {assignments} WHERE id IN ({in_chunk})", binder.params)
            if remove_tags:
                removed = binder.bind_all(remove_tags)
                conn.execute(
                    f"DELETE FROM tags WHERE experiment_id IN ({in_chunk}) AND tag IN ({removed})",
                    binder.params,
                )
            conn.executemany(
                "INSERT INTO tags (experiment_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(experiment_id, tag) for experiment_id in chunk for tag in dict.fromkeys(add_tags)],
            )


def set_archived(db: Database, ids: Sequence[str], archived: bool) -> int:
    """Archive or unarchive; returns how many experiments changed."""
    changed = 0
    with db.write() as conn:
        for chunk in chunks(conn, ids, 1):
            binder = Binder()
            in_chunk = binder.bind_all(chunk)
            flag = binder.bind(archived)
            changed += conn.execute(
                f"UPDATE experiments SET archived = {flag} WHERE id IN ({in_chunk}) AND archived != {flag}",
                binder.params,
            ).rowcount
    return changed


def _give_back_free_pages(conn: Connection) -> None:
    """Shrink the file by the pages a delete freed, on a database with ``auto_vacuum=INCREMENTAL``
    (every one yanex creates; ``vacuum_database`` converts older ones). Elsewhere a no-op.

    pysqlite runs a pragma statement one step at a time and each step frees one page, so the pragma
    is run once per free page: ~10 ms per 4 MB freed.
    """
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
        return
    free = conn.execute("PRAGMA freelist_count").fetchone()[0] or 0
    cursor = conn.cursor()
    try:
        for _ in range(free):
            cursor.execute("PRAGMA incremental_vacuum(1)")
    finally:
        cursor.close()


def delete_with_files(db: Database, ids: Sequence[str]) -> int:
    """Delete experiments (tags, params and metrics cascade) and their folders.

    Rows whose owner is dead are settled first (``reconcile_orphans``); then, changing nothing, it
    refuses if any is still open (created, queued or running): its owner may be alive, even if
    stopped, and would write to a row that is gone. An open row ``yanex import`` brought has no
    owner here (``yanex.store.owned``) and is deleted like a final one. Patches and artifact blobs
    no experiment refers to any more are removed too, and the pages freed are given back to the
    file system.
    Returns the bytes of artifact blobs freed.
    """
    from yanex.artifacts.collect import collect

    blobs: set[str] = set()
    reconcile_orphans(db, ids)
    with db.write() as conn:
        busy: list[str] = []
        for chunk in chunks(conn, ids):
            binder = Binder()
            in_chunk = binder.bind_all(chunk)
            busy += [
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM experiments WHERE id IN ({in_chunk}) AND status IN {OPEN_SQL} "
                    f"AND {EXPERIMENT_OWNED_HERE}",
                    binder.params,
                )
            ]
        if busy:
            raise UsageError(
                f"refusing to delete {len(busy)} experiment(s) whose process may still be running "
                f"(created, queued or running): {', '.join(sorted(busy)[:10])}",
                hint="wait for them to finish, or stop them first (Ctrl-C, or kill the process "
                "given by their owner_pid)",
            )
        for chunk in chunks(conn, ids):
            binder = Binder()
            in_chunk = binder.bind_all(chunk)
            found = conn.execute(
                f"SELECT sha256 FROM artifacts WHERE experiment_id IN ({in_chunk})", binder.params
            )
            blobs.update(row[0] for row in found)
            conn.execute(f"DELETE FROM experiments WHERE id IN ({in_chunk})", binder.params)
        conn.execute(
            "DELETE FROM git_patches WHERE sha256 NOT IN "
            "(SELECT git_patch_sha256 FROM experiments WHERE git_patch_sha256 IS NOT NULL)"
        )
        conn.execute(
            "DELETE FROM environments WHERE sha256 NOT IN "
            "(SELECT environment_sha256 FROM experiments WHERE environment_sha256 IS NOT NULL)"
        )
        _give_back_free_pages(conn)
    for experiment_id in ids:
        shutil.rmtree(config.experiment_dir(experiment_id), ignore_errors=True)
    return collect(db, blobs).bytes
