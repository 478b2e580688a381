"""What ``yanex import`` does with each experiment of a source: the same id here or not, and
what differs between the two copies.

Compared: the columns a user sees change (``COMPARED``), tags, each metric's count and last value,
and artifacts (name and content). Not compared: what only says where a copy lives or who wrote it
(``local_id``, ``metrics_offset``, ``imported_at``, the owner and heartbeat columns), nor what cannot
differ for one id (script, git and environment columns are written once, when it is created).

An experiment is a run: two copies differ only because one store saw it later than the other (a
copy exported while it ran) or because a user changed one (``yanex update --tag``). The first is
recognised by its points, logged in the same order everywhere: the earlier copy's points are the
first ones of the later copy's, in logging order (``_extends``). Only a copy this store imported
and that is still open takes the later state; anything else that differs is a conflict, kept as
this store has it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from enum import StrEnum

from yanex.status import OPEN_STATUSES

COMPARED = (
    "status",
    "created_at",
    "started_at",
    "ended_at",
    "duration",
    "exit_code",
    "error_message",
    "config",
    "spec_sha256",
    "name",
    "description",
    "archived",
)
# Rows of each table compared per experiment (with the experiment's id).
_RELATED = {
    "tags": "tag",
    "metrics": "key, count, last, last_json",  # of metric_summary
    "artifacts": "name, sha256",
}
_TABLES = {"tags": "tags", "metrics": "metric_summary", "artifacts": "artifacts"}


class Verdict(StrEnum):
    NEW = "new"  # not here: added
    SAME = "same"  # here, identical: skipped
    UPDATE = "update"  # imported here, still open, and the source has its later state: updated
    OLDER = "older"  # the source's copy is an earlier state of the one here: skipped
    OPEN_HERE = "open here"  # run by this store and still open: never touched by an import
    CONFLICT = "conflict"  # differs otherwise: kept as this store has it


@dataclass(frozen=True)
class Decision:
    """One experiment of the source and what the import does with it."""

    id: str
    name: str | None
    verdict: Verdict
    differs: tuple[str, ...] = ()  # the compared fields (or tags, metrics, artifacts) that differ


@dataclass(frozen=True)
class _Pair:
    id: str
    name: str | None
    source_local: int
    local_id: int
    imported: bool  # this store holds it as imported
    open_here: bool
    open_there: bool
    differs: list[str]


def decide(conn: sqlite3.Connection) -> list[Decision]:
    """A decision for every experiment of the database attached as ``source``, in its insertion
    order; read in the caller's transaction (the one that then acts on them)."""
    opened = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
    compared = ", ".join(f"s.{column} IS NOT t.{column}" for column in COMPARED)
    rows = conn.execute(
        f"SELECT s.id, s.name, s.local_id, t.local_id, t.imported_at IS NOT NULL, t.status IN ({opened}), "
        f"s.status IN ({opened}), {compared} FROM source.experiments AS s "
        "LEFT JOIN main.experiments AS t ON t.id = s.id ORDER BY s.local_id"
    ).fetchall()
    decisions: dict[str, Decision] = {}
    pairs: list[_Pair] = []
    for row in rows:
        experiment_id, name, source_local, local_id = row[:4]
        if local_id is None:
            decisions[experiment_id] = Decision(experiment_id, name, Verdict.NEW)
            continue
        differs = [column for column, changed in zip(COMPARED, row[7:], strict=True) if changed]
        pairs.append(
            _Pair(
                experiment_id, name, source_local, local_id, bool(row[4]), bool(row[5]), bool(row[6]), differs
            )
        )
    if pairs:
        conn.execute("CREATE TEMP TABLE on_both_sides (id TEXT PRIMARY KEY)")
        try:
            conn.executemany("INSERT INTO temp.on_both_sides (id) VALUES (?)", [(p.id,) for p in pairs])
            for aspect in _RELATED:
                changed = _differing(conn, aspect)
                for pair in pairs:
                    if pair.id in changed:
                        pair.differs.append(aspect)
        finally:
            conn.execute("DROP TABLE temp.on_both_sides")
    for pair in pairs:
        decisions[pair.id] = Decision(pair.id, pair.name, _verdict(conn, pair), tuple(pair.differs))
    return [decisions[row[0]] for row in rows]


def _differing(conn: sqlite3.Connection, aspect: str) -> set[str]:
    """The experiments on both sides whose rows of one related table differ (either way)."""
    table, columns = _TABLES[aspect], _RELATED[aspect]
    mine = f"SELECT experiment_id, {columns} FROM main.{table} WHERE experiment_id IN temp.on_both_sides"
    theirs = f"SELECT experiment_id, {columns} FROM source.{table} WHERE experiment_id IN temp.on_both_sides"
    query = (
        f"SELECT experiment_id FROM ({mine} EXCEPT {theirs}) "
        f"UNION SELECT experiment_id FROM ({theirs} EXCEPT {mine})"
    )
    return {row[0] for row in conn.execute(query)}


def _verdict(conn: sqlite3.Connection, pair: _Pair) -> Verdict:
    if not pair.differs:
        return Verdict.SAME
    if pair.open_here and not pair.imported:
        return Verdict.OPEN_HERE
    if pair.open_here and _extends(conn, ("source", pair.source_local), ("main", pair.local_id)):
        return Verdict.UPDATE
    if pair.open_there and _extends(conn, ("main", pair.local_id), ("source", pair.source_local)):
        return Verdict.OLDER
    return Verdict.CONFLICT


_POINT = "key, step, value, value_json, logged_at"


def _extends(conn: sqlite3.Connection, later: tuple[str, int], earlier: tuple[str, int]) -> bool:
    """Whether the points of the copy ``later`` (schema, local id) begin with those of ``earlier``,
    in logging order: it has at least as many, and its first and n-th agree with the earlier copy's
    first and last (a point is its key, step, value and the microsecond it was logged)."""

    def count(schema: str, local_id: int) -> int:
        query = f"SELECT count(*) FROM {schema}.metrics WHERE experiment_local_id = ?"
        return int(conn.execute(query, (local_id,)).fetchone()[0])

    def point(schema: str, local_id: int, order: str, offset: int) -> tuple[object, ...] | None:
        query = (
            f"SELECT {_POINT} FROM {schema}.metrics WHERE experiment_local_id = ? "
            f"ORDER BY id {order} LIMIT 1 OFFSET ?"
        )
        found: tuple[object, ...] | None = conn.execute(query, (local_id, offset)).fetchone()
        return found

    known = count(*earlier)
    if known > count(*later):
        return False
    if known == 0:
        return True
    return point(*earlier, "ASC", 0) == point(*later, "ASC", 0) and point(*earlier, "DESC", 0) == point(
        *later, "ASC", known - 1
    )
