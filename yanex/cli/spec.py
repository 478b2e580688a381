"""Command parameters declared once, in the standard library: Typer's signature and the fast path
are both derived from them.

The query commands (list, get, show, compare) answer in a few tens of milliseconds only without
Typer (its import and its pydantic-based coercion cost ~80 ms). ``yanex.cli.app.main`` parses
their command lines with ``parse`` and runs them directly; anything ``parse`` does not take for
certain (``--help``, an unknown or malformed option, a bad value) goes to Typer, which then parses
the same declaration (``typer_signature``) and says what is wrong as it always does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from yanex.store.filters import ExperimentFilter, declared

if TYPE_CHECKING:
    import inspect

FILTERS_PANEL = "Filters"


@dataclass(frozen=True)
class Param:
    """One parameter: an option when it has ``flags``, else a positional argument."""

    name: str  # the command function's keyword
    flags: tuple[str, ...]
    type: type[Any]  # str, int, bool (a flag) or an Enum of choices
    default: Any
    help: str
    multiple: bool = False
    metavar: str | None = None
    panel: str | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # the default of an argument that must be given


def filter_params(groups: Sequence[str]) -> list[Param]:
    """The declared filters of ``groups`` (``yanex.store.filters``) as parameters."""
    params: list[Param] = []
    for field in declared():
        o = field.option
        if o.group not in groups:
            continue
        panel = FILTERS_PANEL if o.group != "order" else None
        if o.kind == "archive":  # one three-valued field, two flags
            archived, all_ = o.flags
            params.append(
                Param("archived", (archived,), bool, False, "Only archived experiments.", panel=panel)
            )
            help = "Archived and unarchived experiments."
            params.append(Param("all_", (all_, "-a"), bool, False, help, panel=panel))
        else:
            kind: type[Any] = {"texts": str, "text": str, "flag": bool, "count": int}[o.kind]
            default = False if kind is bool else None
            params.append(Param(field.name, o.flags, kind, default, o.help, o.kind == "texts", panel=panel))
    return params


@dataclass(frozen=True)
class Command:
    """A command's function and its parameters; ``filters`` names the filter groups it takes,
    which reach it as ``filters: FilterOptions``."""

    run: Callable[..., None]
    params: tuple[Param, ...]
    filters: tuple[str, ...] = ()

    def all_params(self) -> list[Param]:
        return [*self.params, *filter_params(self.filters)]

    def invoke(self, values: dict[str, Any]) -> None:
        if not self.filters:
            self.run(**values)
            return
        names = {p.name for p in filter_params(self.filters)}
        options = FilterOptions({name: values.pop(name) for name in names})
        self.run(filters=options, **values)


def parse(command: Command, argv: Sequence[str]) -> dict[str, Any] | None:
    """The parameter values of ``argv``, or None when Typer should parse it (see the docstring)."""
    params = command.all_params()
    by_flag = {flag: p for p in params for flag in p.flags}
    positional = [p for p in params if not p.flags]
    values: dict[str, Any] = {p.name: [] if p.multiple else p.default for p in params}
    given: set[str] = set()
    args: list[str] = []
    tokens = list(argv)
    index = 0
    try:
        while index < len(tokens):
            token = tokens[index]
            index += 1
            if token == "--":
                args += tokens[index:]
                break
            if not token.startswith("-") or token == "-":
                args.append(token)
                continue
            flag, eq, attached = token.partition("=") if token.startswith("--") else (token, "", "")
            param = by_flag.get(flag)
            if param is None:
                return None  # --help, an unknown option, -abc: Typer's
            if param.type is bool:
                if eq:
                    return None
                values[param.name] = True
                continue
            if not eq:
                if index == len(tokens):
                    return None
                attached = tokens[index]
                index += 1
            value = param.type(attached)
            if param.multiple:
                values[param.name].append(value)
            elif param.name in given:
                return None
            else:
                values[param.name] = value
            given.add(param.name)
        for param in positional:
            if param.multiple:
                values[param.name], args = args, []
            elif args:
                values[param.name] = param.type(args.pop(0))
            elif param.required:
                return None
        if args:
            return None
    except ValueError:  # not a number, not one of the choices
        return None
    for param in params:
        if param.multiple and not values[param.name]:
            values[param.name] = param.default
    return values


def typer_parameter(p: Param) -> inspect.Parameter:
    """``p`` as a parameter of a function Typer reads."""
    import inspect
    from typing import Annotated

    import typer

    annotation: Any = list[p.type] if p.multiple else p.type  # type: ignore[name-defined]
    if p.default is None:
        annotation = annotation | None
    info: Any = (
        typer.Option(*p.flags, help=p.help, rich_help_panel=p.panel)
        if p.flags
        else typer.Argument(help=p.help, metavar=p.metavar)
    )
    kind = inspect.Parameter.KEYWORD_ONLY if p.flags else inspect.Parameter.POSITIONAL_OR_KEYWORD
    default = inspect.Parameter.empty if p.required else p.default
    return inspect.Parameter(p.name, kind, annotation=Annotated[annotation, info], default=default)


def typer_signature(command: Command) -> Callable[..., None]:
    """``command`` as Typer reads it: a function whose signature is the declared parameters."""
    import functools
    import inspect

    def invoke(**values: Any) -> None:
        command.invoke(values)

    functools.update_wrapper(invoke, command.run)
    del invoke.__wrapped__  # type: ignore[attr-defined]
    parameters = sorted(
        (typer_parameter(p) for p in command.all_params()), key=lambda p: p.kind
    )  # arguments first
    invoke.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    invoke.__annotations__ = {p.name: p.annotation for p in parameters}
    return invoke


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
