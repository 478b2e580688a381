"""The runs page's API: one page of the experiments table for a query in the URL.

The URL speaks the CLI's filter grammar: each declared filter (``yanex.store.filters``) is the
query parameter named by its long flag (``?tag=x&status=running&where=lr>0.01&sort=metrics.loss.min``,
``?archived``, ``?all``, ``?desc``), parsed into an ``ExperimentFilter`` by the same ``from_options``
the command line goes through, so a bad value gets the CLI's error text. ``page`` (from 1) replaces
``--limit``; ``param`` and ``metric`` add columns. The answer carries the ``yanex list`` command that
selects the same experiments.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from yanex.errors import UsageError
from yanex.store.filters import declared
from yanex.ui.answers import Request, Response, json_response

if TYPE_CHECKING:
    from yanex.store.filters import Declared, ExperimentFilter
    from yanex.store.metric_values import MetricSummary

PAGE_SIZE = 100
STALE_SECONDS = 30.0  # a running experiment with no point for this long is stale, as in `yanex watch`
# Query parameters that are not filters: the page, and the columns added.
OWN = ("page", "param", "metric")


@dataclass(frozen=True)
class UrlOption:
    """One filter option as a query parameter: its name (the long flag without dashes), the
    filter field it sets (``from_options``'s name) and the flag the CLI spells it with."""

    name: str
    field: str
    flag: str
    kind: str


def _url_options() -> dict[str, UrlOption]:
    found: dict[str, UrlOption] = {}
    for item in declared():
        kind = item.option.kind
        if kind == "count":  # --limit: the page takes its place
            continue
        if kind == "archive":
            for flag, name in zip(item.option.flags, ("archived", "all_"), strict=True):
                found[flag[2:]] = UrlOption(flag[2:], name, flag, "flag")
            continue
        flag = _long(item)
        found[flag[2:]] = UrlOption(flag[2:], item.name, flag, kind)
    return found


def _long(item: Declared) -> str:
    return next(flag for flag in item.option.flags if flag.startswith("--"))


OPTIONS = _url_options()


def _on(value: str) -> bool:
    if value.lower() in ("", "1", "true", "on", "yes"):
        return True
    if value.lower() in ("0", "false", "off", "no"):
        return False
    raise UsageError(f"a flag takes no value (or 1/0), got {value!r}")


def url_filter(query: dict[str, list[str]], own: Sequence[str] = OWN) -> tuple[ExperimentFilter, list[str]]:
    """The filter a runs URL's query names, and the ``yanex list`` arguments naming the same one;
    ``UsageError`` for a parameter that is no option (nor one of the page's ``own``), or a value
    the option refuses."""
    from yanex.store.filters import from_options

    values: dict[str, Any] = {}
    argv: list[str] = []
    for name, given in query.items():
        if name in own:
            continue
        option = OPTIONS.get(name)
        if option is None:
            raise UsageError(f"no such option: ?{name}", hint=f"options are: {', '.join([*OPTIONS, *own])}")
        if option.kind == "flag":
            if _on(given[-1]):
                values[option.field] = True
                argv.append(option.flag)
        elif option.kind == "texts":
            kept = [text for text in given if text != ""]
            values[option.field] = kept or None
            for text in kept:
                argv += [option.flag, text]
        elif given[-1] != "":
            values[option.field] = given[-1]
            argv += [option.flag, given[-1]]
    return from_options(values), argv


def _columns(request: Request) -> list[str]:
    """The param and metric columns asked for (``?param=lr&metric=loss.min``), as field names."""
    params = [f"params.{key}" for key in request.query.get("param", []) if key]
    metrics = [f"metrics.{key}" for key in request.query.get("metric", []) if key]
    for name in metrics:
        from yanex.store.metric_names import metric_ref

        metric_ref(name.partition(".")[2])  # a bad aggregate is the CLI's error
    return list(dict.fromkeys([*params, *metrics]))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _done(total: int | None, latest: dict[str, MetricSummary] | None) -> float | None:
    """The share of its declared total steps (``yanex.set_total``) a running experiment logged."""
    from yanex.store.history import completion

    step = max((m.step for m in latest.values()), default=None) if latest else None
    done = completion(step, total, None, None, datetime.now(UTC))
    return None if done is None else done[0]


def runs(request: Request) -> Response:
    """``GET /api/runs?<filters>&page=N&param=P&metric=M``: one page of the table."""
    from yanex.store.ids import short_ids
    from yanex.store.metric_values import latest_of
    from yanex.store.reading import reading
    from yanex.store.records import field_values, load_records
    from yanex.store.selection import select_page

    flt, argv = url_filter(request.query)
    page = request.number("page", 1)
    if page is None or page < 1:
        raise UsageError(f"?page must be at least 1, got {page}")
    columns = _columns(request)
    if flt.sort is not None and flt.sort.startswith(("params.", "metrics.")) and flt.sort not in columns:
        columns.insert(0, flt.sort)  # the sort key is always a column, as in `yanex list`
    counts = request.counts
    before = None if counts is None else counts.version()  # before the snapshot begins
    with reading(request.db, settle=False) as conn:
        found = select_page(conn, flt, (page - 1) * PAGE_SIZE, PAGE_SIZE, counts, before)
        records = load_records(conn, found.ids)
        shown = short_ids(conn, found.ids)
        values = {name: field_values(conn, found.ids, name) for name in columns}
        running = [r.id for r in records if r.status.value == "running"]
        latest = latest_of(conn, running)
    now = datetime.now(UTC)
    rows = []
    for r in records:
        last_point = max((m.logged_at for m in latest.get(r.id, {}).values()), default=None)
        since = r.started_at or r.created_at
        quiet = (now - (last_point or since)).total_seconds() if r.id in latest else None
        rows.append(
            {
                "id": r.id,
                "short": shown[r.id],
                "name": r.name,
                "status": r.status.value,
                "stale": quiet is not None and quiet > STALE_SECONDS,
                "quiet_seconds": quiet,
                "tags": r.tags,
                "started": _iso(r.started_at),
                "duration": r.duration,
                "total_steps": r.total_steps,  # yanex.set_total; progress: a running run's share of it
                "progress": _done(r.total_steps, latest.get(r.id)),
                "script": r.script_path,
                "values": {name: values[name].get(r.id) for name in columns},
            }
        )
    pages = max(1, -(-found.total // PAGE_SIZE))
    return json_response(
        {
            "total": found.total,
            "page": page,
            "pages": pages,
            "page_size": PAGE_SIZE,
            "columns": columns,
            "rows": rows,
            "notes": found.notes,
            "command": shlex.join(["yanex", "list", *argv]),
        }
    )
