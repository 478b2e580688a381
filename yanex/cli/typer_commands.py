"""Typer commands built from the declarations of ``yanex.cli.spec``: Typer parses, completes,
prints help and reports usage errors for every command line the fast path does not take.

Only public Typer API: ``typer.Typer``, ``typer.Option``/``typer.Argument`` and the command and
group classes of ``typer.core``. Typer's click is vendored and private, so what its parser would
refuse is read from the declaration (``spec.unknown_option``), not caught as its exception.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from yanex.cli.spec import Command, Group, Param, UnknownOptionHint, is_short, unknown_option


def typer_parameter(p: Param) -> inspect.Parameter:
    """``p`` as a parameter of a function Typer reads."""
    annotation: Any = list[p.type] if p.multiple else p.type  # type: ignore[name-defined]
    if p.default is None:
        annotation = annotation | None
    info: Any = (
        typer.Option(
            *p.flags,
            help=p.help,
            metavar=p.shown_metavar,
            min=p.min,
            show_default=p.show_default,
            rich_help_panel=p.panel,
        )
        if p.flags
        else typer.Argument(help=p.help, metavar=p.shown_metavar, show_default=p.show_default)
    )
    kind = inspect.Parameter.KEYWORD_ONLY if p.flags else inspect.Parameter.POSITIONAL_OR_KEYWORD
    default = inspect.Parameter.empty if p.required else p.default
    return inspect.Parameter(p.name, kind, annotation=Annotated[annotation, info], default=default)


def typer_function(command: Command) -> Callable[..., None]:
    """``command`` as Typer reads it: a function whose signature is the declared parameters."""

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


class ReadableCommand(TyperCommand):
    """A command whose --help shows its arguments as they are typed: ``FIELD``, ``[ID]``,
    ``[IDS]...`` in the usage line and no Python type beside them (Typer's own are ``{FIELD}`` and
    ``FIELD <str>``). Options show ``Param.shown_metavar``."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = param.metavar or (param.name or "").upper()
                name = name if param.required else f"[{name}]"
                pieces.append(f"{name}..." if param.nargs != 1 else name)
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx: typer.Context, formatter: Any) -> None:  # type: ignore[override]
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                name = param.metavar or (param.name or "").upper()
                arguments.append((f"{name}..." if param.nargs != 1 else name, record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def add_command(app: typer.Typer, name: str, command: Command, **settings: Any) -> None:
    """Register ``command`` as ``name`` of ``app``; ``settings`` go to ``Typer.command``."""
    settings["cls"] = (
        ReadableCommand
        if command.unknown_option_hint is None
        else _hinting(command, command.unknown_option_hint)
    )
    app.command(name, **settings)(typer_function(command))


def group_app(name: str, group: Group, load: Callable[[str], Command]) -> typer.Typer:
    """``group`` as a Typer app; ``load`` gets the command a module declares."""
    settings: dict[str, Any] = {} if group.default is None else {"cls": _with_default(group.default)}
    app = typer.Typer(name=name, help=group.help, no_args_is_help=True, **settings)
    for command_name, module in group.commands.items():
        add_command(app, command_name, load(module))
    return app


def _no_such_option(name: str, flags: list[str]) -> str:
    """Typer's error message for unknown option ``name``, with the long ``flags`` it resembles."""
    import difflib
    import re

    shown = re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda match: f"\\x{ord(match[0]):02x}", name)
    near = difflib.get_close_matches(name, [flag for flag in flags if not is_short(flag)])
    return f"No such option: {shown}" + (f" (Possible options: {', '.join(sorted(near))})" if near else "")


def _hinting(command: Command, hint: UnknownOptionHint) -> type[ReadableCommand]:
    """A command class whose "No such option" error carries ``hint``."""
    flags = [flag for p in command.all_params() for flag in p.flags]

    class Hinting(ReadableCommand):
        # typer.Context is the public name of the context Typer passes (a subclass of its click's).
        def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
            name = None if ctx.resilient_parsing else unknown_option(command, args, ctx.help_option_names)
            advice = None if name is None else hint(args, name)
            if name is not None and advice is not None:
                ctx.fail(f"{_no_such_option(name, [*flags, *ctx.help_option_names])}\nHint: {advice}")
            return super().parse_args(ctx, args)

    return Hinting


def _with_default(default: str) -> type[TyperGroup]:
    """A group class that gives ``default`` a first word naming none of its commands."""

    class WithDefault(TyperGroup):
        def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
            if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
                args = [default, *args]
            return super().parse_args(ctx, args)

    return WithDefault
