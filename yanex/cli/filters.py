"""The filter options every selecting command shares (list, compare, get, archive, delete, rerun).

Declare them in a command's signature with these ``Annotated`` aliases and pass the values to
``build_filter``, so each command parses filters the same way into one ``ExperimentFilter``::

    def my_command(
        status: StatusOpt = None, tag: TagOpt = None, name: NameOpt = None, script: ScriptOpt = None,
        batch: BatchOpt = None, started_after: StartedAfterOpt = None,
        started_before: StartedBeforeOpt = None, ended_after: EndedAfterOpt = None,
        ended_before: EndedBeforeOpt = None, where: WhereOpt = None,
        archived: ArchivedOpt = False, all_: AllOpt = False,
    ) -> None:
        flt = build_filter(status=status, tag=tag, ...)

Only Typer is imported here: the store loads when ``build_filter`` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from yanex.store.query import ExperimentFilter

_FILTERS = "Filters"
_TIME = "ISO date/datetime or a phrase: 'today', 'yesterday', '2 hours ago', '1 week ago'."

StatusOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        "-s",
        help="Only this status (repeatable): created, queued, running, completed, failed, cancelled.",
        rich_help_panel=_FILTERS,
    ),
]
TagOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--tag",
        "-t",
        help="Only experiments with this tag (repeatable: all must match).",
        rich_help_panel=_FILTERS,
    ),
]
NameOpt = Annotated[
    str | None,
    typer.Option("--name", "-n", help="Name glob, e.g. 'grid-*' (case-sensitive).", rich_help_panel=_FILTERS),
]
ScriptOpt = Annotated[
    str | None,
    typer.Option("--script", help="Script file name (train.py) or absolute path.", rich_help_panel=_FILTERS),
]
BatchOpt = Annotated[str | None, typer.Option("--batch", help="Batch id.", rich_help_panel=_FILTERS)]
StartedAfterOpt = Annotated[
    str | None,
    typer.Option("--started-after", help=f"Started at or after: {_TIME}", rich_help_panel=_FILTERS),
]
StartedBeforeOpt = Annotated[
    str | None, typer.Option("--started-before", help=f"Started before: {_TIME}", rich_help_panel=_FILTERS)
]
EndedAfterOpt = Annotated[
    str | None, typer.Option("--ended-after", help=f"Ended at or after: {_TIME}", rich_help_panel=_FILTERS)
]
EndedBeforeOpt = Annotated[
    str | None, typer.Option("--ended-before", help=f"Ended before: {_TIME}", rich_help_panel=_FILTERS)
]
WhereOpt = Annotated[
    str | None,
    typer.Option(
        "--where",
        "-w",
        help="Condition on params and last metric values, e.g. "
        '"lr > 0.01 and metrics.accuracy >= 0.9", "batch_size in (16, 32)", "optimizer = \'adam\'".',
        rich_help_panel=_FILTERS,
    ),
]
ArchivedOpt = Annotated[
    bool, typer.Option("--archived", help="Only archived experiments.", rich_help_panel=_FILTERS)
]
AllOpt = Annotated[
    bool, typer.Option("--all", "-a", help="Archived and unarchived experiments.", rich_help_panel=_FILTERS)
]
SortOpt = Annotated[
    str | None,
    typer.Option(
        "--sort",
        help="Order by a column (name, status, created, started, ended, duration, script), "
        "params.NAME or metrics.NAME (last value). Default: newest first.",
    ),
]
DescOpt = Annotated[bool, typer.Option("--desc", help="Sort descending (largest first).")]
LimitOpt = Annotated[int | None, typer.Option("--limit", "-l", help="At most this many experiments.")]


def build_filter(
    *,
    status: Sequence[str] | None = None,
    tag: Sequence[str] | None = None,
    name: str | None = None,
    script: str | None = None,
    batch: str | None = None,
    started_after: str | None = None,
    started_before: str | None = None,
    ended_after: str | None = None,
    ended_before: str | None = None,
    where: str | None = None,
    archived: bool = False,
    all_: bool = False,
    sort: str | None = None,
    desc: bool = False,
    limit: int | None = None,
    ids: Sequence[str] | None = None,
) -> ExperimentFilter:
    """One ``ExperimentFilter`` from the shared options; raises ``UsageError`` for bad values.

    ``ids`` are exact ids (resolve user references with ``yanex.store.query.resolve_references``).
    """
    from yanex.errors import UsageError
    from yanex.store.query import ExperimentFilter

    if archived and all_:
        raise UsageError("--archived and --all contradict each other", hint="pass one of them")
    return ExperimentFilter(
        ids=tuple(ids) if ids is not None else None,
        statuses=tuple(status or ()),
        tags=tuple(tag or ()),
        name=name,
        script=script,
        batch=batch,
        started_after=started_after,
        started_before=started_before,
        ended_after=ended_after,
        ended_before=ended_before,
        where=where,
        archived="only" if archived else "include" if all_ else "hide",
        sort=sort,
        desc=desc,
        limit=limit,
    )


def has_conditions(flt: ExperimentFilter) -> bool:
    """Whether the filter narrows anything down (destructive commands refuse a bare filter)."""
    return bool(
        flt.ids is not None
        or flt.statuses
        or flt.tags
        or flt.where
        or any(
            value is not None
            for value in (
                flt.name,
                flt.script,
                flt.batch,
                flt.started_after,
                flt.started_before,
                flt.ended_after,
                flt.ended_before,
            )
        )
        or flt.archived == "only"
    )
