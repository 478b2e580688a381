"""The filter options every selecting command shares (list, compare, get, archive, delete, rerun).

A command takes them by decoration, not by repeating a dozen parameters::

    @filter_options(archive_flags=True, ordering=True)
    def list_command(fmt: FormatOpt = OutputFormat.TABLE, *, filters: FilterOptions) -> None:
        flt = filters.build()

``filter_options`` appends the options to the command's signature (where Typer reads them) and
hands their values to the command as one ``FilterOptions``, whose ``build`` makes the single
``ExperimentFilter`` every command and the Python API query through. The options are derived from
the fields ``yanex.store.filters`` declares: a filter declared there is an option of every
selecting command, and a keyword of ``yanex.find``, with nothing to add here.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from yanex.store.filters import ExperimentFilter, Kind, declared

ReferencesArg = Annotated[
    list[str] | None, typer.Argument(metavar="[IDS]...", help="Ids, id prefixes or names.")
]

_FILTERS = "Filters"


def _annotation(kind: Kind, flags: tuple[str, ...], help: str, panel: str | None) -> Any:
    """The Typer parameter type of one declared option."""
    types: dict[str, Any] = {"texts": list[str] | None, "text": str | None, "flag": bool, "count": int | None}
    return Annotated[types[kind], typer.Option(*flags, help=help, rich_help_panel=panel)]


def _options(groups: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    """Parameter name -> (annotation, default) for the declared fields of ``groups``."""
    options: dict[str, tuple[Any, Any]] = {}
    for field in declared():
        o = field.option
        if o.group not in groups:
            continue
        panel = _FILTERS if o.group != "order" else None
        if o.kind == "archive":  # one three-valued field, two flags
            archived, all_ = o.flags
            options["archived"] = (
                _annotation("flag", (archived,), "Only archived experiments.", panel),
                False,
            )
            help = "Archived and unarchived experiments."
            options["all_"] = (_annotation("flag", (all_, "-a"), help, panel), False)
        else:
            default = False if o.kind == "flag" else None
            options[field.name] = (_annotation(o.kind, o.flags, o.help, panel), default)
    return options


@dataclass(frozen=True)
class FilterOptions:
    """The values of the shared filter options as one command invocation received them."""

    values: dict[str, Any]

    def build(
        self,
        ids: Sequence[str] | None = None,
        *,
        sort: str | None = None,
    ) -> ExperimentFilter:
        """One ``ExperimentFilter``; raises ``UsageError`` for bad values.

        ``ids`` are exact ids (resolve user references with ``resolve_references``); experiments
        named by id are found even when archived. ``sort`` replaces the --sort given (compare
        reads a bare metric name).
        """
        from yanex.errors import UsageError
        from yanex.terminal import text_problem

        values = {name: value for name, value in self.values.items() if value is not None}
        archived, all_ = values.pop("archived", False), values.pop("all_", False)
        if sort is not None:
            values["sort"] = sort
        if archived and all_:
            raise UsageError("--archived and --all contradict each other", hint="pass one of them")
        for field in declared():
            given = values.get(field.name)
            for text in [given] if isinstance(given, str) else given if isinstance(given, list) else ():
                problem = text_problem(text)
                if problem:
                    raise UsageError(
                        f"{field.option.flags[0]} {problem}", hint="pass text that is valid UTF-8"
                    )
        include_all = all_ or (ids is not None and not archived)
        return ExperimentFilter(
            ids=tuple(ids) if ids is not None else None,
            archived="only" if archived else "include" if include_all else "hide",
            **values,
        )


Command = Callable[..., None]


def filter_options(*, archive_flags: bool = False, ordering: bool = False) -> Callable[[Command], Command]:
    """Give a command the shared filter options; it receives them as ``filters: FilterOptions``.

    ``archive_flags`` adds --archived/--all (commands without them see unarchived experiments,
    plus any named by id); ``ordering`` adds --sort/--desc/--limit.
    """
    groups = ["select", *(["archive"] if archive_flags else []), *(["order"] if ordering else [])]
    options = _options(groups)

    def decorate(command: Command) -> Command:
        own = inspect.signature(command, eval_str=True)

        @functools.wraps(command)
        def with_filters(**kwargs: Any) -> None:
            filters = FilterOptions({name: kwargs.pop(name) for name in options})
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
