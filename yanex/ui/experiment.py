"""The experiment page's API: everything ``yanex show`` says, each metric's curve reduced to the
chart's width (``yanex.store.series``), the points logged since the page's cursor, and the patch,
output files and artifacts on demand.

The page asks for ``detail`` once: it carries the cursor (the largest ``metrics.id`` of the same
snapshot); curves are read up to it, and a live page then asks only for the points after it.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yanex import config
from yanex.errors import NotFoundError, UsageError
from yanex.ui.answers import Request, Response, json_response, text_response
from yanex.ui.readers import CurveAsk, read_curve

if TYPE_CHECKING:
    from yanex.store.series import Tail

TAIL_LINES = 60
TAIL_BYTES = 64 * 1024
WIDTH_RANGE = (50, 4000)  # pixels a chart may ask for


def _tail(path: Path) -> tuple[str, int | None]:
    """The last lines of a captured output file (reading only its end) and its size (None when
    there is no file)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - TAIL_BYTES))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return "", None
    return "\n".join(text.rstrip("\n").splitlines()[-TAIL_LINES:]), size


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def detail(request: Request) -> Response:
    """``GET /api/experiment/<id, prefix or name>``: the experiment, as ``yanex show`` shows it."""
    from yanex.artifacts.reading import records as artifact_records
    from yanex.store.detail import experiment_detail
    from yanex.store.history import metric_stats
    from yanex.store.ids import short_ids
    from yanex.store.reading import reading
    from yanex.store.series import cursor

    with reading(request.db, settle=False) as conn:
        found = experiment_detail(conn, request.parts[0])
        e = found.experiment
        stats = metric_stats(conn, e.id)
        artifacts = artifact_records(conn, e.id)
        lineage = found.lineage
        named = [
            e.id,
            *([e.retry_of] if e.retry_of else []),
            *found.rerun_as,
            *([lineage.root, lineage.parent] if lineage else []),
            *(r.id for r in [*found.parents, *found.children]),
        ]
        shown = short_ids(conn, named)
        batch_short = short_ids(conn, [found.batch.id], "batches")[found.batch.id] if found.batch else None
        at = cursor(conn)
    folder = config.experiment_dir(e.id)
    stdout, stdout_size = _tail(folder / config.STDOUT_FILE)
    stderr, stderr_size = _tail(folder / config.STDERR_FILE)
    last_point = max((m.logged_at for m in found.metrics.values()), default=None)

    def relative(full: str) -> dict[str, str]:
        return {"id": full, "short": shown.get(full, full[:8])}

    git = e.git
    return json_response(
        {
            "id": e.id,
            "short": shown[e.id],
            "name": e.name,
            "status": e.status.value,
            "description": e.description,
            "tags": e.tags,
            "archived": e.archived,
            "created": _iso(e.created_at),
            "started": _iso(e.started_at),
            "ended": _iso(e.ended_at),
            "duration": e.duration,
            "last_point": _iso(last_point),
            "script": e.script_path,
            "args": e.script_args,
            "working_dir": e.working_dir,
            "exit_code": e.exit_code,
            "error": e.error_message,
            "params": e.config,
            "git": {
                "commit": git.commit,
                "branch": git.branch,
                "message": (git.commit_message or "").partition("\n")[0] or None,
                "dirty": git.dirty,
                "patch_size": found.patch_size,
                "omitted": [str(change) for change in git.omitted],
            },
            "environment": dataclasses.asdict(e.environment),
            "metrics": [
                {
                    "key": s.key,
                    "count": s.count,
                    "last": s.last,
                    "min": s.minimum,
                    "max": s.maximum,
                    "first_step": s.first_step,
                    "last_step": s.last_step,
                }
                for s in stats
            ],
            "artifacts": [
                {"name": a.name, "size": a.size, "sha256": a.sha256, "media_type": a.media_type}
                for a in artifacts
            ],
            "output": {
                "stdout": stdout,
                "stderr": stderr,
                "stdout_size": stdout_size,
                "stderr_size": stderr_size,
                "tail_lines": TAIL_LINES,
            },
            "lineage": {
                "retry_of": relative(e.retry_of) if e.retry_of else None,
                "rerun_as": [relative(i) for i in found.rerun_as],
                "root": relative(lineage.root) if lineage else None,
                "parent": relative(lineage.parent) if lineage else None,
                "attempt": lineage.attempt if lineage else None,
                "rerun": lineage.rerun if lineage else None,
                "parents": [{**relative(r.id), "name": r.name, "status": r.status} for r in found.parents],
                "children": [{**relative(r.id), "name": r.name, "status": r.status} for r in found.children],
                "batch": (
                    {
                        "id": found.batch.id,
                        "short": batch_short,
                        "total": found.batch.total,
                        "parallel": found.batch.parallel,
                        "executor": found.batch.executor,
                    }
                    if found.batch
                    else None
                ),
            },
            "cursor": at,
            "commands": {
                "show": f"yanex show {shown[e.id]}",
                "metrics": f"yanex metrics {shown[e.id]}",
            },
        }
    )


def _experiment_id(request: Request) -> str:
    from yanex.store.reading import reading
    from yanex.store.references import resolve_reference

    with reading(request.db, settle=False) as conn:
        return resolve_reference(conn, request.parts[0])


def width(request: Request) -> int:
    """``?width``: the chart's pixels, within ``WIDTH_RANGE`` (800 when not given)."""
    low, high = WIDTH_RANGE
    return min(high, max(low, request.number("width", 800) or 800))


def curve_ask(request: Request, experiment_id: str, key: str, top: int) -> CurveAsk:
    """``experiment_id``'s curve of ``key`` as ``?width``, ``?until`` (``top``, the snapshot's
    cursor, when not given), ``?from``, ``?to`` and ``?times=1`` ask."""
    until = request.number("until")
    return CurveAsk(
        experiment_id,
        key,
        width(request),
        top if until is None else until,
        request.number("from"),
        request.number("to"),
        request.one("times") == "1",
    )


def curves_json(request: Request, conn: sqlite3.Connection, asks: list[CurveAsk], top: int) -> list[bytes]:
    """The JSON of each curve ``asks`` names: kept between requests (``yanex.ui.kept``), else read
    by one of the server's readers (``yanex.ui.readers``), else here, on ``conn``."""
    identity = request.counts.version() if request.counts else None
    keys = [(identity[0] if identity else None, *ask) for ask in asks]
    kept = request.kept if identity else None
    bodies = [kept.get(key) if kept else None for key in keys]
    missing = [n for n, body in enumerate(bodies) if body is None]
    if not missing:
        return [body for body in bodies if body is not None]
    unread = [asks[n] for n in missing]
    read = request.readers.curves(unread) if request.readers else None
    if read is None:
        read = [read_curve(conn, ask) for ask in unread]
    for n, body in zip(missing, read, strict=True):
        bodies[n] = body
        if kept and asks[n].until <= top:
            kept.put(keys[n], body)
    return [body for body in bodies if body is not None]


def series(request: Request) -> Response:
    """``GET .../series?key=K&width=PX&until=CURSOR[&from=STEP&to=STEP][&times=1]``: one metric's
    curve, at most two points per pixel (the lowest and highest of each bucket of steps), with
    each point's time when ``times=1`` (a chart with x = time)."""
    from yanex.store.reading import reading
    from yanex.store.references import resolve_reference
    from yanex.store.series import cursor

    key = request.one("key")
    if not key:
        raise UsageError("?key names the metric", hint="e.g. ?key=loss")
    with reading(request.db, settle=False) as conn:
        experiment_id = resolve_reference(conn, request.parts[0])
        top = cursor(conn)
        [body] = curves_json(request, conn, [curve_ask(request, experiment_id, key, top)], top)
    return Response(200, "application/json", body)


def points(request: Request) -> Response:
    """``GET .../points?after=CURSOR&width=PX[&version=V][&times=1]``: the points logged since
    the cursor, by key (reduced when many: ``yanex.store.series.tails``), the next cursor, the
    store's version (``version``) and the experiment's status (a page stops asking once it has
    ended)."""
    from yanex.store.reading import reading
    from yanex.store.references import resolve_reference
    from yanex.store.series import tails

    after = live_cursor(request)
    token = version(request)
    if token is not None and request.one("version") == token:
        return json_response({"cursor": after, "version": token, "points": {}})
    times = request.one("times") == "1"
    with reading(request.db, settle=False) as conn:
        experiment_id = resolve_reference(conn, request.parts[0])
        kept = request.kept.buckets if request.kept else None
        top, found = tails(conn, [experiment_id], after, buckets=width(request), times=times, kept=kept)
        (status,) = conn.execute("SELECT status FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
    return new_points(top, found, lambda tail: tail.key, token, status=status)


def live_cursor(request: Request) -> int:
    """``?after``: the cursor of a live page's last answer."""
    after = request.number("after")
    if after is None:
        raise UsageError(
            "?after is the cursor of the last fetch", hint="take it from the page's first answer"
        )
    return after


def version(request: Request) -> str | None:
    """The store's version now (``yanex.store.counts``: the file and ``PRAGMA data_version`` on
    the server's watching connection), read before the answer's snapshot begins. A live answer
    carries it; a page asking again with it, while no connection has committed since, is told
    "nothing new" (no status: it has not changed) without a connection opened or a table read."""
    found = request.counts.version() if request.counts else None
    if found is None:
        return None
    (device, inode), number = found
    return f"{device}.{inode}.{number}"


def new_points(
    top: int, found: Sequence[Tail], by: Callable[[Tail], str], token: str | None, **extra: Any
) -> Response:
    """A live page's answer: the points since its cursor by ``by`` (metric or run), each with the
    count they stand for and whether they are reduced, the next cursor (``top``), the store's
    version and ``extra`` fields."""
    grouped = {
        by(tail): {
            "steps": tail.steps,
            "values": tail.values,
            "times": tail.times,
            "count": tail.count,
            "reduced": tail.reduced,
        }
        for tail in found
    }
    return json_response({"cursor": top, "version": token, **extra, "points": grouped})


def patch(request: Request) -> Response:
    """``GET .../patch``: the git patch of uncommitted changes, as ``yanex show ID --patch``."""
    from yanex.store.detail import experiment_detail
    from yanex.store.reading import reading

    with reading(request.db, settle=False) as conn:
        e = experiment_detail(conn, request.parts[0]).experiment
    if not e.git.patch:
        raise NotFoundError(f"experiment {e.id} has no git patch")
    return text_response(e.git.patch)


def output(request: Request) -> Response:
    """``GET .../output/stdout`` (or ``stderr``): the whole captured file."""

    experiment_id = _experiment_id(request)
    name = config.STDOUT_FILE if request.parts[1] == "stdout" else config.STDERR_FILE
    path = config.experiment_dir(experiment_id) / name
    if not path.is_file():
        raise NotFoundError(f"experiment {experiment_id} has no captured {request.parts[1]}")
    return Response(200, "text/plain; charset=utf-8", file=path)


def artifact(request: Request) -> Response:
    """``GET .../artifact/<name>``: the artifact's bytes, read as ``yanex artifacts get`` reads
    them (the blob, its size checked; a missing content is the same one-line error)."""
    from urllib.parse import quote

    from yanex.artifacts.names import check_name
    from yanex.artifacts.reading import artifacts_of
    from yanex.artifacts.views import content, selected

    name = check_name(request.parts[1])
    found = artifacts_of(request.parts[0], request.db, settle=False)
    chosen = selected(name, found)
    if chosen[0].name != name:
        raise UsageError(
            f"{name!r} is a folder of artifacts",
            hint=f"download its files one by one, or `yanex artifacts get {found.experiment_id[:8]} {name}`",
        )
    record = chosen[0]
    blob = content(record, found.experiment_id, found.why_missing(record))
    filename = quote(Path(record.name).name)
    return Response(
        200,
        record.media_type or "application/octet-stream",
        file=blob,
        headers=(("Content-Disposition", f"attachment; filename*=UTF-8''{filename}"),),
    )
