"""Safe parsing of the arithmetic expressions given to ``chainrule trace``.

The text is read by a small hand-written tokenizer and a Pratt
(precedence-climbing) parser. Nothing the user types is ever passed to
``eval``, ``exec``, ``compile``, ``getattr`` or an import: a name is only
compared with the whitelist of functions and the table of constants, and
values are looked up in plain mappings. This module uses the standard
library only.

Grammar (``^`` and ``**`` are the same operator)::

    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := ("-" | "+") unary | power
    power   := atom (("^" | "**") unary)?
    atom    := NUMBER | NAME | NAME "(" [sum ("," sum)*] ")" | "(" sum ")"

As in Python, ``-x^2`` is ``-(x^2)``, ``x^y^z`` is ``x^(y^z)`` and ``2^-1``
is ``2^(-1)``. The characters ``−`` (minus sign), ``×`` and ``÷``, which
course material writes, are accepted as ``-``, ``*`` and ``/``; any other
character outside the grammar is refused.

Limits: at most ``MAX_LENGTH`` characters and ``MAX_DEPTH`` levels of
nesting. The depth counts the levels of the tree as well as parentheses, so
a flat sum of more than ``MAX_DEPTH`` terms is refused too (the tree of
``a + b + c`` is ``(a + b) + c``). This keeps every recursive walk of a tree,
including the dataclasses' own ``repr`` and ``==``, far from Python's
recursion limit.

>>> tree = parse("x1*x2 + exp(x1*x2) - sin(x2)")
>>> variables(tree)
['x1', 'x2']
>>> to_string(tree)
'x1 * x2 + exp(x1 * x2) - sin(x2)'
>>> evaluate(parse("-x^2"), {"x": 3.0}, MATH_FUNCTIONS)
-9.0
"""

from __future__ import annotations

import difflib
import keyword
import math
import operator
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

__all__ = [
    "BINARY_OPS",
    "DEFAULT_CONSTANTS",
    "DEFAULT_FUNCTIONS",
    "MATH_FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "NEGATE",
    "BinOp",
    "Call",
    "Expr",
    "ExpressionError",
    "Neg",
    "Num",
    "Var",
    "evaluate",
    "parse",
    "parse_assignment",
    "to_string",
    "variables",
]

MAX_LENGTH = 10_000
MAX_DEPTH = 100

BINARY_OPS = ("add", "subtract", "multiply", "divide", "power")
NEGATE = "negative"

_BINARY_FUNCTIONS = frozenset(BINARY_OPS) | {"maximum", "minimum"}
# fmt: off
_UNARY_FUNCTIONS = frozenset({
    "negative", "square", "sqrt", "exp", "expm1", "log", "log1p", "log2", "log10",
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    "abs", "sign", "sigmoid", "relu",
})
# fmt: on
DEFAULT_FUNCTIONS: frozenset[str] = _BINARY_FUNCTIONS | _UNARY_FUNCTIONS
DEFAULT_CONSTANTS: Mapping[str, float] = MappingProxyType({"pi": math.pi, "e": math.e})

# Argument counts checked at parse time for these names, whatever the whitelist.
_ARITY = {name: 2 for name in _BINARY_FUNCTIONS} | {name: 1 for name in _UNARY_FUNCTIONS}


class ExpressionError(ValueError):
    """A malformed or refused expression, or a value missing at evaluation.

    ``str(error)`` is one line; ``error.column`` is the 1-based column of the
    problem in the text given to :func:`parse` (``None`` for errors raised by
    :func:`evaluate`).

    >>> try:
    ...     parse("open('f')")
    ... except ExpressionError as error:
    ...     print(error, "|", error.column)
    unknown function 'open' at column 1 | 1
    """

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


def _error(message: str, column: int, hint: str = "") -> ExpressionError:
    return ExpressionError(f"{message} at column {column}{hint}", column)


# ----------------------------------------------------------------- the tree


class Expr:
    """Base class of the tree's nodes; ``str(node)`` is :func:`to_string`."""

    __slots__ = ()

    def __str__(self) -> str:
        return to_string(self)


@dataclass(frozen=True, slots=True)
class Num(Expr):
    """A number; ``name`` is set for a named constant such as ``pi``.

    >>> parse("2.5"), parse("pi") == Num(math.pi, "pi")
    (Num(value=2.5, name=None), True)
    """

    value: float
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Var(Expr):
    """A named input.

    >>> parse("x1")
    Var(name='x1')
    """

    name: str


@dataclass(frozen=True, slots=True)
class Call(Expr):
    """A call of a whitelisted function with positional arguments.

    >>> parse("exp(x)")
    Call(func='exp', args=(Var(name='x'),))
    """

    func: str
    args: tuple[Expr, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", tuple(self.args))


@dataclass(frozen=True, slots=True)
class BinOp(Expr):
    """A binary operator; ``op`` is one of :data:`BINARY_OPS`.

    >>> parse("x - y")
    BinOp(op='subtract', left=Var(name='x'), right=Var(name='y'))
    """

    op: str
    left: Expr
    right: Expr

    def __post_init__(self) -> None:
        if self.op not in BINARY_OPS:
            raise ValueError(f"BinOp: op must be one of {BINARY_OPS}, got {self.op!r}")


@dataclass(frozen=True, slots=True)
class Neg(Expr):
    """Unary minus; evaluated with ``functions["negative"]``.

    >>> parse("-x")
    Neg(operand=Var(name='x'))
    """

    operand: Expr


def _children(node: Expr) -> tuple[Expr, ...]:
    if isinstance(node, BinOp):
        return (node.left, node.right)
    if isinstance(node, Neg):
        return (node.operand,)
    if isinstance(node, Call):
        return node.args
    return ()


def _walk(tree: Expr) -> Iterator[Expr]:
    """Yield the nodes in reading order (pre-order, left to right)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(_children(node)))


# ---------------------------------------------------------------- tokenizer


class _Token(NamedTuple):
    kind: str  # "number", "name", "op", "bad" or "end"
    value: str  # canonical spelling: "-" for "−", "**" for "^"
    text: str  # as typed, for messages
    column: int  # 1-based


_NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ALIASES = {"^": "**", "\u2212": "-", "\u00d7": "*", "\u00f7": "/"}
_REFUSED = ("==", "!=", "<=", ">=", "//", ":=", "->", "<<", ">>")
# Longest first, so that "**" is not read as two "*" and "//" not as "/".
_SYMBOLS = _REFUSED + ("**", "+", "-", "*", "/", "(", ")", ",") + tuple(_ALIASES)


def _is_name_start(char: str) -> bool:
    return char == "_" or char.isalpha()


def _is_name_char(char: str) -> bool:
    return _is_name_start(char) or char in "0123456789"


def _is_name(text: str) -> bool:
    return (
        text != ""
        and _is_name_start(text[0])
        and all(_is_name_char(char) for char in text)
        and not keyword.iskeyword(text)
    )


def _read_token(text: str, start: int) -> _Token:
    column = start + 1
    number = _NUMBER.match(text, start)
    if number:
        return _Token("number", number.group(), number.group(), column)
    if _is_name_start(text[start]):
        end = start + 1
        while end < len(text) and _is_name_char(text[end]):
            end += 1
        return _Token("name", text[start:end], text[start:end], column)
    for symbol in _SYMBOLS:
        if text.startswith(symbol, start):
            kind = "bad" if symbol in _REFUSED else "op"
            return _Token(kind, _ALIASES.get(symbol, symbol), symbol, column)
    return _Token("bad", text[start], text[start], column)


def _tokenize(text: str) -> list[_Token]:
    """Split ``text`` into tokens; refused characters become "bad" tokens.

    Errors are raised by the parser when it reaches a bad token, so that the
    leftmost problem is the one reported.
    """
    tokens = []
    position = 0
    while position < len(text):
        if text[position] in " \t":
            position += 1
            continue
        token = _read_token(text, position)
        tokens.append(token)
        position += len(token.text)
    tokens.append(_Token("end", "", "", len(text) + 1))
    return tokens


# ------------------------------------------------------------------- parser


class _Infix(NamedTuple):
    op: str
    left_power: int  # how tightly the operator holds its left operand
    right_power: int  # minimum binding power of operators inside the right operand


_SUM, _PRODUCT, _UNARY, _POWER = 10, 20, 30, 40
_INFIX = {
    "+": _Infix("add", _SUM, _SUM),
    "-": _Infix("subtract", _SUM, _SUM),
    "*": _Infix("multiply", _PRODUCT, _PRODUCT),
    "/": _Infix("divide", _PRODUCT, _PRODUCT),
    # Right operand parsed at unary level: right-associative, and 2^-1 works.
    "**": _Infix("power", _POWER, _UNARY),
}


class _Parser:
    """Pratt parser; each parsing method returns ``(tree, depth of tree)``."""

    def __init__(
        self, text: str, functions: Collection[str], constants: Mapping[str, float]
    ) -> None:
        self.tokens = _tokenize(text)
        self.position = 0
        self.nesting = 0
        self.functions = functions
        self.constants = constants

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.position + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.peek()
        self.position = min(self.position + 1, len(self.tokens) - 1)
        return token

    def at(self, symbol: str) -> bool:
        token = self.peek()
        return token.kind == "op" and token.value == symbol

    def parse(self) -> Expr:
        if self.peek().kind == "end":
            raise ExpressionError("empty expression", 1)
        tree, _ = self.expression(0)
        if self.peek().kind != "end":
            raise self.unexpected(self.peek(), after_operand=True)
        return tree

    def expression(self, min_power: int) -> tuple[Expr, int]:
        """Parse a prefix, then every infix operator binding tighter than ``min_power``."""
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self.too_deep(self.peek())
        left, depth = self.prefix()
        while True:
            token = self.peek()
            infix = _INFIX.get(token.value) if token.kind == "op" else None
            if infix is None or infix.left_power <= min_power:
                break
            self.advance()
            right, right_depth = self.expression(infix.right_power)
            left = BinOp(infix.op, left, right)
            depth = self.deeper(max(depth, right_depth), token)
        self.nesting -= 1
        return left, depth

    def prefix(self) -> tuple[Expr, int]:
        token = self.advance()
        if token.kind == "number":
            return Num(self.number(token)), 1
        if token.kind == "name":
            return self.name(token)
        if token.kind == "op" and token.value in ("-", "+"):
            operand, depth = self.expression(_UNARY)
            if token.value == "+":
                return operand, depth
            return Neg(operand), self.deeper(depth, token)
        if token.kind == "op" and token.value == "(":
            inner, depth = self.expression(0)
            self.close(token)
            return inner, depth
        raise self.unexpected(token)

    def number(self, token: _Token) -> float:
        value = float(token.text)
        if not math.isfinite(value):
            raise _error(f"number {token.text!r} is too large", token.column)
        return value

    def name(self, token: _Token) -> tuple[Expr, int]:
        name = token.text
        if keyword.iskeyword(name):
            raise self.unexpected(token)
        if self.at("("):
            return self.call(token)
        if name in self.constants:
            return Num(float(self.constants[name]), name), 1
        if name in self.functions:
            message = f"{name!r} at column {token.column} is a function: call it as {name}(...)"
            raise ExpressionError(message, token.column)
        return Var(name), 1

    def call(self, name_token: _Token) -> tuple[Expr, int]:
        func = name_token.text
        if func not in self.functions:
            hint = _did_you_mean(func, self.functions)
            raise _error(f"unknown function {func!r}", name_token.column, hint)
        open_token = self.advance()
        args: list[Expr] = []
        depth = 0
        if not self.at(")"):
            args, depth = self.arguments()
        self.close(open_token)
        self.check_arity(name_token, len(args))
        return Call(func, tuple(args)), self.deeper(depth, name_token)

    def arguments(self) -> tuple[list[Expr], int]:
        args, depth = [], 0
        while True:
            self.refuse_keyword_argument()
            arg, arg_depth = self.expression(0)
            args.append(arg)
            depth = max(depth, arg_depth)
            if not self.at(","):
                return args, depth
            self.advance()

    def refuse_keyword_argument(self) -> None:
        following = self.peek(1)
        if self.peek().kind == "name" and following.text == "=":
            hint = " (keyword arguments are not allowed)"
            raise _error("unexpected '='", following.column, hint)

    def check_arity(self, name_token: _Token, count: int) -> None:
        expected = _ARITY.get(name_token.text)
        if expected is not None and count != expected:
            plural = "" if expected == 1 else "s"
            message = (
                f"{name_token.text}() at column {name_token.column} takes"
                f" {expected} argument{plural}, got {count}"
            )
            raise ExpressionError(message, name_token.column)

    def close(self, open_token: _Token) -> None:
        if self.at(")"):
            self.advance()
            return
        if self.peek().kind == "end":
            raise _error("missing ')' opened", open_token.column)
        raise self.unexpected(self.peek(), after_operand=True)

    def deeper(self, depth: int, token: _Token) -> int:
        if depth + 1 > MAX_DEPTH:
            raise self.too_deep(token)
        return depth + 1

    def too_deep(self, token: _Token) -> ExpressionError:
        message = f"expression is nested too deeply (more than {MAX_DEPTH} levels)"
        return _error(message, token.column)

    def unexpected(self, token: _Token, after_operand: bool = False) -> ExpressionError:
        if token.kind == "end":
            return ExpressionError("unexpected end of expression", token.column)
        if token.kind == "name" and keyword.iskeyword(token.text):
            return _error(f"unexpected keyword {token.text!r}", token.column)
        if after_operand and token.kind == "op" and token.value == ")":
            return _error("unmatched ')'", token.column)
        starts_operand = token.kind in ("number", "name") or token.value == "("
        hint = " (missing operator?)" if after_operand and starts_operand else ""
        return _error(f"unexpected {token.text!r}", token.column, hint)


def _did_you_mean(name: str, choices: Collection[str]) -> str:
    matches = difflib.get_close_matches(name, sorted(choices), n=1)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def parse(
    text: str,
    functions: Collection[str] = DEFAULT_FUNCTIONS,
    constants: Mapping[str, float] = DEFAULT_CONSTANTS,
) -> Expr:
    """Parse ``text`` into an immutable tree, refusing anything outside the grammar.

    ``functions`` is the whitelist of names that may be called; ``constants``
    maps names to numbers (pass ``{}`` to make ``e`` an ordinary variable).
    Calls of names in :data:`DEFAULT_FUNCTIONS` have their argument count
    checked. Raises :class:`ExpressionError` with the column of the problem.

    >>> parse("(x+y)*z")
    BinOp(op='multiply', left=BinOp(op='add', left=Var(name='x'), right=Var(name='y')), \
right=Var(name='z'))
    >>> parse("x.real")
    Traceback (most recent call last):
    ...
    chainrule.inspect.expr.ExpressionError: unexpected '.' at column 2
    """
    if not isinstance(text, str):
        raise TypeError(f"parse: expected a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        message = f"expression is too long ({len(text)} characters, limit {MAX_LENGTH})"
        raise ExpressionError(message, MAX_LENGTH + 1)
    try:
        return _Parser(text, functions, constants).parse()
    except RecursionError:  # only when parse itself is called from a very deep stack
        raise ExpressionError("expression is nested too deeply", None) from None


# ------------------------------------------------------------------- using it


def variables(tree: Expr) -> list[str]:
    """The names of the variables, in order of first appearance.

    >>> variables(parse("y*x + z*y + pi*x"))
    ['y', 'x', 'z']
    """
    seen: dict[str, None] = {}
    for node in _walk(tree):
        if isinstance(node, Var):
            seen.setdefault(node.name)
    return list(seen)


def _implementation(functions: Mapping[str, Callable[..., Any]], name: str) -> Callable[..., Any]:
    if name not in functions:
        raise ExpressionError(f"no implementation of {name!r} in the functions given to evaluate")
    return functions[name]


def evaluate(
    tree: Expr, env: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]
) -> Any:
    """Evaluate ``tree`` by walking it, operands left to right.

    Operators use ``functions[op]`` (``"add"``, ``"subtract"``, ``"multiply"``,
    ``"divide"``, ``"power"``, and ``"negative"`` for unary minus) and calls
    use ``functions[func]``, so a caller can pass differentiable functions.
    Numbers and constants are given to them as Python floats.

    >>> evaluate(parse("2*x^3 - x"), {"x": 2.0}, MATH_FUNCTIONS)
    14.0
    >>> evaluate(parse("x1 + x2"), {"x1": 1.0}, MATH_FUNCTIONS)
    Traceback (most recent call last):
    ...
    chainrule.inspect.expr.ExpressionError: no value for 'x2': pass --at x2=VALUE
    """
    match tree:
        case Num(value=value):
            return value
        case Var(name=name):
            if name not in env:
                raise ExpressionError(f"no value for {name!r}: pass --at {name}=VALUE")
            return env[name]
        case Neg(operand=operand):
            return _implementation(functions, NEGATE)(evaluate(operand, env, functions))
        case BinOp(op=op, left=left, right=right):
            x = evaluate(left, env, functions)
            y = evaluate(right, env, functions)
            return _implementation(functions, op)(x, y)
        case Call(func=func, args=args):
            values = [evaluate(arg, env, functions) for arg in args]
            return _implementation(functions, func)(*values)
    raise TypeError(f"evaluate: expected an expression tree, got {type(tree).__name__}")


_PRECEDENCE = {"add": 1, "subtract": 1, "multiply": 2, "divide": 2, "power": 4}
_NEG_LEVEL, _ATOM_LEVEL = 3, 5
_SPELLING = {"add": " + ", "subtract": " - ", "multiply": " * ", "divide": " / ", "power": "**"}


def _level(tree: Expr) -> int:
    if isinstance(tree, BinOp):
        return _PRECEDENCE[tree.op]
    if isinstance(tree, Neg):
        return _NEG_LEVEL
    if isinstance(tree, Num) and tree.name is None and math.copysign(1.0, tree.value) < 0:
        return _NEG_LEVEL  # a negative number reads like a negation
    return _ATOM_LEVEL


def _operand(tree: Expr, min_level: int) -> str:
    text = to_string(tree)
    return text if _level(tree) >= min_level else f"({text})"


def _format_number(node: Num) -> str:
    if node.name is not None:
        return node.name
    text = repr(float(node.value))
    return text.removesuffix(".0")


def to_string(tree: Expr) -> str:
    """Render ``tree`` canonically, with only the parentheses it needs.

    Power is written ``**``; ``parse(to_string(tree)) == tree``.

    >>> to_string(parse("6*exp(-y)/(1+x^2+y^2) + 2*x**3"))
    '6 * exp(-y) / (1 + x**2 + y**2) + 2 * x**3'
    >>> to_string(parse("(-x)^2 - (a - b)"))
    '(-x)**2 - (a - b)'
    """
    match tree:
        case Num():
            return _format_number(tree)
        case Var(name=name):
            return name
        case Call(func=func, args=args):
            return f"{func}({', '.join(to_string(arg) for arg in args)})"
        case Neg(operand=operand):
            return "-" + _operand(operand, _NEG_LEVEL)
        case BinOp(op=op, left=left, right=right):
            level = _PRECEDENCE[op]
            if op == "power":  # right-associative; a signed exponent needs no parentheses
                left_min, right_min = level + 1, _NEG_LEVEL
            else:  # left-associative
                left_min, right_min = level, level + 1
            return _operand(left, left_min) + _SPELLING[op] + _operand(right, right_min)
    raise TypeError(f"to_string: expected an expression tree, got {type(tree).__name__}")


# ------------------------------------------------------------- --at options

_VALUE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_assignment(text: str) -> tuple[str, float]:
    """Read one ``--at NAME=VALUE`` option of ``chainrule trace``.

    VALUE is a decimal number (``-2``, ``.5``, ``1e-3``; ``−`` is accepted
    for ``-``). ``nan``, ``inf`` and numbers too large for a float are
    refused: an input that is not finite makes every column of the trace
    meaningless and cannot be written as standard JSON.

    >>> parse_assignment("x1=1.5")
    ('x1', 1.5)
    >>> parse_assignment("x1")
    Traceback (most recent call last):
    ...
    chainrule.inspect.expr.ExpressionError: --at expects NAME=VALUE, got 'x1'
    """
    name, equals, raw_value = text.partition("=")
    if not equals:
        raise ExpressionError(f"--at expects NAME=VALUE, got {text!r}", 1)
    name = name.strip()
    if not _is_name(name):
        message = f"--at expects NAME=VALUE with NAME a variable name like x1, got {text!r}"
        raise ExpressionError(message, 1)
    value_text = raw_value.strip().replace("\u2212", "-")
    value = float(value_text) if _VALUE.fullmatch(value_text) else math.nan
    if not math.isfinite(value):
        message = (
            f"--at {name}: VALUE must be a finite number like 1.5, -2 or 1e-3, got {raw_value!r}"
        )
        raise ExpressionError(message, len(text) - len(raw_value) + 1)
    return name, value


# --------------------------------------------------- plain-float functions


def _sign(x: float) -> float:
    return x if math.isnan(x) else float((x > 0) - (x < 0))


def _maximum(x: float, y: float) -> float:
    return x if x >= y or math.isnan(x) else y  # a NaN wins, as in NumPy


def _minimum(x: float, y: float) -> float:
    return x if x <= y or math.isnan(x) else y


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)  # no overflow for large negative x
    return z / (1.0 + z)


MATH_FUNCTIONS: Mapping[str, Callable[..., float]] = MappingProxyType(
    {
        "add": operator.add,
        "subtract": operator.sub,
        "multiply": operator.mul,
        "divide": operator.truediv,
        "power": math.pow,
        "negative": operator.neg,
        "square": lambda x: x * x,
        "sqrt": math.sqrt,
        "exp": math.exp,
        "expm1": math.expm1,
        "log": math.log,
        "log1p": math.log1p,
        "log2": math.log2,
        "log10": math.log10,
        "sin": math.sin,
        "cos": math.cos,
        "tan": math.tan,
        "arcsin": math.asin,
        "arccos": math.acos,
        "arctan": math.atan,
        "sinh": math.sinh,
        "cosh": math.cosh,
        "tanh": math.tanh,
        "abs": math.fabs,
        "sign": _sign,
        "maximum": _maximum,
        "minimum": _minimum,
        "sigmoid": _sigmoid,
        "relu": lambda x: _maximum(x, 0.0),
    }
)
"""Plain-float implementations of :data:`DEFAULT_FUNCTIONS`, for :func:`evaluate`
without the engine. Errors are Python's (``ZeroDivisionError``, ``ValueError``
for a math domain error), not NumPy's NaN and infinity."""
