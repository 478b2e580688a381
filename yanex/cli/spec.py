"""Every command's parameters declared once, in the standard library: the Typer command
(``yanex.cli.typer_commands``) and the fast path are both built from them.

A command module declares ``COMMAND = Command(function, (Param(...), ...), filters=(...))``; a
group of subcommands (``yanex db``) declares ``GROUP = Group(help, {name: module})``;
``yanex.cli.app`` assembles them. The query commands (list, get, show, compare, ...) answer in a
few tens of milliseconds only without Typer (its import and its pydantic-based coercion cost
~80 ms). ``yanex.cli.app.main`` parses their command lines with ``parse`` and runs them directly;
anything ``parse`` does not take for certain (``--help``, an unknown or malformed option, a bad
value) goes to Typer, which then parses the same declaration and says what is wrong as it always
does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from yanex.store.filters import ExperimentFilter, declared

FILTERS_PANEL = "Filters"


@dataclass(frozen=True)
class Param:
    """One parameter: an option when it has ``flags``, else a positional argument."""

    name: str  # the command function's keyword
    flags: tuple[str, ...]
    type: type[Any]  # str, int, Path, bool (a flag) or an Enum of choices
    default: Any
    help: str
    multiple: bool = False
    metavar: str | None = None
    panel: str | None = None
    min: int | None = None  # the smallest number an int takes
    show_default: bool = True  # whether --help says ``[default: ...]``

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def shown_metavar(self) -> str | None:
        """What --help shows for the value, as a user reads it: ``TEXT``, ``INTEGER``, ``PATH``,
        the choices (``[table|json]``), an argument's name; ``...`` after a repeatable option's.
        Never Typer's own ``<list[str]>`` (a Python type, not what to type)."""
        if self.metavar is not None:
            return self.metavar
        if self.type is bool:
            return None
        if isinstance(self.type, type) and issubclass(self.type, Enum):
            shown = "[" + "|".join(str(choice.value) for choice in self.type) + "]"
        elif not self.flags:
            shown = self.name.upper()
        else:
            shown = _TYPE_NAMES.get(self.type, "TEXT")
        return f"{shown}..." if self.multiple and self.flags else shown


_TYPE_NAMES: dict[Any, str] = {str: "TEXT", int: "INTEGER", float: "FLOAT", Path: "PATH"}


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # the default of an argument that must be given

REFERENCE = Param("reference", (), str, REQUIRED, "Full id, unique id prefix, or exact name.", metavar="ID")
REFERENCES = Param("references", (), str, None, "Ids, id prefixes or names.", True, "IDS")
ALL_ATTEMPTS = Param(
    "all_attempts",
    ("--all-attempts",),
    bool,
    False,
    "With --group-by: count every attempt, not only the latest of each (retried, re-run or resumed).",
)


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


# Advice added to Typer's "No such option" error: given the command's arguments and the option.
UnknownOptionHint = Callable[[Sequence[str], str], str | None]


@dataclass(frozen=True)
class Command:
    """A command's function (its docstring is the command's help) and its parameters; ``filters``
    names the filter groups it takes, which reach it as ``filters: FilterOptions``."""

    run: Callable[..., None]
    params: tuple[Param, ...]
    filters: tuple[str, ...] = ()
    unknown_option_hint: UnknownOptionHint | None = None

    def all_params(self) -> list[Param]:
        return [*self.params, *filter_params(self.filters)]

    def invoke(self, values: dict[str, Any]) -> None:
        if not self.filters:
            self.run(**values)
            return
        names = {p.name for p in filter_params(self.filters)}
        options = FilterOptions({name: values.pop(name) for name in names})
        self.run(filters=options, **values)


@dataclass(frozen=True)
class Group:
    """Subcommands under one name: ``commands`` maps each to the module declaring it (``COMMAND``).
    A first word that names no subcommand goes to ``default`` (``yanex artifacts ID`` is
    ``yanex artifacts list ID``)."""

    help: str
    commands: Mapping[str, str]
    default: str | None = None


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
            if param.min is not None and value < param.min:
                return None
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
                if param.required and not values[param.name]:
                    return None
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


def unknown_option(command: Command, argv: Sequence[str], help_flags: Sequence[str]) -> str | None:
    """The option of ``argv`` Typer refuses as unknown, named as its error names it; None when
    there is none or Typer refuses something else first (a missing value, a flag given one).

    Reads options as Typer's parser does, in order up to ``--``: ``--flag[=value]``; ``-abc``
    as ``-a -b -c`` up to the first that takes a value, which takes the rest (or the next word).
    """
    takes_value = {flag: p.type is not bool for p in command.all_params() for flag in p.flags}
    takes_value |= dict.fromkeys(help_flags, False)
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            return None
        if not arg.startswith("-") or arg == "-":
            continue
        name, eq, _ = arg.partition("=")
        if name in takes_value and not is_short(name):
            if takes_value[name] and not eq:
                if index == len(argv):
                    return None
                index += 1
            elif eq and not takes_value[name]:
                return None
            continue
        if arg.startswith("--"):
            return name
        for position, letter in enumerate(arg[1:], start=2):
            flag = f"-{letter}"
            if flag not in takes_value:
                return flag
            if takes_value[flag]:
                if position == len(arg):  # the value is the next word
                    if index == len(argv):
                        return None
                    index += 1
                break
    return None


def is_short(flag: str) -> bool:
    """Whether ``flag`` is one letter (``-p``), which Typer's parser also reads inside ``-abc``."""
    return len(flag) == 2 and flag[1] != "-"


@dataclass(frozen=True)
class FilterOptions:
    """The values of the shared filter options as one command invocation received them."""

    values: dict[str, Any]

    def build(self, *, sort: str | None = None) -> ExperimentFilter:
        """One ``ExperimentFilter``; raises ``UsageError`` for bad values, before the database is
        opened. Experiments the user names are added once resolved, with ``ExperimentFilter.naming``.
        ``sort`` replaces the --sort given (compare reads a bare metric name).
        """
        from yanex.store.filters import from_options

        return from_options(self.values if sort is None else {**self.values, "sort": sort})
