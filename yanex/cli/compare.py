"""``yanex compare``: experiments side by side, differing params and metric values; or, with
``--group-by``, groups of experiments with n, mean and std of each metric."""

from __future__ import annotations

from typing import TYPE_CHECKING

from yanex.cli.render import FORMAT, OutputFormat
from yanex.cli.spec import ALL_ATTEMPTS, Command, FilterOptions, Param

if TYPE_CHECKING:
    from yanex.cli.render import ShownId
    from yanex.store.environments import Packages
    from yanex.store.groups import GroupRow, GroupStats, Stat

_SHORT_COMMIT = 8  # digits of a commit a table shows (JSON and CSV carry all 40)


def _label(keys: list[str], row: GroupRow) -> str:
    named = ", ".join(f"{k}={_shown(k, v)}" for k, v in zip(keys, row.values, strict=True))
    return f"group {named}" if named else "the one group"


def _mix_notes(stats: GroupStats, group_by: list[str]) -> list[str]:
    """A line for the groups that mix statuses, and one for those that mix git commits, saying
    how to split them."""
    keys = list(stats.keys)
    notes = []
    mixed = [row for row in stats.rows if len(row.statuses) > 1]
    if mixed:
        what = (
            f"{_label(keys, mixed[0])} mixes statuses {', '.join(mixed[0].statuses)}"
            if len(mixed) == 1
            else f"{len(mixed)} groups mix statuses ({'; '.join(_label(keys, r)[6:] for r in mixed[:3])}"
            f"{'; ...' if len(mixed) > 3 else ''})"
        )
        notes.append(f"Note: {what}: select one with --status")
    mixed = [row for row in stats.rows if len(row.commits) > 1]
    if mixed and "git.commit" not in keys:
        what = (
            f"{_label(keys, mixed[0])} mixes {len(mixed[0].commits)} git commits "
            f"({', '.join(c[:_SHORT_COMMIT] for c in mixed[0].commits[:3])}"
            f"{', ...' if len(mixed[0].commits) > 3 else ''})"
            if len(mixed) == 1
            else f"{len(mixed)} groups mix git commits ({'; '.join(_label(keys, r)[6:] for r in mixed[:3])}"
            f"{'; ...' if len(mixed) > 3 else ''})"
        )
        split = ",".join([*group_by, "git.commit"])
        notes.append(
            f"Note: {what};\n      split {'it' if len(mixed) == 1 else 'them'} with --group-by '{split}'"
        )
    return notes


def _shown(key: str, value: object) -> object:
    """A group's value as a table shows it: a commit's first digits, as git prints it."""
    return value[:_SHORT_COMMIT] if key == "git.commit" and isinstance(value, str) else value


def _print_groups(stats: GroupStats, fmt: OutputFormat, group_by: list[str]) -> None:
    """One row per group: its parameter values, n, then mean and std of each metric; notes on
    stderr for what was left out and for groups that mix statuses or code."""
    import typer

    from yanex.cli.render import print_rows
    from yanex.errors import NotFoundError

    for note in [stats.scope.note(), *_mix_notes(stats, group_by)]:
        if note:
            typer.echo(note, err=True)
    if not stats.rows and stats.scope.left_out:
        raise NotFoundError(
            f"none of the {stats.scope.selected} selected experiments counts: not completed, or "
            "replaced by a later attempt",
            hint="include them with --status or --all-attempts",
        )
    if not stats.rows:
        raise NotFoundError("no experiments match these filters", hint="check them with `yanex list --all`")
    keys = list(stats.keys)
    records = [
        {
            "group": dict(zip(keys, row.values, strict=True)),
            "n": row.n,
            "metrics": {m: {"n": s.n, "mean": s.mean, "std": s.std} for m, s in row.metrics.items()},
        }
        for row in stats.rows
    ]
    if fmt is OutputFormat.CSV:  # one number per cell for programs
        columns = [*keys, "n", *(f"{m} {part}" for m in stats.metrics for part in ("n", "mean", "std"))]
        rows = [
            [*row.values, row.n, *(x for m in stats.metrics for x in _parts(row.metrics[m]))]
            for row in stats.rows
        ]
    else:
        columns = [*keys, "n", *stats.metrics]
        rows = [
            [
                *(_shown(k, v) for k, v in zip(keys, row.values, strict=True)),  # JSON: records
                row.n,
                *(_mean_std(row.metrics[m]) for m in stats.metrics),
            ]
            for row in stats.rows
        ]
    print_rows(fmt, columns, rows, records)


def _parts(stat: Stat) -> tuple[int, float | None, float | None]:
    return (stat.n, stat.mean, stat.std)


def _mean_std(stat: Stat) -> str:
    from yanex.cli.render import cell

    if stat.mean is None:
        return ""
    return cell(stat.mean) if stat.std is None else f"{cell(stat.mean)} ± {cell(stat.std)}"


def compare_command(
    references: list[str] | None,
    param: list[str] | None,
    metric: list[str] | None,
    group_by: list[str] | None,
    all_attempts: bool,
    fmt: OutputFormat,
    packages: bool = False,
    *,
    filters: FilterOptions,
) -> None:
    """Compare experiments: one row each, the params that differ and the last value of every metric.

    A metric column may name an aggregate over the metric's logged values: -m loss.min, .max,
    .mean, .first, .best, .step_of_best, .count (plain -m loss is the last value). The best value
    of each metric column is highlighted on a terminal, by the goal the experiments declared (yanex
    run --goal), else the smallest for names with loss, err, mse, mae, time or latency and the
    largest otherwise. Exits 1 if nothing matches. JSON rows carry
    id, name, status, params (flat, dotted keys) and metrics (by column name).

    With --packages, one row per installed Python package whose version is not the same in every
    experiment (blank: not installed), one column per experiment.

    With --group-by PARAM (repeatable, or comma-separated), one row per group of experiments
    sharing the values of those params: n, then mean ± sample std of each metric column across the
    group's experiments. --group-by '!seed' groups by every param that differs except seed
    (average over seeds); git.commit, git.dirty and git.branch group by the code run. Groups
    count completed experiments and the latest attempt of each (not one a retry, rerun or sweep
    resume replaced), as a note says: --status and --all-attempts change that. A note names the
    groups that mix statuses or git commits. --sort metrics.NAME orders the groups by their mean
    of that column (--desc reverses), --limit keeps the first groups.

    Examples:

      yanex compare --tag grid-search

      yanex compare abc12345 def67890

      yanex compare --tag grid-search --sort accuracy --desc --limit 5

      yanex compare -t grid-search -p learning_rate -p batch_size -m accuracy --format csv

      yanex compare -t grid-search -m accuracy.max -m loss.min --sort loss.min --limit 5

      yanex compare -t grid-search --group-by learning_rate -m accuracy.max

      yanex compare -t grid-search --group-by '!seed'

      yanex compare -t grid-search --group-by '!seed,git.commit' -m loss.min --sort loss.min

      yanex compare abc12345 def67890 --packages
    """
    from yanex.cli.render import print_rows, shown_ids
    from yanex.cli.store import store
    from yanex.errors import NotFoundError, UsageError
    from yanex.store.compare import best_rows, compare
    from yanex.store.filters import SORT_COLUMNS
    from yanex.store.reading import reading
    from yanex.terminal import text_problem

    sort = filters.values.get("sort")
    if sort is not None and sort not in SORT_COLUMNS and not sort.startswith(("params.", "metrics.")):
        sort = f"metrics.{sort}"  # compare sorts by a metric named bare
    flt = filters.build(sort=sort)
    given = (("--param", param or ()), ("--metric", metric or ()), ("--group-by", group_by or ()))
    for option, names in given:
        for name in names:
            problem = text_problem(name)
            if problem:
                raise UsageError(f"{option} {problem}", hint="pass text that is valid UTF-8")
    if packages and (group_by or param or metric):
        raise UsageError(
            "--packages compares installed packages only",
            hint="leave out --param, --metric and --group-by, or run a second compare for them",
        )
    if group_by:
        if param:
            raise UsageError("--param and --group-by do not go together", hint="group by the params instead")
    elif all_attempts:
        raise UsageError("--all-attempts counts attempts in groups", hint="pass --group-by too")
    with reading(store()) as conn:
        if references:
            from yanex.store.references import resolve_references

            flt = flt.naming(resolve_references(conn, references))
        if group_by:
            from yanex.store.groups import group_stats  # (grouping's code loads only when asked)

            stats = group_stats(conn, flt, group_by, metric or (), all_attempts=all_attempts)
        else:
            comparison = compare(conn, flt, params=param or (), metrics=metric or ())
            ids = shown_ids(conn, [r.id for r in comparison.rows])
            if packages:
                from yanex.store.environments import environment_of

                sets = {r.id: environment_of(conn, r.id) for r in comparison.rows}
                titles = {r.id: r.name for r in comparison.rows}
    if packages:
        _print_packages(sets, ids, titles, fmt)
        return
    if group_by:
        _print_groups(stats, fmt, group_by)
        return
    if not comparison.rows:
        raise NotFoundError("no experiments match these filters", hint="check them with `yanex list --all`")
    clash = set(comparison.params) & set(comparison.metrics)
    param_heads = [f"params.{k}" if k in clash else k for k in comparison.params]
    metric_heads = [f"metrics.{k}" if k in clash else k for k in comparison.metrics]
    columns = ["id", "name", "status", *param_heads, *comparison.git, *metric_heads]
    whole = fmt is OutputFormat.CSV  # a commit in full for programs
    rows = [
        [
            ids[r.id],
            r.name or "",
            r.status.value,
            *map(r.params.get, comparison.params),
            *(r.git[k] if whole else _shown(k, r.git[k]) for k in comparison.git),
            *map(r.metrics.get, comparison.metrics),
        ]
        for r in comparison.rows
    ]
    styles: dict[tuple[int, int], str] = {}
    for offset, key in enumerate(comparison.metrics):
        column = 3 + len(comparison.params) + len(comparison.git) + offset
        for row in best_rows([r.metrics.get(key) for r in comparison.rows], key, comparison.goals.get(key)):
            styles[(row, column)] = "bold green"
    records = [r.as_json() for r in comparison.rows] if fmt is OutputFormat.JSON else []
    print_rows(fmt, columns, rows, records, styles=styles)


def _print_packages(
    sets: dict[str, Packages | None], ids: dict[str, ShownId], names: dict[str, str | None], fmt: OutputFormat
) -> None:
    """``--packages``: the packages whose versions differ, one column per experiment (headed by
    its short id and name; CSV and JSON by the full id)."""
    from yanex.cli.render import print_rows
    from yanex.errors import NotFoundError, UsageError
    from yanex.store.environments import package_differences

    if not sets:
        raise NotFoundError("no experiments match these filters", hint="check them with `yanex list --all`")
    missing = [ids[experiment_id].short for experiment_id, found in sets.items() if found is None]
    if missing:
        raise UsageError(
            f"no recorded packages for {', '.join(map(str, missing[:5]))}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""),
            hint="packages are recorded when yanex starts a script (since schema revision 0018); "
            "leave those experiments out",
        )
    if len(sets) < 2:
        raise UsageError("--packages needs two experiments or more", hint="name another one to compare with")
    recorded = [found for found in sets.values() if found is not None]
    differences = package_differences(recorded)
    people = fmt in (OutputFormat.TABLE, OutputFormat.MARKDOWN)
    columns = [
        "package",
        *(f"{ids[i].short} {names[i] or ''}".strip() if people else str(ids[i]) for i in sets),
    ]
    rows = [[difference.name, *difference.versions] for difference in differences]
    records = [{"package": d.name, "versions": dict(zip(sets, d.versions, strict=True))} for d in differences]
    print_rows(fmt, columns, rows, records)
    if not differences and fmt is OutputFormat.TABLE:
        from yanex.cli.render import echo

        echo(f"The {len(sets)} experiments ran with the same packages.", err=True)


COMMAND = Command(
    compare_command,
    (
        Param("references", (), str, None, "Ids, id prefixes or names (all must match).", True, "IDS"),
        Param("param", ("--param", "-p"), str, None, "Show this parameter (repeatable; dotted).", True),
        Param(
            "metric",
            ("--metric", "-m"),
            str,
            None,
            "Show this metric, or an aggregate: loss.min, accuracy.max (repeatable).",
            True,
        ),
        Param(
            "group_by",
            ("--group-by",),
            str,
            None,
            "Group by this param (or git.commit, git.dirty), or '!PARAM' for every differing param "
            "but PARAM (repeatable; comma-separated too).",
            True,
        ),
        ALL_ATTEMPTS,
        FORMAT,
        Param(
            "packages",
            ("--packages",),
            bool,
            False,
            "Only the installed Python packages whose versions differ between the experiments.",
        ),
    ),
    filters=("select", "archive", "order"),
)
