"""``yanex compare``: experiments side by side, differing params and last metric values."""

from __future__ import annotations

import re
from typing import Any

from yanex.cli.render import FORMAT, OutputFormat
from yanex.cli.spec import Command, FilterOptions, Param

# Metrics whose best value is the smallest; every other metric is best at its largest.
LOWER_IS_BETTER = re.compile(r"loss|err|mse|mae|rmse|perplexity|time|latency|regret", re.IGNORECASE)


def best_rows(values: list[Any], key: str) -> set[int]:
    """Indexes of the rows holding the best numeric value of metric ``key``."""
    numbers = {i: v for i, v in enumerate(values) if isinstance(v, int | float) and not isinstance(v, bool)}
    if len(numbers) < 2:
        return set()
    best = min(numbers.values()) if LOWER_IS_BETTER.search(key) else max(numbers.values())
    return {i for i, v in numbers.items() if v == best}


def compare_command(
    references: list[str] | None,
    param: list[str] | None,
    metric: list[str] | None,
    fmt: OutputFormat,
    *,
    filters: FilterOptions,
) -> None:
    """Compare experiments: one row each, the params that differ and the last value of every metric.

    The best value of each metric column is highlighted on a terminal (the smallest for names
    with loss, err, mse, mae, time or latency; the largest otherwise). Exits 1 if nothing matches.
    JSON rows carry id, name, status, params (flat, dotted keys) and metrics (last values).

    Examples:

      yanex compare --tag grid-search

      yanex compare abc12345 def67890

      yanex compare --tag grid-search --sort accuracy --desc --limit 5

      yanex compare -t grid-search -p learning_rate -p batch_size -m accuracy --format csv
    """
    from yanex.cli.render import print_rows
    from yanex.cli.store import store
    from yanex.errors import NotFoundError, UsageError
    from yanex.store.filters import SORT_COLUMNS
    from yanex.store.reads import compare
    from yanex.store.references import resolve_references
    from yanex.terminal import text_problem

    db = store()
    ids = resolve_references(db, references) if references else None
    sort = filters.values.get("sort")
    if sort is not None and sort not in SORT_COLUMNS and not sort.startswith(("params.", "metrics.")):
        sort = f"metrics.{sort}"  # compare sorts by a metric named bare
    flt = filters.build(ids, sort=sort)
    for option, names in (("--param", param or ()), ("--metric", metric or ())):
        for name in names:
            problem = text_problem(name)
            if problem:
                raise UsageError(f"{option} {problem}", hint="pass text that is valid UTF-8")
    comparison = compare(db, flt, params=param or (), metrics=metric or ())
    if not comparison.rows:
        raise NotFoundError("no experiments match these filters", hint="check them with `yanex list --all`")
    clash = set(comparison.params) & set(comparison.metrics)
    param_heads = [f"params.{k}" if k in clash else k for k in comparison.params]
    metric_heads = [f"metrics.{k}" if k in clash else k for k in comparison.metrics]
    columns = ["id", "name", "status", *param_heads, *metric_heads]
    rows = [
        [
            r.id,
            r.name or "",
            r.status.value,
            *(r.params.get(k) for k in comparison.params),
            *(r.metrics.get(k) for k in comparison.metrics),
        ]
        for r in comparison.rows
    ]
    styles: dict[tuple[int, int], str] = {}
    for offset, key in enumerate(comparison.metrics):
        column = 3 + len(comparison.params) + offset
        for row in best_rows([r.metrics.get(key) for r in comparison.rows], key):
            styles[(row, column)] = "bold green"
    records = [r.as_json() for r in comparison.rows]
    print_rows(fmt, columns, rows, records, styles=styles)


COMMAND = Command(
    compare_command,
    (
        Param("references", (), str, None, "Ids, id prefixes or names (all must match).", True, "[IDS]..."),
        Param("param", ("--param", "-p"), str, None, "Show this parameter (repeatable; dotted).", True),
        Param("metric", ("--metric", "-m"), str, None, "Show this metric (repeatable).", True),
        FORMAT,
    ),
    filters=("select", "archive", "order"),
)
