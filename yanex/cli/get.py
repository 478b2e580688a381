"""``yanex get``: one field, bare, for shell scripts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from yanex.cli.metrics import EXPORT_FORMAT, ExportFormat
from yanex.cli.render import echo, patch_text
from yanex.cli.spec import REQUIRED, Command, FilterOptions, Param
from yanex.terminal import printable

if TYPE_CHECKING:
    from yanex.store.metric_values import MetricSummary
    from yanex.store.tables import ExperimentRecord

FIELDS: dict[str, Callable[[ExperimentRecord], Any]] = {
    "id": lambda e: e.id,
    "name": lambda e: e.name,
    "status": lambda e: e.status.value,
    "description": lambda e: e.description,
    "tags": lambda e: e.tags,
    "script": lambda e: e.script_path,
    "script_path": lambda e: e.script_path,
    "script_args": lambda e: e.script_args,
    "working_dir": lambda e: e.working_dir,
    "created_at": lambda e: e.created_at,
    "started_at": lambda e: e.started_at,
    "ended_at": lambda e: e.ended_at,
    "duration": lambda e: e.duration,
    "exit_code": lambda e: e.exit_code,
    "error_message": lambda e: e.error_message,
    "batch_id": lambda e: e.batch_id,
    "retry_of": lambda e: e.retry_of,
    "archived": lambda e: e.archived,
    "params": lambda e: e.config,
    "git.commit": lambda e: e.git.commit,
    "git.branch": lambda e: e.git.branch,
    "git.dirty": lambda e: e.git.dirty,
    "git.patch": lambda e: e.git.patch,
    "python_version": lambda e: e.environment.python_version,
    "platform": lambda e: e.environment.platform,
    "hostname": lambda e: e.environment.hostname,
}
_MISSING = object()


def _text(value: Any) -> str:
    """Strings bare but escaped (one line each, no control characters), missing values empty,
    everything else as JSON (so 0.01 stays 0.01)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return printable(value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    import json

    return json.dumps(value, sort_keys=True)


def _param(config: dict[str, Any], dotted: str) -> Any:
    """A nested parameter by dotted path (a sub-tree comes back whole); keys may contain dots."""
    if dotted in config:
        return config[dotted]
    head, _, rest = dotted.partition(".")
    while rest:
        if head in config and isinstance(config[head], dict):
            found = _param(config[head], rest)
            if found is not _MISSING:
                return found
        more, _, rest = rest.partition(".")
        head = f"{head}.{more}"
    return _MISSING


def _value(field: str, experiment: ExperimentRecord, metrics: dict[str, MetricSummary]) -> Any:
    if field.startswith("params."):
        return _param(experiment.config, field[len("params.") :])
    if field == "metrics":
        return {k: m.value for k, m in metrics.items()}
    if field.startswith("metrics."):
        from yanex.store.metric_names import metric_ref

        ref = metric_ref(field[len("metrics.") :])
        summary = metrics.get(ref.key)
        return _MISSING if summary is None else summary.aggregate(ref.aggregate.name)
    return FIELDS[field](experiment)


def _history(field: str, reference: str | None, fmt: ExportFormat | None, filters: FilterOptions) -> None:
    """Every point of one metric of one experiment, streamed: ``--history``. ``--limit`` and
    ``--desc`` apply to the points (there is one experiment); ``--sort`` orders experiments only."""
    from yanex.cli.metrics import write_curve
    from yanex.cli.store import store
    from yanex.errors import NotFoundError, UsageError
    from yanex.store.history import curve
    from yanex.store.metric_values import latest_of
    from yanex.store.reading import reading
    from yanex.store.references import resolve_reference
    from yanex.store.selection import select_ids

    if not field.startswith("metrics.") or reference is None:
        raise UsageError(
            "--history prints the points of one metric of one experiment",
            hint="yanex get metrics.NAME ID --history; for many experiments: yanex metrics --key NAME",
        )
    key = field[len("metrics.") :]
    flt = filters.build()
    if flt.sort is not None:
        raise UsageError(
            "--sort orders experiments; --history prints one experiment's points by step",
            hint="leave out --sort (--desc --limit N gives the last N points)",
        )
    with reading(store()) as conn:
        found = select_ids(conn, flt.naming([resolve_reference(conn, reference)]))
        if not found:
            raise NotFoundError(
                "no experiments match these filters", hint="check them with `yanex list --all`"
            )
        experiment_id = found[0]
        if key not in latest_of(conn, [experiment_id], [key])[experiment_id]:
            raise NotFoundError(
                f"experiment {experiment_id} has no metric {key!r}", hint=f"see `yanex show {experiment_id}`"
            )
        points = curve(conn, experiment_id, key, descending=flt.desc, limit=flt.limit)
        write_curve(points, fmt or ExportFormat.CSV)


def get_command(
    field: str,
    reference: str | None,
    history: bool = False,
    fmt: ExportFormat | None = None,
    *,
    filters: FilterOptions,
) -> None:
    """Print one field of one experiment, or of every matching experiment one per line after its
    id (as tables show it: `abc12345  0.95`; `get id` prints the full ids alone).

    Strings print bare, numbers and structures as JSON, missing values as an empty line. Exits 1
    when nothing matches, or when the one experiment named by ID lacks the param or metric.
    With --history, metrics.NAME and an ID: every point of that metric as step,value lines (or
    --format json), by step; --limit N prints the first N points, --desc puts the last first.

    Fields: id, name, status, description, tags, script, script_args, working_dir, created_at,
    started_at, ended_at, duration, exit_code, error_message, batch_id, retry_of, archived,
    params, params.NAME, metrics, metrics.NAME, metrics.NAME.AGG, git.commit, git.branch,
    git.dirty, git.patch, python_version, platform, hostname. AGG is one of last, first, min, max,
    mean, best, step_of_best, count (min, max, mean and best over the finite numbers logged).

    Examples:

      yanex get status abc12345

      yanex get params.learning_rate abc12345

      yanex get metrics.accuracy abc12345

      yanex get metrics.loss.min abc12345

      yanex get id --tag grid-search --status completed

      yanex get id --tag grid-search --sort metrics.accuracy.max --desc --limit 1

      yanex get metrics.loss abc12345 --history > loss.csv

      yanex get metrics.loss abc12345 --history --desc --limit 5
    """
    from yanex.cli.store import store
    from yanex.errors import NotFoundError, UsageError
    from yanex.store.ids import short_ids
    from yanex.store.metric_values import latest_of
    from yanex.store.reading import reading
    from yanex.store.records import find_records
    from yanex.store.references import resolve_reference

    if history:
        _history(field, reference, fmt, filters)
        return
    if fmt is not None:
        raise UsageError(
            "--format goes with --history", hint="yanex get metrics.NAME ID --history --format json"
        )
    if not (field in FIELDS or field == "metrics" or field.startswith(("params.", "metrics."))):
        raise UsageError(
            f"unknown field {field!r}",
            hint=f"use one of {', '.join(FIELDS)}, params.NAME, metrics, metrics.NAME",
        )
    flt = filters.build()
    with reading(store()) as conn:
        if reference is not None:
            flt = flt.naming([resolve_reference(conn, reference)])
        experiments = find_records(conn, flt)
        ids = [e.id for e in experiments]
        metrics = latest_of(conn, ids) if field.startswith("metrics") else {}
        # Several values name their experiment (as tables show it); one value, and ids, print bare.
        labels = short_ids(conn, ids) if len(ids) > 1 and field != "id" else {}
    if not experiments:
        raise NotFoundError("no experiments match these filters", hint="check them with `yanex list --all`")
    for experiment in experiments:
        value = _value(field, experiment, metrics.get(experiment.id, {}))
        if value is _MISSING:
            if reference is not None:
                kind = "metric" if field.startswith("metrics.") else "parameter"
                name = field.split(".", 1)[1]
                if kind == "metric":
                    from yanex.store.metric_names import metric_ref

                    name = metric_ref(name).key
                raise NotFoundError(
                    f"experiment {experiment.id} has no {kind} {name!r}",
                    hint=f"see `yanex show {experiment.id}`",
                )
            value = None
        text = patch_text(value or "") if field == "git.patch" else _text(value)
        echo(f"{labels[experiment.id]}  {text}" if labels else text)


COMMAND = Command(
    get_command,
    (
        Param(
            "field", (), str, REQUIRED, "id, name, status, params.NAME, metrics.NAME, tags, ... (see below)"
        ),
        Param("reference", (), str, None, "Full id, unique id prefix or exact name.", metavar="ID"),
        Param(
            "history", ("--history",), bool, False, "With metrics.NAME and an ID: every point, step,value."
        ),
        EXPORT_FORMAT,
    ),
    filters=("select", "archive", "order"),
)
