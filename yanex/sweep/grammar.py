"""The sweep-expression grammar: one parameter's values written as a call, in ``--param`` values,
config files and the strings given to ``yanex.grid``/``yanex.sample``.

    expr   := grid | random
    grid   := "list(" value ("," value)* ")" | "range(" number ("," number){0,2} ")"
            | "linspace(" number "," number "," count ")" | "logspace(" number "," number "," count ")"
    random := "uniform(" number "," number ")" | "loguniform(" number "," number ")"
            | "randint(" integer "," integer ")" | "choice(" value ("," value)* ")"
    value  := number | 'text' | "text" | true | false | null | word
    word   := (letter | "_") (letter | digit | "_" | "." | "-")*

A grid axis is a fixed list of values; a random axis is a distribution drawn from. A bare word
(``adam``, ``relu6``, ``café``) is text, as an unquoted ``--param`` value is; a letter is an ASCII
letter or any character beyond ASCII but a space (the grammar's own characters are all ASCII).
Text is an expression only when it starts with one of the eight names and ``(``: anything else
keeps its ordinary meaning, and ``'list(1)'`` quoted is text. Text that starts with one of them
but does not parse, or a near miss such as ``linspce(0, 1, 5)``, is an error pointing at the bad
token, never silently text.
linspace and logspace values are rounded to 15 significant digits (``0.30000000000000004`` is
0.3); ranges of floats too. Standard library only: ``yanex run`` parses before loading anything.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Literal

from yanex.errors import ConfigError
from yanex.terminal import printable

Scalar = int | float | str | bool | None
RandomKind = Literal["uniform", "loguniform", "randint", "choice"]
GRID_FUNCTIONS = ("list", "range", "linspace", "logspace")
RANDOM_FUNCTIONS: tuple[RandomKind, ...] = ("uniform", "loguniform", "randint", "choice")
FUNCTIONS = GRID_FUNCTIONS + RANDOM_FUNCTIONS
MAX_POINTS = 1_000_000  # values of one grid axis: a typo such as range(1e9) fails fast, not at OOM
_CALL = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z0-9_.]))
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<word>(?:[A-Za-z_]|[^\x00-\x7f\s])(?:[A-Za-z0-9_.\-]|[^\x00-\x7f\s])*)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)
_WORDS: dict[str, Scalar] = {"true": True, "false": False, "null": None}


@dataclass(frozen=True)
class GridAxis:
    """A fixed list of values; ``text`` is how it was written (for messages and the stored spec)."""

    values: tuple[Scalar, ...]
    text: str


@dataclass(frozen=True)
class RandomAxis:
    """A distribution: uniform(low, high), loguniform(low, high), randint(low, high) (both
    inclusive, as ``random.randint``) or choice(*options)."""

    kind: RandomKind
    args: tuple[Scalar, ...]
    text: str


Axis = GridAxis | RandomAxis


class SweepSyntaxError(ConfigError):
    """A sweep expression the grammar rejects; the message points at the bad token."""

    def __init__(self, where: str, expression: str, pos: int, problem: str) -> None:
        shown, offset = printable(expression[:pos]), len(printable(expression[:pos]))
        shown += printable(expression[pos:])
        super().__init__(
            f"invalid sweep expression for {where} at position {pos + 1}: {problem}\n"
            f"  {shown}\n  {' ' * offset}^",
            hint="write an axis like logspace(-4, -1, 4) or list(16, 32); "
            "quote text that only looks like one: \"'list(1)'\"",
        )
        self.pos = pos


def looks_like_expression(text: str) -> bool:
    """True for text that must parse as an expression: one of the names (or a near miss) and ``(``."""
    match = _CALL.match(text)
    if match is None:
        return False
    name = match.group(1)
    return name in FUNCTIONS or (
        text.rstrip().endswith(")") and bool(difflib.get_close_matches(name, FUNCTIONS, n=1, cutoff=0.75))
    )


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, word, punct, end
    text: str
    pos: int


def _tokens(where: str, text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise SweepSyntaxError(where, text, pos, f"unexpected character {text[pos]!r}")
        if match.lastgroup != "space":
            tokens.append(_Token(match.lastgroup or "", match.group(), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def _number(token: _Token) -> int | float:
    text = token.text
    return int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)


def parse_axis(where: str, text: str) -> Axis:
    """``text`` (which ``looks_like_expression``) as an axis; ``where`` names it in errors
    (``--param lr``, ``config.yaml: lr``). Raises ``SweepSyntaxError``."""
    tokens = _tokens(where, text)
    name = tokens[0]
    if name.text not in FUNCTIONS:
        close = difflib.get_close_matches(name.text, FUNCTIONS, n=1, cutoff=0.75)
        suggestion = f"; did you mean {close[0]}?" if close else ""
        raise SweepSyntaxError(where, text, name.pos, f"unknown sweep function {name.text!r}{suggestion}")
    args: list[_Token] = []
    index = 2  # after the name and "("
    while True:
        token = tokens[index]
        if token.kind == "punct" and token.text == ")" and not args:
            break
        if token.kind not in ("number", "string", "word"):
            raise SweepSyntaxError(where, text, token.pos, f"expected a value, found {_found(token)}")
        args.append(token)
        index += 1
        separator = tokens[index]
        if separator.text == ")":
            break
        if separator.text != ",":
            raise SweepSyntaxError(
                where, text, separator.pos, f"expected ',' or ')', found {_found(separator)}"
            )
        index += 1
    close_paren = tokens[index]
    if tokens[index + 1].kind != "end":
        extra = tokens[index + 1]
        raise SweepSyntaxError(where, text, extra.pos, f"unexpected {_found(extra)} after the expression")
    return _Build(where, text, name.text, args, close_paren).axis()


def _found(token: _Token) -> str:
    return "the end of the expression" if token.kind == "end" else repr(token.text)


class _Build:
    """Checks one call's arguments against its function and computes a grid's values."""

    def __init__(self, where: str, text: str, function: str, args: list[_Token], end: _Token) -> None:
        self.where, self.text, self.function, self.args, self.end = where, text, function, args, end

    def fail(self, problem: str, token: _Token | None = None) -> SweepSyntaxError:
        return SweepSyntaxError(self.where, self.text, (token or self.end).pos, problem)

    def value(self, token: _Token) -> Scalar:
        if token.kind == "number":
            return _number(token)
        if token.kind == "string":
            return _unquote(token.text)
        return _WORDS.get(token.text, token.text)

    def numbers(self, low: int, high: int, names: str) -> list[int | float]:
        count = len(self.args)
        if not low <= count <= high:
            wanted = str(low) if low == high else f"{low} to {high}"
            token = self.args[high] if count > high else None
            raise self.fail(f"{self.function}() takes {wanted} numbers ({names}), got {count}", token)
        for token in self.args:
            if token.kind != "number":
                raise self.fail(f"{self.function}() takes numbers, found {token.text!r}", token)
        return [_number(token) for token in self.args]

    def count(self, index: int) -> int:
        token = self.args[index]
        number = _number(token)
        if not isinstance(number, int) or number < 1:
            raise self.fail(f"the number of values must be a whole number >= 1, got {token.text}", token)
        if number > MAX_POINTS:
            raise self.fail(f"more than {MAX_POINTS:,} values on one axis", token)
        return number

    def axis(self) -> Axis:
        function = self.function
        if function in ("list", "choice"):
            if not self.args:
                raise self.fail(f"{function}() needs at least one value")
            values = tuple(self.value(token) for token in self.args)
            if function == "list":
                return GridAxis(values, self.text)
            return RandomAxis("choice", values, self.text)
        if function == "range":
            return GridAxis(self.range(), self.text)
        if function in ("linspace", "logspace"):
            start, stop, _ = self.numbers(3, 3, "start, stop, count")
            num = self.count(2)
            exponents = [start + (stop - start) * (i / (num - 1)) for i in range(num)] if num > 1 else [start]
            try:
                spaced = [x if function == "linspace" else 10.0**x for x in exponents]
            except OverflowError:
                spaced = [math.inf]
            if not all(math.isfinite(x) for x in spaced):
                raise self.fail(f"{function}() gives values beyond the largest float", self.args[1])
            return GridAxis(tuple(_round(x) for x in spaced), self.text)
        low, high = self.numbers(2, 2, "low, high")
        if function == "randint":
            for token in self.args:
                if not isinstance(_number(token), int):
                    raise self.fail(f"randint() takes whole numbers, found {token.text}", token)
        if not (low <= high if function == "randint" else low < high):
            relation = "<=" if function == "randint" else "<"
            raise self.fail(f"{function}() needs low {relation} high, got {low} and {high}", self.args[1])
        if function == "loguniform" and low <= 0:
            raise self.fail(f"loguniform() needs low > 0, got {low}", self.args[0])
        return RandomAxis(function, (low, high), self.text)  # type: ignore[arg-type]  # one of the four

    def range(self) -> tuple[Scalar, ...]:
        numbers = self.numbers(1, 3, "[start,] stop[, step]")
        start, stop, step = (0, numbers[0], 1) if len(numbers) == 1 else (*numbers[:2], 1)
        if len(numbers) == 3:
            step = numbers[2]
        if step == 0:
            raise self.fail("range() step must not be zero", self.args[2])
        count = max(0, math.ceil((stop - start) / step))
        if count == 0:
            raise self.fail(f"range() with these bounds has no values ({start} to {stop} by {step})")
        if count > MAX_POINTS:
            raise self.fail(f"range() gives more than {MAX_POINTS:,} values")
        if all(isinstance(n, int) for n in (start, stop, step)):
            return tuple(range(int(start), int(stop), int(step)))
        return tuple(_round(start + i * step) for i in range(count))


def _round(value: float) -> float:
    """15 significant digits: float noise from the arithmetic (``0.1 * 3``) is not a new value."""
    return float(f"{value:.15g}")
