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
from collections.abc import Callable
from typing import Annotated, Any

import typer

from yanex.cli.spec import FilterOptions, filter_params, typer_parameter

__all__ = ["FilterOptions", "ReferencesArg", "filter_options"]

ReferencesArg = Annotated[
    list[str] | None, typer.Argument(metavar="[IDS]...", help="Ids, id prefixes or names.")
]

Command = Callable[..., None]


def filter_options(*, archive_flags: bool = False, ordering: bool = False) -> Callable[[Command], Command]:
    """Give a command the shared filter options; it receives them as ``filters: FilterOptions``.

    ``archive_flags`` adds --archived/--all (commands without them see unarchived experiments,
    plus any named by id); ``ordering`` adds --sort/--desc/--limit.
    """
    groups = ["select", *(["archive"] if archive_flags else []), *(["order"] if ordering else [])]
    options = {p.name: typer_parameter(p) for p in filter_params(groups)}

    def decorate(command: Command) -> Command:
        own = inspect.signature(command, eval_str=True)

        @functools.wraps(command)
        def with_filters(**kwargs: Any) -> None:
            filters = FilterOptions({name: kwargs.pop(name) for name in options})
            command(filters=filters, **kwargs)

        parameters = [p for p in own.parameters.values() if p.name != "filters"]
        parameters += options.values()
        signature = own.replace(parameters=parameters)
        with_filters.__signature__ = signature  # type: ignore[attr-defined]
        with_filters.__annotations__ = {p.name: p.annotation for p in parameters}
        return with_filters

    return decorate
