"""Parameters from config files and ``KEY=VALUE`` overrides, for ``yanex run`` and the Python API.

Config files and ``--param`` values are read as JSON data: YAML without its surprises, strict JSON.

A plain (unquoted) YAML scalar is read as JSON would read it, and as anything else as text:

    null, ~ or nothing        -> None         true, false (True, TRUE, ...)   -> booleans
    -12, 0, 340               -> integers     1.5, .5, -2e-3, 1e6, .inf, .nan  -> floats
    anything else             -> text: 12:30:00, yes, on, no, 0o17, 0x1f, 017, 1_000, 2024-01-31

YAML 1.1, which PyYAML implements, would read those last ones as 45000, True, True, False, 15, 31,
15, 1000 and a date: values a user typed as text must not come back as something else. Quoted
scalars are always text. Anchors and aliases are refused (``a: &a [*a]`` is a cycle, and nine
nested aliases expand to a billion values), as are duplicate keys (YAML and JSON both keep the last
silently) and nesting deeper than ``MAX_CONFIG_DEPTH``. pyyaml loads only when a value is read.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yanex.config import params_size_limit
from yanex.display import format_size
from yanex.errors import ConfigError
from yanex.specs import MAX_CONFIG_DEPTH, check_config_size, size_limit_error, text_problem
from yanex.sweep.grammar import Axis, looks_like_expression, parse_axis

_NULL = r"^(?:~|null|Null|NULL|)$"
_BOOL = r"^(?:true|True|TRUE|false|False|FALSE)$"
_INT = r"^[-+]?(?:0|[1-9][0-9]*)$"  # no leading zeros: "007" stays text
_FLOAT = r"^[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"
_SPECIAL_FLOAT = r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
_TAG = "tag:yaml.org,2002:"
_NO_ALIASES = "write the values out in full; yanex does not expand YAML anchors and aliases"
_ONCE = "give each key once"
_FLATTER = f"nest sections at most {MAX_CONFIG_DEPTH} levels deep"


class InputError(Exception):
    """Text that is not acceptable config data; ``line`` is 1-based, or None when unknown."""

    def __init__(self, problem: str, line: int | None = None, hint: str | None = None) -> None:
        super().__init__(problem if line is None else f"{problem} at line {line}")
        self.problem = problem
        self.line = line
        self.hint = hint


def _too_deep() -> str:
    return f"config is nested more than {MAX_CONFIG_DEPTH} levels deep"


def _too_long() -> str:
    return f"an integer has more than {sys.get_int_max_str_digits()} digits, more than Python reads"


@functools.cache
def _loader() -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 (our own, not SafeLoader's)
        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()  # type: ignore[no-untyped-call]
            line = event.start_mark.line + 1
            if isinstance(event, yaml.AliasEvent):
                raise InputError(f"YAML aliases are not accepted (*{event.anchor})", line, _NO_ALIASES)
            if getattr(event, "anchor", None):
                raise InputError(f"YAML anchors are not accepted (&{event.anchor})", line, _NO_ALIASES)
            self.depth += 1
            try:
                if self.depth > MAX_CONFIG_DEPTH + 1:  # the containers, plus the value inside them
                    raise InputError(_too_deep(), line, _FLATTER)
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                line = key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise InputError(f"duplicate key {key!r} (first at line {seen[key]})", line, _ONCE)
                    seen[key] = line
                except TypeError:  # unhashable: the base class says so
                    continue
            return super().construct_mapping(node, deep)

        def construct_int(self, node: Any) -> int:
            try:
                return int(self.construct_scalar(node))
            except ValueError:
                raise InputError(_too_long(), node.start_mark.line + 1) from None

    Loader.add_implicit_resolver(f"{_TAG}null", re.compile(_NULL), ["~", "n", "N", ""])
    Loader.add_implicit_resolver(f"{_TAG}bool", re.compile(_BOOL), list("tTfF"))
    Loader.add_implicit_resolver(f"{_TAG}int", re.compile(_INT), list("-+0123456789"))
    Loader.add_implicit_resolver(f"{_TAG}float", re.compile(_FLOAT), list("-+.0123456789"))
    Loader.add_implicit_resolver(f"{_TAG}float", re.compile(_SPECIAL_FLOAT), list("-+."))
    Loader.add_constructor(f"{_TAG}int", Loader.construct_int)
    return Loader


def load_yaml(text: str) -> Any:
    """``text`` as JSON data under the rules above; raises ``InputError``."""
    import yaml

    _check_text(text)
    try:
        return yaml.load(text, Loader=_loader())  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise InputError(error.problem or "invalid YAML", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as error:  # the reader's: a character YAML does not allow
        raise InputError(" ".join(str(error).split())) from None


def _check_text(text: str) -> None:
    problem = text_problem(text)
    if problem:
        raise InputError(f"the text {problem}", hint="pass values that are valid UTF-8")


class _StrictDecoder(json.JSONDecoder):
    """``json.loads`` that refuses duplicate keys and deep nesting, with the line of the problem."""

    def __init__(self, text: str) -> None:
        super().__init__(object_pairs_hook=self._pairs)
        self.text = text
        self.starts: list[int] = []
        self.parse_object = self._nested(self.parse_object)  # type: ignore[has-type]
        self.parse_array = self._nested(self.parse_array)  # type: ignore[has-type]
        self.scan_once = json.scanner.py_make_scanner(self)  # type: ignore[attr-defined]  # the C one ignores the hooks

    def _nested(self, parse: Any) -> Any:
        def nested(s_and_end: tuple[str, int], *args: Any) -> Any:
            if len(self.starts) >= MAX_CONFIG_DEPTH:
                raise InputError(_too_deep(), self.line(s_and_end[1]), _FLATTER)
            self.starts.append(s_and_end[1])
            try:
                return parse(s_and_end, *args)
            finally:
                self.starts.pop()

        return nested

    def line(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def _pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                start = self.starts[-1]
                spelled = re.compile(re.escape(json.dumps(key, ensure_ascii=False)) + r"\s*:")
                found = [m.start() for m in spelled.finditer(self.text, start)]
                raise InputError(
                    f"duplicate key {key!r}", self.line(found[1] if len(found) > 1 else start), _ONCE
                )
            result[key] = value
        return result


def load_json(text: str) -> Any:
    """``text`` as strict JSON data; raises ``InputError``."""
    _check_text(text)
    try:
        return _StrictDecoder(text).decode(text)
    except json.JSONDecodeError as error:
        raise InputError(error.msg, error.lineno) from None
    except ValueError:
        raise InputError(_too_long()) from None


def parse_param(text: str, *, sweeps: bool = False) -> tuple[list[str], Any]:
    """``KEY=VALUE`` into the dotted key's parts and the value, read as this module says.

    A value that looks like a sweep expression (``list(16, 32)``) is parsed as one: an ``Axis``
    with ``sweeps``, else refused (a re-run's override cannot vary); never kept as text.
    """
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(part.strip() for part in parts):
        raise ConfigError(
            f"--param {text!r} is not KEY=VALUE",
            hint="write it like --param learning_rate=0.01 or --param 'model.layers=[64,32]'",
        )
    parts = [part.strip() for part in parts]
    if looks_like_expression(raw):
        if not sweeps:
            raise ConfigError(
                f"--param {text!r}: a sweep expression is not accepted here",
                hint=f"sweep with yanex run; to pass the text, quote it: --param \"{key}='{raw}'\"",
            )
        return parts, parse_axis(f"--param {'.'.join(parts)}", raw)
    try:
        value = load_yaml(raw)
    except InputError as error:
        raise ConfigError(
            f"--param {text!r}: the value is not valid YAML data ({error.problem})",
            hint=error.hint or f"quote it to pass a string: --param '{key}=\"{raw}\"'",
        ) from None
    return parts, value


def params_to_config(params: Sequence[str], *, sweeps: bool = False) -> dict[str, Any]:
    """Nested config from ``--param`` options; dotted keys build nested sections (``sweeps``: as
    ``parse_param``, values may be axes)."""
    config: dict[str, Any] = {}
    given: list[tuple[tuple[str, ...], bool, str]] = []  # each key, whether a whole section, its text
    for text in params:
        parts, value = parse_param(text, sweeps=sweeps)
        _refuse_clash(given, tuple(parts), isinstance(value, dict), text)
        given.append((tuple(parts), isinstance(value, dict), text))
        node = config
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                section = ".".join(parts[: depth + 1])
                raise ConfigError(
                    f"--param {text!r}: {section} is already set to a value, not a section",
                    hint=f"set either {section} or keys below it, not both",
                )
            node = child
        if isinstance(node.get(parts[-1]), dict) and not isinstance(value, dict):
            raise ConfigError(
                f"--param {text!r}: {'.'.join(parts)} already has keys below it",
                hint=f"set either {'.'.join(parts)} or keys below it, not both",
            )
        node[parts[-1]] = value
    return config


def _refuse_clash(
    given: Sequence[tuple[tuple[str, ...], bool, str]], key: tuple[str, ...], section: bool, text: str
) -> None:
    """One ``--param`` setting a whole section (``a={c: 3}``) and another a key inside it (``a.b=1``):
    merged in one order and replaced in the other, so refused in both."""
    for earlier, earlier_section, earlier_text in given:
        shorter, longer = sorted((earlier, key), key=len)
        whole = earlier_section if shorter is earlier else section
        if whole and len(shorter) < len(longer) and longer[: len(shorter)] == shorter:
            outer, inner = ".".join(shorter), ".".join(longer)
            raise ConfigError(
                f"--param {earlier_text!r} and --param {text!r} clash: one sets all of {outer}, "
                f"the other {inner} inside it",
                hint=f"set {outer} one way: a --param per key ({inner}=...) or one mapping ({outer}={{...}})",
            )


def load_config_file(path: Path) -> dict[str, Any]:
    """A YAML or JSON mapping of parameters; an empty file means no parameters."""
    hint = "pass a YAML or JSON file whose top level is a mapping of parameter names to values"
    try:
        size = path.stat().st_size
        if size > params_size_limit():  # refused unread: parsing 10 MB of YAML takes a minute
            raise size_limit_error(f"config file {path} is {format_size(size)}", size)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", hint=hint) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ConfigError(f"cannot read config file {path}: {reason}", hint=hint) from None
    try:
        data = load_json(text) if path.suffix.lower() == ".json" else load_yaml(text)
    except InputError as error:
        raise ConfigError(
            f"config file {path} is not valid {_format(path)}: {error}", hint=error.hint or hint
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} holds a {type(data).__name__}, not a mapping", hint=hint)
    return data


def _format(path: Path) -> str:
    return "JSON" if path.suffix.lower() == ".json" else "YAML"


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``: sections merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# Composition: several config files, their ``yanex:`` sections, and ``--param`` on top ---------------

RUN_OPTIONS = ("name", "tags", "description", "parallel", "timeout")
_OPTION_HINT = f"a config file's yanex: section may set {', '.join(RUN_OPTIONS)}"


@dataclass(frozen=True)
class RunOptions:
    """``yanex run`` options a config file's ``yanex:`` section sets; None (or no tags): not set."""

    name: str | None = None
    tags: tuple[str, ...] = ()
    description: str | None = None
    parallel: int | None = None
    timeout: float | str | None = None


@dataclass(frozen=True)
class Composition:
    """The parameters a command line composes: the config (null where an axis goes), the axes (in
    the order their keys first appear), and the run options of the ``yanex:`` sections."""

    config: dict[str, Any]
    axes: tuple[tuple[tuple[str, ...], Axis], ...]
    options: RunOptions


def compose(config_files: Sequence[Path], params: Sequence[str]) -> Composition:
    """Deep-merge the files in order, then ``--param`` values; sweep expressions become axes.

    A top-level ``yanex:`` mapping in a file holds run options, not parameters; a later file's
    option replaces an earlier one's. A string value of a key that looks like a sweep expression
    is one (in lists, strings stay text); write ``list('list(1)')`` for the text ``list(1)``.
    """
    config: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for path in config_files:
        data = load_config_file(path)
        section = data.pop("yanex", None)
        if section is not None:
            options.update(_run_options(path, section))
        config = deep_merge(config, _axes_in(path, data, ()))
    config = deep_merge(config, params_to_config(params, sweeps=True))
    # Before anything runs, every point of a sweep included: an axis counts as its expression's
    # text, as long as the longest value it gives.
    check_config_size(_with_axes_as_text(config))
    axes: list[tuple[tuple[str, ...], Axis]] = []
    return Composition(_take_axes(config, (), axes), tuple(axes), RunOptions(**options))


def _with_axes_as_text(config: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _with_axes_as_text(value)
        if isinstance(value, dict)
        else value.text
        if isinstance(value, Axis)
        else value
        for key, value in config.items()
    }


def _axes_in(path: Path, data: dict[str, Any], at: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        where = (*at, str(key))
        if isinstance(value, dict):
            out[key] = _axes_in(path, value, where)
        elif isinstance(value, str) and looks_like_expression(value):
            out[key] = parse_axis(f"{'.'.join(where)} in {path}", value)
        else:
            out[key] = value
    return out


def _take_axes(
    config: dict[str, Any], at: tuple[str, ...], axes: list[tuple[tuple[str, ...], Axis]]
) -> dict[str, Any]:
    """``config`` with null in place of each axis, which is appended to ``axes`` with its key path."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out[key] = _take_axes(value, (*at, key), axes)
        elif isinstance(value, Axis):
            axes.append(((*at, key), value))
            out[key] = None  # holds the key's place: each point's config keeps the order given
        else:
            out[key] = value
    return out


def _run_options(path: Path, section: Any) -> dict[str, Any]:
    if not isinstance(section, dict):
        raise ConfigError(
            f"the yanex: section of {path} holds a {type(section).__name__}, not a mapping", hint=_OPTION_HINT
        )
    options: dict[str, Any] = {}
    for key, value in section.items():
        if key not in RUN_OPTIONS:
            raise ConfigError(
                f"the yanex: section of {path} sets {key!r}, which is no run option", hint=_OPTION_HINT
            )
        refuse_sweep(f"yanex.{key} in {path}", value)
        if key == "tags":
            tags = [value] if isinstance(value, str) else value
            if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
                raise ConfigError(f"yanex.tags in {path} is not a list of tags", hint="write tags: [a, b]")
            options[key] = tuple(tags)
        elif key == "parallel":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(
                    f"yanex.parallel in {path} is {value!r}, not a whole number >= 0",
                    hint="write parallel: 4 (0: one worker per CPU)",
                )
            options[key] = value
        elif key == "timeout":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ConfigError(f"yanex.timeout in {path} is not a duration", hint="write timeout: 2h")
            options[key] = value
        else:
            if not isinstance(value, str):
                raise ConfigError(f"yanex.{key} in {path} is not text", hint=f'write {key}: "..."')
            options[key] = value
    return options


def refuse_sweep(option: str, value: Any) -> None:
    """A run option (name, tag, description, time limit) is one value for the whole sweep."""
    texts = value if isinstance(value, list | tuple) else [value]
    for text in texts:
        if isinstance(text, str) and looks_like_expression(text):
            raise ConfigError(
                f"{option} is {text!r}: run options cannot vary in a sweep",
                hint="sweep parameters (--param KEY=EXPR); give this option one value",
            )
