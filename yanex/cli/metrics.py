"""``yanex metrics``: every logged point of many experiments, long form, as CSV or JSON.

Rows are written as the store streams them (``yanex.store.history``), so an export of any size
runs in constant memory. ``yanex get metrics.NAME ID --history`` writes through here too.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from yanex.cli.spec import REFERENCES, Command, FilterOptions, Param

if TYPE_CHECKING:
    import sqlite3

    from yanex.store.history import MetricPoint


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


EXPORT_FORMAT = Param("fmt", ("--format", "-f"), ExportFormat, None, "csv (the default) or json.")
# Rows per write(): one call per row would cost more than formatting it.
_LINES = 4_096


def csv_value(value: Any) -> str:
    """A value as one CSV field: floats with every digit (``repr``), ints, ``true``/``false``, text
    escaped for the terminal (newlines and tabs kept), structures as JSON."""
    if type(value) is float:
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    from yanex.terminal import printable

    if isinstance(value, str):
        return printable(value, keep="\n\t")
    import json

    return printable(json.dumps(value, sort_keys=True, ensure_ascii=False))


def _csv_text(field: str) -> str:
    """``field`` quoted as CSV needs it."""
    if any(c in field for c in ',"\n\r'):
        return '"' + field.replace('"', '""') + '"'
    return field


def _json_text(row: dict[str, Any]) -> str:
    import json

    from yanex.terminal import json_printable

    return json_printable(json.dumps(row, ensure_ascii=False, allow_nan=False))


def _write(lines: Iterable[str]) -> None:
    """Lines to stdout, a few thousand per write."""
    out = sys.stdout
    buffer: list[str] = []
    for line in lines:
        buffer.append(line)
        if len(buffer) >= _LINES:
            out.write("".join(buffer))
            buffer.clear()
    out.write("".join(buffer))


def _json_array(rows: Iterable[dict[str, Any]]) -> Iterable[str]:
    first = True
    for row in rows:
        yield ("[\n  " if first else ",\n  ") + _json_text(row)
        first = False
    yield "[]\n" if first else "\n]\n"


def write_curve(steps: Iterable[tuple[int, Any]], fmt: ExportFormat) -> None:
    """``step,value`` lines under a header, or a JSON array of ``{"step", "value"}``."""
    if fmt is ExportFormat.JSON:
        _write(_json_array({"step": step, "value": value} for step, value in steps))
        return

    def lines() -> Iterable[str]:
        yield "step,value\n"
        for step, value in steps:
            text = repr(value) if type(value) is float else _csv_text(csv_value(value))
            yield f"{step},{text}\n"

    _write(lines())


def write_points(
    points: Iterable[MetricPoint], fmt: ExportFormat, params: Mapping[str, Mapping[str, Any]] | None = None
) -> None:
    """Long-form rows: experiment_id, key, step, value, logged_at (ISO 8601, UTC), then a
    ``params.NAME`` column for each of ``params`` (NAME -> each experiment's value, by id)."""
    params = params or {}
    if fmt is ExportFormat.JSON:
        rows = (
            {
                "experiment_id": p.experiment_id,
                "key": p.key,
                "step": p.step,
                "value": p.value,
                "logged_at": p.logged_at.isoformat(),
                **{f"params.{name}": values.get(p.experiment_id) for name, values in params.items()},
            }
            for p in points
        )
        _write(_json_array(rows))
        return
    header = "".join(f",{_csv_text(csv_value(f'params.{name}'))}" for name in params)
    cells: dict[str, str] = {}  # each experiment's param cells, made once

    def param_cells(experiment_id: str) -> str:
        if experiment_id not in cells:
            found = (values.get(experiment_id) for values in params.values())
            cells[experiment_id] = "".join(f",{'' if v is None else _csv_text(csv_value(v))}" for v in found)
        return cells[experiment_id]

    def lines() -> Iterable[str]:
        yield f"experiment_id,key,step,value,logged_at{header}\n"
        for p in points:
            value = repr(p.value) if type(p.value) is float else _csv_text(csv_value(p.value))
            key = _csv_text(csv_value(p.key))
            more = param_cells(p.experiment_id) if params else ""
            yield f"{p.experiment_id},{key},{p.step},{value},{p.logged_at.isoformat()}{more}\n"

    _write(lines())


def _param_columns(
    conn: sqlite3.Connection, ids: Sequence[str], given: str | None
) -> dict[str, dict[str, Any]]:
    """``--params lr,seed`` (or ``all``): each param's value for each of ``ids``, by name; a name
    no experiment of the selection has is refused (a typo would give an empty column)."""
    if not given:
        return {}
    from yanex.errors import UsageError
    from yanex.store.records import field_values, param_keys

    names = [name.strip() for name in given.split(",") if name.strip()]
    if names == ["all"]:
        names = param_keys(conn, ids)
    columns = {name: field_values(conn, ids, f"params.{name}") for name in dict.fromkeys(names)}
    for name, values in columns.items():
        if not values:
            known = param_keys(conn, ids)
            raise UsageError(
                f"no experiment of the selection has a param {name!r}",
                hint=f"name some of {', '.join(known[:10])}, or pass --params all"
                if known
                else "the selected experiments have no params: leave out --params",
            )
    return columns


def metrics_command(
    references: Sequence[str] | None,
    key: Sequence[str] | None,
    fmt: ExportFormat | None,
    params: str | None = None,
    *,
    filters: FilterOptions,
) -> None:
    """Export every logged point of the matching experiments, one row per point.

    Columns: experiment_id, key, step, value, logged_at (ISO 8601, UTC); rows by experiment (in
    the filters' order, newest first by default), then key, then step. Values are as logged:
    floats with every digit, ints, text, JSON for lists and dicts, NaN and infinities as the
    strings "NaN", "Infinity", "-Infinity". Exits 1 if no experiment matches. --params lr,seed
    adds a params.lr and a params.seed column (each experiment's value, empty where it has none);
    --params all adds every param of the selection.

    Examples:

      yanex metrics abc12345 --key loss > loss.csv

      yanex metrics --tag grid-search --status completed --format json

      yanex metrics --tag grid-search -k loss -k accuracy | python analyse.py

      yanex metrics --tag grid-search -k loss --params lr,seed > loss.csv
    """
    from yanex.cli.store import store
    from yanex.errors import NotFoundError
    from yanex.store.history import points
    from yanex.store.reading import reading
    from yanex.store.references import resolve_references
    from yanex.store.selection import select_ids

    flt = filters.build()
    with reading(store()) as conn:
        if references:
            flt = flt.naming(resolve_references(conn, references))
        found = select_ids(conn, flt)
        if not found:
            raise NotFoundError(
                "no experiments match these filters", hint="check them with `yanex list --all`"
            )
        columns = _param_columns(conn, found, params)
        write_points(points(conn, found, key or ()), fmt or ExportFormat.CSV, columns)


COMMAND = Command(
    metrics_command,
    (
        REFERENCES,
        Param("key", ("--key", "-k"), str, None, "Only this metric (repeatable).", True),
        EXPORT_FORMAT,
        Param(
            "params",
            ("--params",),
            str,
            None,
            "Param columns beside each point: names comma-separated (lr,seed), or all.",
            metavar="NAMES",
        ),
    ),
    filters=("select", "archive", "order"),
)
