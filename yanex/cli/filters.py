"""The filter options every selecting command shares (list, compare, get, archive, delete, rerun).

A command takes them by decoration, not by repeating a dozen parameters::

    @filter_options(archive_flags=True, ordering=True)
    def list_command(fmt: FormatOpt = OutputFormat.TABLE, *, filters: FilterOptions) -> None:
        flt = filters.build()

``filter_options`` appends the options to the command's signature (where Typer reads them) and
hands their values to the command as one ``FilterOptions``, whose ``build`` makes the single
``ExperimentFilter`` every command and the Python API query through. Only Typer is imported here:
the store loads when ``build`` runs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from yanex.store.query import ExperimentFilter

ReferencesArg = Annotated[
    list[str] | None, typer.Argument(metavar="[IDS]...", help="Ids, id prefixes or names.")
]

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


@dataclass(frozen=True)
class FilterOptions:
    """The values of the shared filter options as one command invocation received them."""

    status: Sequence[str] | None = None
    tag: Sequence[str] | None = None
    name: str | None = None
    script: str | None = None
    batch: str | None = None
    started_after: str | None = None
    started_before: str | None = None
    ended_after: str | None = None
    ended_before: str | None = None
    where: str | None = None
    archived: bool = False
    all_: bool = False
    sort: str | None = None
    desc: bool = False
    limit: int | None = None

    def build(
        self,
        ids: Sequence[str] | None = None,
        *,
        sort: str | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> ExperimentFilter:
        """One ``ExperimentFilter``; raises ``UsageError`` for bad values.

        ``ids`` are exact ids (resolve user references with ``resolve_references``); experiments
        named by id are found even when archived. ``sort``, ``desc`` and ``limit`` serve commands
        that declare their own ordering options.
        """
        from yanex.errors import UsageError
        from yanex.specs import text_problem
        from yanex.store.query import ExperimentFilter

        if self.archived and self.all_:
            raise UsageError("--archived and --all contradict each other", hint="pass one of them")
        texts = {"--status": self.status, "--tag": self.tag, "--name": self.name, "--script": self.script}
        texts |= {"--batch": self.batch, "--where": self.where, "--sort": self.sort or sort}
        for option, given in texts.items():
            for text in [given] if isinstance(given, str) else given or ():
                problem = text_problem(text)
                if problem:
                    raise UsageError(f"{option} {problem}", hint="pass text that is valid UTF-8")
        include_all = self.all_ or (ids is not None and not self.archived)
        return ExperimentFilter(
            ids=tuple(ids) if ids is not None else None,
            statuses=tuple(self.status or ()),
            tags=tuple(self.tag or ()),
            name=self.name,
            script=self.script,
            batch=self.batch,
            started_after=self.started_after,
            started_before=self.started_before,
            ended_after=self.ended_after,
            ended_before=self.ended_before,
            where=self.where,
            archived="only" if self.archived else "include" if include_all else "hide",
            sort=self.sort or sort,
            desc=self.desc or desc,
            limit=self.limit if self.limit is not None else limit,
        )


_SELECTION: dict[str, tuple[Any, Any]] = {
    "status": (StatusOpt, None),
    "tag": (TagOpt, None),
    "name": (NameOpt, None),
    "script": (ScriptOpt, None),
    "batch": (BatchOpt, None),
    "started_after": (StartedAfterOpt, None),
    "started_before": (StartedBeforeOpt, None),
    "ended_after": (EndedAfterOpt, None),
    "ended_before": (EndedBeforeOpt, None),
    "where": (WhereOpt, None),
}
_ARCHIVE_FLAGS: dict[str, tuple[Any, Any]] = {"archived": (ArchivedOpt, False), "all_": (AllOpt, False)}
_ORDERING: dict[str, tuple[Any, Any]] = {
    "sort": (SortOpt, None),
    "desc": (DescOpt, False),
    "limit": (LimitOpt, None),
}

Command = Callable[..., None]


def filter_options(*, archive_flags: bool = False, ordering: bool = False) -> Callable[[Command], Command]:
    """Give a command the shared filter options; it receives them as ``filters: FilterOptions``.

    ``archive_flags`` adds --archived/--all (commands without them see unarchived experiments,
    plus any named by id); ``ordering`` adds --sort/--desc/--limit.
    """
    options = {**_SELECTION, **(_ARCHIVE_FLAGS if archive_flags else {}), **(_ORDERING if ordering else {})}

    def decorate(command: Command) -> Command:
        own = inspect.signature(command, eval_str=True)

        @functools.wraps(command)
        def with_filters(**kwargs: Any) -> None:
            filters = FilterOptions(**{name: kwargs.pop(name) for name in options})
            command(filters=filters, **kwargs)

        parameters = [p for p in own.parameters.values() if p.name != "filters"]
        parameters += [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
            for name, (annotation, default) in options.items()
        ]
        signature = own.replace(parameters=parameters)
        with_filters.__signature__ = signature  # type: ignore[attr-defined]
        with_filters.__annotations__ = {p.name: p.annotation for p in parameters}
        return with_filters

    return decorate


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
