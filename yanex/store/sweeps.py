"""Earlier runs of the same specs, for ``run_multiple(skip_completed=True)`` and ``yanex sweep
resume``, and a batch's stored sweep.

A spec (a sweep's point) is identified by its script, config and arguments (``spec_sha256``),
whichever batch ran it.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from yanex.errors import AmbiguousReferenceError, NotFoundError, UsageError
from yanex.status import OPEN_STATUSES, Status
from yanex.store.convert import json_text, spec_fingerprint
from yanex.store.dialect import chunks, marks

if TYPE_CHECKING:
    from yanex.specs import ExperimentSpec


class StoredSweep(NamedTuple):
    batch_id: str
    spec: dict[str, Any]


class BatchRow(NamedTuple):
    """One batch as stored: ``spec`` is its sweep's plan (None for a batch of listed specs)."""

    id: str
    created_at: str
    ended_at: str | None
    parallel: int | None
    total: int
    executor: str | None
    spec: dict[str, Any] | None


def find_batch(conn: sqlite3.Connection, reference: str) -> BatchRow:
    """The batch with id (or unique id prefix) ``reference``."""
    pattern = reference.lower().replace("\\", "").replace("%", "").replace("_", "")
    rows = conn.execute(
        "SELECT id, created_at, ended_at, parallel, total, executor, spec FROM batches "
        "WHERE id LIKE ? ORDER BY id LIMIT 10",
        (f"{pattern}%",),
    ).fetchall()
    exact = [row for row in rows if row[0] == reference]
    rows = exact or rows
    if not rows or not pattern:
        raise NotFoundError(
            f"no batch with id {reference!r}", hint="see `yanex list` for batch ids (--format json)"
        )
    if len(rows) > 1:
        raise AmbiguousReferenceError(
            f"{reference!r} matches batches {', '.join(row[0] for row in rows)}", hint="give more of the id"
        )
    [(batch_id, created, ended, parallel, total, executor, spec)] = rows
    return BatchRow(
        batch_id, created, ended, parallel, total, executor, None if spec is None else json.loads(spec)
    )


def batch_sweep(conn: sqlite3.Connection, reference: str) -> StoredSweep:
    """The sweep of the batch with id (or unique id prefix) ``reference``."""
    batch = find_batch(conn, reference)
    if batch.spec is None:
        raise UsageError(
            f"batch {batch.id} was not started as a sweep, so it has no points to resume",
            hint=f"re-run its failures with `yanex rerun --batch {batch.id} --status failed`",
        )
    return StoredSweep(batch.id, batch.spec)


class SweepRun(NamedTuple):
    """An experiment of a batch, or of any batch running the same sweep (its resumptions)."""

    id: str
    name: str | None
    status: str
    spec_sha256: str
    batch_id: str
    error_message: str | None  # why it failed or was pruned


def sweep_runs(conn: sqlite3.Connection, batch_id: str) -> list[SweepRun]:
    """The experiments of batch ``batch_id`` and of every batch storing the same sweep, oldest
    first: together they hold each point's runs (``yanex sweep resume`` runs a sweep's missing
    points as a new batch)."""
    rows = conn.execute(
        "SELECT id, name, status, spec_sha256, batch_id, error_message FROM experiments WHERE batch_id IN "
        "(SELECT id FROM batches WHERE id = ? OR spec = (SELECT spec FROM batches WHERE id = ?)) "
        "ORDER BY created_at, rowid",
        (batch_id, batch_id),
    )
    return [SweepRun(*row) for row in rows]


def sweep_code(conn: sqlite3.Connection, batch_id: str, spec: dict[str, Any]) -> list[tuple[str, int]]:
    """The code the completed experiments of a sweep ran (its batch ``batch_id`` and any batch of
    the same ``spec``): one experiment of each commit and patch, with how many ran that code."""
    rows = conn.execute(
        "SELECT min(id), count(*) FROM experiments WHERE status = ? AND batch_id IN "
        "(SELECT id FROM batches WHERE id = ? OR spec = ?) GROUP BY git_commit, git_patch_sha256",
        (Status.COMPLETED.value, batch_id, json_text(spec)),
    )
    return [(experiment_id, count) for experiment_id, count in rows]


def active_points(conn: sqlite3.Connection, fingerprints: Sequence[str]) -> list[str]:
    """Ids of queued or running experiments with one of these identities (read after reconciling)."""
    return [
        row[0]
        for chunk in chunks(conn, list(set(fingerprints)), len(OPEN_STATUSES))
        for row in conn.execute(
            f"SELECT id FROM experiments WHERE spec_sha256 IN ({marks(len(chunk))}) "
            f"AND status IN ({marks(len(OPEN_STATUSES))})",
            [*chunk, *OPEN_STATUSES],
        )
    ]


def latest_attempts(conn: sqlite3.Connection, fingerprints: Sequence[str]) -> dict[str, str]:
    """For each spec identity that has a failed or cancelled experiment, the id of the newest: the
    attempt a new run of that spec replaces (``yanex sweep resume`` links it by ``retry_of``)."""
    latest: dict[str, str] = {}
    ended = (Status.FAILED.value, Status.CANCELLED.value)
    for chunk in chunks(conn, list(set(fingerprints)), len(ended)):
        found = conn.execute(
            f"SELECT spec_sha256, id FROM experiments WHERE spec_sha256 IN ({marks(len(chunk))}) "
            f"AND status IN ({marks(len(ended))}) ORDER BY created_at, rowid",
            [*chunk, *ended],
        )
        latest.update(found)  # oldest first: the newest stays
    return latest


class CompletedRun(NamedTuple):
    """An earlier completed (or, when asked for, pruned) experiment of the same spec (see
    ``find_completed``)."""

    id: str
    name: str | None
    duration: float | None
    pruned: bool = False


def fingerprint(spec: ExperimentSpec) -> str:
    """A spec's identity (``spec_sha256``): its script, config and arguments."""
    return spec_fingerprint(str(spec.script_path.resolve()), spec.config, list(spec.script_args))


def find_completed(
    conn: sqlite3.Connection,
    fingerprints: Sequence[str],
    parents: Sequence[Collection[str] | None] | None = None,
    *,
    pruned: bool = False,
) -> list[CompletedRun | None]:
    """For each spec identity (``fingerprint``), the newest completed experiment that has it, and,
    where ``parents`` gives a spec's stored parents (ids), that ran on exactly those (None: any).
    With ``pruned``, one a sweep's pruning stopped counts too (a completed one first): for a sweep,
    that point has its answer."""
    done = [Status.COMPLETED.value, *([Status.PRUNED.value] if pruned else [])]
    rows = [
        row
        for chunk in chunks(conn, list(set(fingerprints)), len(done))
        for row in conn.execute(
            f"SELECT spec_sha256, id, name, duration, ended_at, status FROM experiments WHERE spec_sha256 IN "
            f"({marks(len(chunk))}) AND status IN ({marks(len(done))})",
            [*chunk, *done],
        )
    ]
    rows.sort(key=lambda row: row[4] or "", reverse=True)  # newest first, over every chunk
    rows.sort(key=lambda row: row[5] != Status.COMPLETED.value)  # completed ones first (stable)
    recorded: dict[str, set[str]] = {row[1]: set() for row in rows}
    if parents is not None:
        for chunk in chunks(conn, list(recorded)):
            edges = conn.execute(
                f"SELECT experiment_id, depends_on_id FROM dependencies WHERE experiment_id IN "
                f"({marks(len(chunk))})",
                chunk,
            )
            for child, parent in edges:
                recorded[child].add(parent)
    candidates: dict[str, list[CompletedRun]] = {}
    for sha, eid, name, duration, _, status in rows:  # completed first, newest first
        candidates.setdefault(sha, []).append(
            CompletedRun(eid, name, duration, status == Status.PRUNED.value)
        )
    found: list[CompletedRun | None] = []
    for index, fingerprint in enumerate(fingerprints):
        expected = None if parents is None else parents[index]
        found.append(
            next(
                (
                    run
                    for run in candidates.get(fingerprint, [])
                    if expected is None or recorded[run.id] == set(expected)
                ),
                None,
            )
        )
    return found


class SweepTrial(NamedTuple):
    """A finished experiment of a searched sweep, as its sampler is told it: ``value`` is the
    objective's aggregate (None when the metric was never logged)."""

    id: str
    name: str | None
    spec_sha256: str
    status: str
    config: dict[str, Any]
    value: float | None

    def values(self, paths: Sequence[tuple[str, ...]]) -> list[object]:
        return config_values(self.config, paths)


def config_values(config: dict[str, Any], paths: Sequence[tuple[str, ...]]) -> list[object]:
    """A config's value at each param path (None where it has none)."""
    found: list[object] = []
    for path in paths:
        node: object = config
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        found.append(node)
    return found


def sweep_trials(
    conn: sqlite3.Connection, spec: dict[str, Any], key: str, column: str, known: Collection[str]
) -> list[SweepTrial]:
    """The experiments of every batch storing sweep ``spec`` that ended other than cancelled (a
    cancelled point was never evaluated) and are not in ``known``, oldest first, with the
    ``column`` (an aggregate of ``metric_summary``, from ``metric_names.AGGREGATES``) of ``key``."""
    skipped = (*OPEN_STATUSES, Status.CANCELLED.value)
    rows = conn.execute(
        f"SELECT e.id, e.name, e.spec_sha256, e.status, e.config, m.{column} FROM experiments AS e "
        "LEFT JOIN metric_summary AS m ON m.experiment_id = e.id AND m.key = ? "
        "WHERE e.batch_id IN (SELECT id FROM batches WHERE spec = ?) "
        f"AND e.status NOT IN ({marks(len(skipped))}) ORDER BY e.created_at, e.rowid",
        (key, json_text(spec), *skipped),
    )
    return [
        SweepTrial(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5])
        for row in rows
        if row[0] not in known
    ]


class ScoredTrial(NamedTuple):
    """A trial of a searched sweep as ``yanex sweep show`` and the UI's sweep page show it:
    ``objective`` only when it completed, and the best finite one so far."""

    number: int  # from 1, in the order the trials started
    trial: SweepTrial
    objective: float | None
    best_so_far: float | None


def scored_trials(
    conn: sqlite3.Connection, spec: dict[str, Any], key: str, column: str, goal: str
) -> list[ScoredTrial]:
    """The evaluated points of sweep ``spec`` (``sweep_trials``) with the objective (``column`` of
    ``key``) and the best so far by ``goal``: one reading for every view of a search's progress."""
    better = min if goal == "min" else max
    scored: list[ScoredTrial] = []
    best: float | None = None
    for number, trial in enumerate(sweep_trials(conn, spec, key, column, ()), start=1):
        value = trial.value if trial.status == Status.COMPLETED.value else None
        if value is not None and math.isfinite(value):
            best = value if best is None else better(best, value)
        scored.append(ScoredTrial(number, trial, value, best))
    return scored


def best_trial(scored: Sequence[ScoredTrial]) -> ScoredTrial | None:
    """The first trial that reached the final best objective (None before any has a value)."""
    best = scored[-1].best_so_far if scored else None
    return next((s for s in scored if best is not None and s.objective == best), None)
