"""The ``--where`` grammar: a small, safe language over parameters and last metric values.

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | condition
    condition  := field op literal | field ["not"] "in" "(" literal ("," literal)* ")"
    field      := name | "params." name | "metrics." name ["." aggregate] | `any text`
                | "git.commit" | "git.dirty" | "git.branch"
    aggregate  := "last" | "first" | "min" | "max" | "mean" | "best" | "step_of_best" | "count"
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    literal    := number | 'text' | "text" | true | false

A bare name is a parameter (nested keys dotted: ``model.lr``); ``metrics.X`` is the last logged
value of metric X and ``metrics.X.min`` (max, mean, first, best, ...) an aggregate of it from
``metric_summary``; ``yanex.store.metric_names.metric_ref`` says how a dotted key is read.
``git.commit`` (a prefix matches: ``git.commit = '8dda34f'``), ``git.dirty`` and ``git.branch``
are the code the experiment ran (``yanex.store.git_fields``), compared with ``=``, ``!=`` and
``in``; a parameter of such a name is ``params.git.commit``. Numbers
compare as numbers, text as text, booleans only with ``=``/``!=``. A condition holds only for
experiments that have the field: ``x not in (1, 2)`` means ``x != 1 and x != 2``, while ``not``
is plain negation and so also matches experiments without the field.

Values never reach SQL as text: the parser produces a tree and ``compile_where`` turns it into
portable SQL text whose literals are bound parameters (``yanex.store.dialect``). An ``in`` list becomes one
``IN (...)`` per value type, not a chain of ``OR``s, so a list of thousands of values stays one
shallow expression. Limits, each an error pointing at where it is passed: ``MAX_DEPTH`` nested
parentheses and ``not``s, ``MAX_CONDITIONS`` conditions and ``MAX_VALUES`` values in all (SQLite
refuses expressions more than 1000 deep and statements with more than 32766 parameters).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from yanex.errors import UsageError
from yanex.store.dialect import Binder, Sql
from yanex.store.git_fields import GitField, git_field, matches, recorded
from yanex.store.metric_names import LAST, Aggregate, metric_ref
from yanex.terminal import printable, text_problem

Value = float | str | bool
Op = Literal["=", "!=", "<", "<=", ">", ">="]

_OPS: dict[str, Op] = {
    "=": "=",
    "==": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
_KEYWORDS = {"and", "or", "not", "in", "true", "false"}
MAX_DEPTH = 20
MAX_CONDITIONS = 200
MAX_VALUES = 10_000
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<quoted>`[^`]+`)
  | (?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)
  | (?P<op>==|!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, keyword, op, punct, end
    text: str
    pos: int


@dataclass(frozen=True)
class Field:
    kind: Literal["param", "metric", "git"]
    key: str
    aggregate: Aggregate = LAST  # of a metric (see yanex.store.metric_names.AGGREGATES)


@dataclass(frozen=True)
class Compare:
    field: Field
    op: Op
    value: Value


@dataclass(frozen=True)
class InList:
    field: Field
    values: tuple[Value, ...]
    negated: bool


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class BoolOp:
    op: Literal["and", "or"]
    operands: tuple[Node, ...]


Node = Compare | InList | Not | BoolOp


class WhereSyntaxError(UsageError):
    """A ``--where`` expression the grammar rejects; the message points at the bad token."""

    def __init__(self, expression: str, pos: int, problem: str) -> None:
        shown, offset = _excerpt(expression, pos)
        super().__init__(
            f"invalid --where expression at position {pos + 1}: {problem}\n  {shown}\n  {' ' * offset}^",
            hint="write conditions like \"lr > 0.01 and (optimizer = 'adam' or not dropout > 0.3)\"; "
            "quote text values, use metrics.NAME for metrics",
        )
        self.pos = pos


def _excerpt(expression: str, pos: int, width: int = 60) -> tuple[str, int]:
    """The part of ``expression`` around ``pos`` with control characters escaped, and where ``pos``
    falls in it: a 5,000-character expression is not echoed whole, and the caret stays aligned."""
    start = max(0, pos - width // 2)
    end = min(len(expression), start + width)
    before, rest = printable(expression[start:pos]), printable(expression[pos:end])
    lead, tail = ("..." if start else ""), ("..." if end < len(expression) else "")
    return f"{lead}{before}{rest}{tail}", len(lead) + len(before)


def tokenize(expression: str) -> list[Token]:
    tokens: list[Token] = []
    problem = text_problem(expression)
    if problem:
        pos = next(i for i, char in enumerate(expression) if text_problem(char))
        raise WhereSyntaxError(expression, pos, f"the expression {problem}")
    pos = 0
    while pos < len(expression):
        match = _TOKEN.match(expression, pos)
        if match is None:
            raise WhereSyntaxError(expression, pos, f"unexpected character {expression[pos]!r}")
        kind = match.lastgroup
        assert kind is not None
        text = match.group()
        if kind == "name" and text.lower() in _KEYWORDS:
            tokens.append(Token("keyword", text.lower(), pos))
        elif kind != "space":
            tokens.append(Token(kind, text, pos))
        pos = match.end()
    tokens.append(Token("end", "", len(expression)))
    return tokens


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = tokenize(expression)
        self.index = 0
        self.depth = 0
        self.conditions = 0
        self.values = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def fail(self, problem: str, token: Token | None = None) -> WhereSyntaxError:
        token = token or self.current
        found = "the end of the expression" if token.kind == "end" else repr(token.text)
        return WhereSyntaxError(self.expression, token.pos, f"{problem}, found {found}")

    def take(self, kind: str, text: str | None = None) -> Token | None:
        token = self.current
        if token.kind == kind and (text is None or token.text == text):
            self.index += 1
            return token
        return None

    def parse(self) -> Node:
        if self.current.kind == "end":
            raise self.fail("expected a condition")
        node = self.expr()
        if self.current.kind != "end":
            raise self.fail("expected 'and', 'or' or the end of the expression")
        return node

    def expr(self) -> Node:
        operands = [self.term()]
        while self.take("keyword", "or"):
            operands.append(self.term())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def term(self) -> Node:
        operands = [self.factor()]
        while self.take("keyword", "and"):
            operands.append(self.factor())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def factor(self) -> Node:
        token = self.current
        if (token.kind, token.text) in (("keyword", "not"), ("punct", "(")):
            if self.depth == MAX_DEPTH:
                raise WhereSyntaxError(
                    self.expression, token.pos, f"more than {MAX_DEPTH} nested parentheses and 'not's"
                )
            self.depth += 1
            self.index += 1
            if token.text == "not":
                node: Node = Not(self.factor())
            else:
                node = self.expr()
                if not self.take("punct", ")"):
                    raise self.fail("expected ')'")
            self.depth -= 1
            return node
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise WhereSyntaxError(
                self.expression,
                token.pos,
                f"more than {MAX_CONDITIONS} conditions; use 'in (...)' for many values",
            )
        return self.condition()

    def field(self) -> Field:
        token = self.current
        if token.kind == "quoted":
            self.index += 1
            return Field("param", token.text[1:-1])
        if token.kind != "name":
            raise self.fail("expected a parameter name or metrics.NAME")
        self.index += 1
        for prefix, kind in (("metrics.", "metric"), ("params.", "param")):
            if token.text.startswith(prefix):
                if len(token.text) == len(prefix):
                    raise self.fail(f"expected a name after {prefix!r}", token)
                name = token.text[len(prefix) :]
                if kind == "metric":
                    ref = metric_ref(name)
                    return Field("metric", ref.key, ref.aggregate)
                return Field("param", name)
        if git_field(token.text) is not None:
            return Field("git", token.text)
        return Field("param", token.text)

    def condition(self) -> Node:
        field = self.field()
        negated = self.take("keyword", "not") is not None
        if self.take("keyword", "in"):
            if not self.take("punct", "("):
                raise self.fail("expected '(' after 'in'")
            values = [self.git_value(field, self.current, self.literal())]
            while self.take("punct", ","):
                values.append(self.git_value(field, self.current, self.literal()))
            if not self.take("punct", ")"):
                raise self.fail("expected ',' or ')' in the list")
            return InList(field, tuple(values), negated)
        if negated:
            raise self.fail("expected 'in' after 'not' (write 'not x = 1' to negate a comparison)")
        op_token = self.take("op")
        if op_token is None:
            raise self.fail("expected a comparison (=, !=, <, <=, >, >=) or 'in'")
        op = _OPS[op_token.text]
        value_token = self.current
        value = self.git_value(field, value_token, self.literal())
        if field.kind == "git" and op not in ("=", "!="):
            raise self.fail(f"{field.key} compares only with =, != or in", op_token)
        if isinstance(value, bool) and op not in ("=", "!="):
            raise self.fail("true and false compare only with = or !=", value_token)
        if field.kind == "metric" and isinstance(value, str) and op not in ("=", "!="):
            raise self.fail("text metric values compare only with = or !=", value_token)
        return Compare(field, op, value)

    def git_value(self, field: Field, token: Token, value: Value) -> Value:
        """``value``, refused where ``field`` is a git field that never holds one of its type."""
        git = git_field(field.key) if field.kind == "git" else None
        if git is not None and (isinstance(value, float) or isinstance(value, bool) != (git.kind == "flag")):
            raise self.fail(f"{git.name} takes {git.values}", token)
        return value

    def literal(self) -> Value:
        token = self.current
        self.values += 1
        if self.values > MAX_VALUES:
            raise WhereSyntaxError(self.expression, token.pos, f"more than {MAX_VALUES} values")
        if token.kind == "number":
            self.index += 1
            return float(token.text)
        if token.kind == "string":
            self.index += 1
            return re.sub(r"\\(.)", r"\1", token.text[1:-1])
        if token.kind == "keyword" and token.text in ("true", "false"):
            self.index += 1
            return token.text == "true"
        if token.kind == "name":
            raise self.fail(f"expected a value; quote text values ('{token.text}')")
        raise self.fail("expected a value (a number, 'quoted text', true or false)")


def parse_where(expression: str) -> Node:
    """The syntax tree of ``expression``; raises ``WhereSyntaxError`` pointing at the bad token."""
    return _Parser(expression).parse()


Test = Callable[[str, Binder], str]  # (table alias, binder) -> condition on that table's row


def _matches(field: Field, condition: Test, binder: Binder) -> str:
    """Experiments having ``field`` with a value for which ``condition`` holds.

    A correlated EXISTS, not IN: value conditions usually match many experiments, and EXISTS lets
    SQLite walk experiments newest first and stop at the limit instead of collecting every match.
    """
    table = "params" if field.kind == "param" else "metric_summary"
    return (
        f"EXISTS (SELECT 1 FROM {table} AS t WHERE t.experiment_id = experiments.id "
        f"AND t.key = {binder.bind(field.key)} AND {condition('t', binder)})"
    )


_NOT_BOOL = "t.value NOT IN ('true', 'false')"  # booleans are stored as 0/1 too; a number never matches one
_NEVER = "1 = 0"


def _metric_not_bool(aggregate: Aggregate) -> str:
    """A first or last value's JSON text is NULL for a float, the int itself for an int,
    true/false for a boolean; the other aggregates are numbers only."""
    column = aggregate.json
    return "1 = 1" if column is None else f"(t.{column} IS NULL OR t.{column} NOT IN ('true', 'false'))"


def _value_test(field: Field, op: Op, value: Value) -> Test:
    sql_op = "<>" if op == "!=" else op
    param = field.kind == "param"
    aggregate = field.aggregate
    if isinstance(value, bool):
        if not param and aggregate.json is None:
            return lambda t, b: _NEVER
        column = "t.value" if param else f"t.{aggregate.json}"
        return lambda t, b: f"{column} {sql_op} {b.bind(json.dumps(value))}"
    if isinstance(value, float):
        if param:
            return lambda t, b: f"t.value_number {sql_op} {b.bind(value)} AND {_NOT_BOOL}"
        guard = _metric_not_bool(aggregate)
        return lambda t, b: f"t.{aggregate.number} {sql_op} {b.bind(value)} AND {guard}"
    if param:
        return lambda t, b: f"t.value_text {sql_op} {b.bind(value)}"
    if aggregate.json is None:
        return lambda t, b: _NEVER
    return lambda t, b: f"t.{aggregate.json} {sql_op} {b.bind(json.dumps(value))}"


def _in_test(field: Field, values: tuple[Value, ...], negated: bool) -> Test:
    """``x in (...)`` as one ``IN`` per value type, each guarded as ``=`` guards its type.

    Negated, every type's test must hold (``x != a and x != b``): a value of another type is no
    match, as with ``!=``.
    """
    numbers = [v for v in values if isinstance(v, float) and not isinstance(v, bool)]
    texts = [v for v in values if isinstance(v, str)]
    bools = [json.dumps(v) for v in values if isinstance(v, bool)]
    param = field.kind == "param"
    aggregate = field.aggregate
    in_ = "NOT IN" if negated else "IN"

    def test(t: str, binder: Binder) -> str:
        tests: list[str] = []
        if numbers:
            if param:
                column, guard = "t.value_number", _NOT_BOOL
            else:
                column, guard = f"t.{aggregate.number}", _metric_not_bool(aggregate)
            tests.append(f"({column} {in_} ({binder.bind_all(numbers)}) AND {guard})")
        if texts or bools:
            if param:
                tests += [f"t.value_text {in_} ({binder.bind_all(texts)})"] if texts else []
                tests += [f"t.value {in_} ({binder.bind_all(bools)})"] if bools else []
            elif aggregate.json is None:
                tests.append(_NEVER)
            else:
                spelled = [*map(json.dumps, texts), *bools]
                tests.append(f"t.{aggregate.json} {in_} ({binder.bind_all(spelled)})")
        return "(" + (" AND " if negated else " OR ").join(tests) + ")"

    return test


def fields_of(node: Node) -> list[Field]:
    """The fields ``node`` names, in the order written."""
    if isinstance(node, Compare | InList):
        return [node.field]
    if isinstance(node, Not):
        return fields_of(node.operand)
    return [field for operand in node.operands for field in fields_of(operand)]


def _git(field: GitField, values: tuple[Value, ...], negated: bool, binder: Binder) -> str:
    """``field`` equal to one of ``values`` (or, ``negated``, recorded and equal to none): the
    alternatives as a balanced tree of ORs, as deep as the log of their number."""

    def either(tests: list[str]) -> str:
        if len(tests) == 1:
            return tests[0]
        half = len(tests) // 2
        return f"({either(tests[:half])} OR {either(tests[half:])})"

    found = either([matches(field, value, binder) for value in values if isinstance(value, str | bool)])
    return f"({recorded(field)} AND NOT {found})" if negated else found


def _compile(node: Node, binder: Binder) -> str:
    git = (
        git_field(node.field.key) if isinstance(node, Compare | InList) and node.field.kind == "git" else None
    )
    if isinstance(node, Compare) and git is not None:
        return _git(git, (node.value,), node.op == "!=", binder)
    if isinstance(node, InList) and git is not None:
        return _git(git, node.values, node.negated, binder)
    if isinstance(node, Compare):
        return _matches(node.field, _value_test(node.field, node.op, node.value), binder)
    if isinstance(node, InList):
        return _matches(node.field, _in_test(node.field, node.values, node.negated), binder)
    if isinstance(node, Not):
        # Every condition is an EXISTS, true or false and never NULL, so 'not not x' is x.
        if isinstance(node.operand, Not):
            return _compile(node.operand.operand, binder)
        return f"NOT {_compile(node.operand, binder)}"
    joiner = " AND " if node.op == "and" else " OR "
    return "(" + joiner.join(_compile(operand, binder) for operand in node.operands) + ")"


def compile_where(node: Node, binder: Binder | None = None) -> Sql:
    """A boolean SQL condition over ``experiments`` with every literal bound as a parameter.

    ``binder`` collects the values of the statement the condition goes into.
    """
    binder = binder if binder is not None else Binder()
    return Sql(_compile(node, binder), binder.params)
