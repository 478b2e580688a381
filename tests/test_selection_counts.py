"""A page of a filter's experiments (``select_page``): the count kept while the store does not
change (``yanex.store.counts``), recounted after any commit or a replaced file, and the two ways of
reading a page in a metric's order giving the same rows."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from yanex.db.engine import Database
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
from yanex.store import selection
from yanex.store.counts import SelectionCounts
from yanex.store.experiments import Owner, create_experiments
from yanex.store.filters import ExperimentFilter
from yanex.store.reading import reading
from yanex.store.selection import select_page


def add(db: Database, count: int, tag: str = "t") -> list[str]:
    specs = [ExperimentSpec(script_path=Path("t.py"), tags=[tag], config={"i": i}) for i in range(count)]
    return create_experiments(
        db, specs, status=Status.CREATED, owner=Owner("host", 1), git=GitInfo(), environment=EnvironmentInfo()
    )


def page(db: Database, counts: SelectionCounts, flt: ExperimentFilter, statements: list[str]) -> int:
    """One page as the web view reads it; the statements it ran are appended to ``statements``."""
    before = counts.version()
    with reading(db, settle=False) as conn:
        conn.set_trace_callback(statements.append)
        return select_page(conn, flt, 0, 10, counts, before).total


def counted(statements: list[str]) -> int:
    return sum(1 for text in statements if text.startswith("SELECT COUNT(*) FROM (SELECT"))


def test_a_count_is_kept_until_another_connection_commits(db: Database) -> None:
    add(db, 30)
    counts = SelectionCounts(db.path)
    statements: list[str] = []
    flt = ExperimentFilter(tags=["t"])
    assert page(db, counts, flt, statements) == 30
    assert page(db, counts, flt, statements) == 30
    assert counted(statements) == 1  # the second page used the kept count
    assert page(db, counts, ExperimentFilter(tags=["t"], sort="name"), statements) == 30
    assert counted(statements) == 1  # the order does not change the count
    add(db, 5)  # the test's writer is another connection: its commit changes data_version
    statements.clear()
    assert page(db, counts, flt, statements) == 35
    assert counted(statements) == 1
    counts.close()


def test_a_commit_between_the_version_and_the_snapshot_recounts_next_time(db: Database) -> None:
    add(db, 3)
    counts = SelectionCounts(db.path)
    flt = ExperimentFilter(tags=["t"])
    before = counts.version()
    add(db, 2)  # lands after `before` was read, before the snapshot begins
    with reading(db, settle=False) as conn:
        assert select_page(conn, flt, 0, 10, counts, before).total == 5
    statements: list[str] = []
    assert page(db, counts, flt, statements) == 5
    assert counted(statements) == 1  # kept under the older version: never trusted again
    counts.close()


def test_a_replaced_database_file_is_counted_again(db: Database, tmp_path: Path) -> None:
    add(db, 4)
    db.dispose()
    copy = tmp_path / "copy.db"
    shutil.copy(db.path, copy)
    other = sqlite3.connect(copy)  # the copy loses rows by no commit the watcher could see
    with other:
        other.execute("DELETE FROM tags WHERE rowid IN (SELECT rowid FROM tags LIMIT 3)")
    other.close()
    counts = SelectionCounts(db.path)
    flt = ExperimentFilter(tags=["t"])
    assert page(db, counts, flt, []) == 4
    os.replace(copy, db.path)
    for side in ("-wal", "-shm"):  # the old file's, which the watcher still holds open
        Path(f"{db.path}{side}").unlink(missing_ok=True)
    assert page(Database(), counts, flt, []) == 1
    counts.close()


@pytest.mark.parametrize("whole", [0, 10_000])
def test_a_metric_order_reads_the_same_pages_sorted_whole_or_from_its_index(
    db: Database, monkeypatch: pytest.MonkeyPatch, whole: int
) -> None:
    from yanex.store.experiments import insert_points
    from yanex.store.summary import PointRow

    ids = add(db, 25)
    add(db, 10, tag="other")
    with db.write() as conn:  # every third run has no loss: those come last, newest first
        points: list[PointRow] = [
            (eid, "loss", 0, float((7 * n) % 25), None, "2026-01-01 00:00:00.000000")
            for n, eid in enumerate(ids)
            if n % 3
        ]
        insert_points(conn, points)
    monkeypatch.setattr(selection, "SORT_WHOLE", whole)
    flt = ExperimentFilter(tags=["t"], sort="metrics.loss.min", desc=True)
    with reading(db, settle=False) as conn:
        expected = [row[0] for row in conn.execute(*_full(flt))]
        pages = [select_page(conn, flt, offset, 10).ids for offset in (0, 10, 20)]
    assert [eid for ids_ in pages for eid in ids_] == expected
    assert len(expected) == 25


def _full(flt: ExperimentFilter) -> tuple[str, dict[str, object]]:
    from yanex.store.filters import compile_filter

    sql = compile_filter(flt)
    return sql.text, sql.sqlite_params()
