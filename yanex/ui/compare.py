"""The compare page's API: the selected runs side by side (``yanex compare``), their curves of one
metric (each reduced as the experiment page's, ``yanex.store.series``), mean ± std bands per group
(``--group-by``, ``yanex.store.bands``), and the points logged since a cursor for every run at once.

The selection is the runs page's query (``?tag=grid&status=completed``, the CLI's filter options,
``yanex.ui.runs.url_filter``) or the runs ticked there (``?id=...&id=...``), both together
narrowing. Every endpoint takes it again: a page holds a URL, not a list of ids. At most
``MAX_RUNS`` runs: beyond that a chart of overlaid curves says nothing, and the error says how to
narrow the selection.

Curves and bands come in parts (``?part=K&parts=N``: the K-th of N contiguous slices of the runs,
or of the groups): a page asks for the parts at once and draws when they are in, so the server
reduces them on every core and no single answer waits for thirty curves read one after the other.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from yanex.errors import NotFoundError, UsageError
from yanex.ui.answers import Request, Response, json_response
from yanex.ui.experiment import curve_ask, curves_json, live_cursor, new_points, version, width
from yanex.ui.runs import OWN, url_filter

if TYPE_CHECKING:
    from yanex.store.filters import ExperimentFilter
    from yanex.store.metric_values import JsonValue

MAX_RUNS = 100
# Query parameters of the compare endpoints that are not filters.
COMPARE_OWN = (
    *OWN, "id", "key", "group", "width", "until", "from", "to", "after", "version", "times", "part", "parts",
)  # fmt: skip
MAX_PARTS = 64
T = TypeVar("T")


@dataclass(frozen=True)
class Chosen:
    """The runs a compare URL selects: the filter (the ids ticked included), the ids in its order,
    the CLI arguments selecting the same runs, and notes on fields no selected run has."""

    flt: ExperimentFilter
    ids: list[str]
    argv: list[str]
    notes: list[str]


def chosen(request: Request, conn: sqlite3.Connection) -> Chosen:
    """The selection of ``request`` (module docstring); ``UsageError`` past ``MAX_RUNS``,
    ``NotFoundError`` for none."""
    from yanex.store.ids import short_ids
    from yanex.store.references import resolve_references
    from yanex.store.selection import select_page

    flt, argv = url_filter(request.query, COMPARE_OWN)
    named = [text for text in request.query.get("id", []) if text]
    if named:
        ids = list(dict.fromkeys(resolve_references(conn, named)))
        flt = flt.naming(ids)
        shown = short_ids(conn, ids)
        argv = [*(shown[i] for i in ids), *argv]
    found = select_page(conn, flt, 0, MAX_RUNS + 1)
    if found.total > MAX_RUNS:
        raise UsageError(
            f"{found.total:,} experiments match; the compare page compares at most {MAX_RUNS}",
            hint="narrow the filters (tag, status, where), or tick the runs to compare on the runs page",
        )
    if not found.ids:
        raise NotFoundError("no experiments match these filters", hint="check them on the runs page")
    return Chosen(flt, found.ids, argv, found.notes)


def _metric_refs(request: Request) -> list[str]:
    from yanex.store.metric_names import metric_ref

    names = [name for name in request.query.get("metric", []) if name]
    for name in names:
        metric_ref(name)  # a bad aggregate is the CLI's error
    return names


def _label(params: dict[str, JsonValue], fallback: str) -> str:
    """A run as its curve's legend names it: the differing params' values as run names show them
    (``lr=0.01, seed=2``, ``yanex.display.format_value``), else its name or id."""
    from yanex.display import format_value

    shown = [f"{key}={format_value(value)}" for key, value in params.items()]
    return ", ".join(shown) or fallback


def compare(request: Request) -> Response:
    """``GET /api/compare?<selection>&metric=loss.min``: what ``yanex compare -f json`` gives for
    the same selection (``rows``, the differing ``params``, the ``metrics`` columns), with the
    best row of each metric column, each run's short id and legend label, the metric keys logged
    (for the chart), the cursor for live updates and the CLI arguments of the selection."""
    from yanex.store.compare import best_rows
    from yanex.store.compare import compare as side_by_side
    from yanex.store.ids import short_ids
    from yanex.store.reading import reading
    from yanex.store.selection import differing_params
    from yanex.store.series import cursor

    metrics = _metric_refs(request)
    with reading(request.db, settle=False) as conn:
        selection = chosen(request, conn)
        flt = selection.flt.naming(selection.ids)
        comparison = side_by_side(conn, flt, metrics=metrics)
        shown = short_ids(conn, selection.ids)
        keys = sorted({key for row in side_by_side(conn, flt).rows for key in row.metrics})
        # The params that differ, whatever the metric columns: the legend, the parallel axes.
        differing = comparison.params if not metrics else differing_params(conn, flt)
        at = cursor(conn)
    rows = [
        {
            **r.as_json(),
            "short": shown[r.id],
            "label": _label({k: r.params[k] for k in differing if k in r.params}, r.name or shown[r.id]),
        }
        for r in comparison.rows
    ]
    best = {
        name: sorted(
            best_rows([r.metrics.get(name) for r in comparison.rows], name, comparison.goals.get(name))
        )
        for name in comparison.metrics
    }
    return json_response(
        {
            "total": len(rows),
            "max_runs": MAX_RUNS,
            "params": comparison.params,
            "differing": differing,
            "metrics": comparison.metrics,
            "goals": comparison.goals,
            "best": best,
            "keys": keys,
            "rows": rows,
            "notes": selection.notes,
            "cursor": at,
            # How many parts of a chart the page asks for at a time: one per reader (a part is
            # reduced on a core of its own), else one per core.
            "cores": (request.readers.count if request.readers else 0) or os.cpu_count() or 1,
            "selection": shlex.join(selection.argv),
            "command": shlex.join(
                ["yanex", "compare", *selection.argv, *(x for m in metrics for x in ("-m", m))]
            ),
        }
    )


def _flags(flag: str, values: Sequence[str]) -> list[str]:
    return [text for value in values for text in (flag, value)]


def part_of(request: Request, items: Sequence[T]) -> Sequence[T]:
    """The slice of ``items`` that ``?part=K&parts=N`` asks for (all of them without ``?parts``)."""
    parts, part = request.number("parts"), request.number("part")
    parts, part = 1 if parts is None else parts, 0 if part is None else part
    if not 1 <= parts <= MAX_PARTS or not 0 <= part < parts:
        raise UsageError(
            f"?part={part}&parts={parts} names no part",
            hint=f"parts is 1 to {MAX_PARTS}, and part counts from 0 to parts - 1",
        )
    return items[len(items) * part // parts : len(items) * (part + 1) // parts]


def _key(request: Request) -> str:
    key = request.one("key")
    if not key:
        raise UsageError("?key names the metric", hint="e.g. ?key=loss")
    return key


def curves(request: Request) -> Response:
    """``GET /api/compare/curves?<selection>&key=K&width=PX&until=CURSOR[&from=STEP&to=STEP]
    [&times=1][&part=K&parts=N]``: each run's curve of ``key`` (of the part's runs), reduced as
    the experiment page's (two points per pixel at most), kept between requests
    (``yanex.ui.kept``)."""
    import json

    from yanex.store.reading import reading
    from yanex.store.series import cursor

    key = _key(request)
    with reading(request.db, settle=False) as conn:
        selection = chosen(request, conn)
        top = cursor(conn)
        until = request.number("until")
        ids = part_of(request, selection.ids)
        bodies = curves_json(request, conn, [curve_ask(request, i, key, top) for i in ids], top)
        runs = [
            b'{"id":' + json.dumps(i).encode() + b"," + body[1:] for i, body in zip(ids, bodies, strict=True)
        ]
    head = json.dumps({"key": key, "until": top if until is None else until})[:-1].encode()
    return Response(200, "application/json", head + b',"runs":[' + b",".join(runs) + b"]}")


def bands(request: Request) -> Response:
    """``GET /api/compare/bands?<selection>&key=K&group=P&width=PX&until=CURSOR[&from&to]
    [&part=K&parts=N]``: per group of ``--group-by P`` (repeatable, ``!seed`` too; the part's
    groups), the mean ± std of ``key`` per bucket of steps, computed here (``yanex.store.bands``)
    on the buckets of the whole selection, so that parts line up; kept between requests as curves
    are (``yanex.ui.kept``: the groups' members are part of the key)."""
    import json

    from yanex.store.bands import bands as group_bands
    from yanex.store.groups import group_experiments, scope_of
    from yanex.store.reading import reading
    from yanex.store.series import cursor

    key = _key(request)
    by = [name for name in request.query.get("group", []) if name]
    if not by:
        raise UsageError("?group names the param to group by", hint="e.g. ?group=lr, or ?group=!seed")
    identity = request.counts.version() if request.counts else None
    with reading(request.db, settle=False) as conn:
        selection = chosen(request, conn)
        top = cursor(conn)
        until = request.number("until")
        until = top if until is None else until
        first, last, buckets = request.number("from"), request.number("to"), width(request)
        grouping = group_experiments(conn, selection.flt.naming(selection.ids), by)
        scope = scope_of(conn, selection.flt.naming(selection.ids))
        chosen_groups = part_of(request, grouping.groups)
        members = json.dumps([[g.values, g.ids] for g in grouping.groups]) + repr(
            [g.ids for g in chosen_groups]
        )
        shape = (key, until, first, last, buckets, members, dataclasses.astuple(scope))
        key_kept = ("bands", identity[0] if identity else None, *shape)
        kept = request.kept.get(key_kept) if request.kept and identity else None
        if kept is not None:
            return Response(200, "application/json", kept)
        found = group_bands(
            conn, grouping, key, buckets=buckets, until=until, first=first, last=last, only=chosen_groups
        )
    groups: list[dict[str, Any]] = []
    for band in found.bands:
        named = {k: v for k, v in zip(found.keys, band.values, strict=True) if v is not None}
        label = _label(named, "(no value)")
        groups.append({**dataclasses.asdict(band), "label": f"{label} (n={band.runs})"})
    response = json_response(
        {
            "key": key,
            "keys": found.keys,
            "steps": found.steps,
            "width": found.width,
            "groups": groups,
            # What the bands count, as `compare --group-by` says it: completed, latest attempts
            "scope": dataclasses.asdict(scope),
        }
    )
    if request.kept and identity and until <= top:
        request.kept.put(key_kept, response.body)
    return response


def points(request: Request) -> Response:
    """``GET /api/compare/points?<selection>&key=K&after=CURSOR&width=PX[&version=V][&times=1]``:
    the points of ``key`` every selected run logged since the cursor (one walk for all, reduced
    per run when many, as the experiment page's), by run, the next cursor, the store's version
    and each run's status (a page stops asking once none is active)."""
    from yanex.store.reading import reading
    from yanex.store.series import tails

    key = _key(request)
    after = live_cursor(request)
    token = version(request)
    if token is not None and request.one("version") == token:
        return json_response({"cursor": after, "version": token, "points": {}})
    times = request.one("times") == "1"
    with reading(request.db, settle=False) as conn:
        selection = chosen(request, conn)
        kept = request.kept.buckets if request.kept else None
        top, found = tails(
            conn, selection.ids, after, buckets=width(request), key=key, times=times, kept=kept
        )
        statuses = dict(
            conn.execute(
                f"SELECT id, status FROM experiments WHERE id IN ({', '.join('?' * len(selection.ids))})",
                selection.ids,
            ).fetchall()
        )
    return new_points(top, found, lambda tail: tail.experiment_id, token, statuses=statuses)
