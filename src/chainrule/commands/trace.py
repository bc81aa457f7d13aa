"""``chainrule trace EXPR --at NAME=VALUE ...``: the evaluation trace of an expression.

The expression is read by :mod:`chainrule.inspect.expr` (a small parser with a
whitelist of functions): nothing typed is ever evaluated as Python. It is then
computed with chainrule's differentiable functions, and
:func:`chainrule.inspect.trace` records the rows, their primals, tangents
(one column per input, or along ``--seed``) and adjoints. A subexpression
written twice (``x1*x2`` in ``x1*x2 + exp(x1*x2)``) is computed once, as in a
hand-written evaluation trace.

    chainrule trace "x1*x2 + exp(x1*x2) - sin(x2)" --at x1=1.5 --at x2=0.5
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

EPILOG = """\
expressions: numbers, named inputs, + - * / ^ (or **), unary minus, parentheses,
and the functions sqrt exp expm1 log log1p log2 log10 sin cos tan arcsin arccos
arctan sinh cosh tanh abs sign square sigmoid relu maximum(a, b) minimum(a, b);
constants pi and e. An expression that starts with '-' needs a leading space
(" -x^2") or parentheses ("(-x^2)") so that it is not read as an option.

example:
  chainrule trace "x1*x2 + exp(x1*x2) - sin(x2)" --at x1=1.5 --at x2=0.5
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("expression", metavar="EXPR",
                        help='an arithmetic expression of named scalar inputs, e.g. "(x+y)*z"')
    parser.add_argument("--at", metavar="NAME=VALUE", action="append", default=[],
                        help="the value of an input (once per input)")
    parser.add_argument("--seed", metavar="NAME=VALUE", action="append", default=[],
                        help="trace one tangent direction: the inputs' tangents (others 0); "
                             "default: one tangent column per input")
    parser.add_argument("--json", action="store_true",
                        help="end the output with one JSON line: output, gradient, rows")
    parser.add_argument("--dot", metavar="FILE", help="write the graph as Graphviz DOT text")
    parser.add_argument("--svg", metavar="FILE", help="draw the graph as SVG (needs Graphviz)")
    parser.add_argument("--png", metavar="FILE", help="draw the graph as PNG (needs Graphviz)")


def engine_functions() -> dict[str, Callable[..., Any]]:
    """The whitelisted names of the expression language, as chainrule's functions."""
    import chainrule as cr
    import chainrule.numpy as cnp

    names = ["add", "subtract", "multiply", "divide", "power", "negative", "square", "sqrt",
             "exp", "expm1", "log", "log1p", "log2", "log10", "sin", "cos", "tan", "arcsin",
             "arccos", "arctan", "sinh", "cosh", "tanh", "abs", "sign", "maximum", "minimum"]
    functions = {name: getattr(cnp, name) for name in names}
    functions.update(sigmoid=cr.sigmoid, relu=cr.relu)
    return functions


def evaluate_shared(tree: Any, env: Mapping[str, Any], functions: Mapping[str, Callable],
                    memo: dict | None = None) -> Any:
    """Like :func:`chainrule.inspect.expr.evaluate`, computing each distinct subtree once."""
    from chainrule.inspect.expr import NEGATE, BinOp, Call, ExpressionError, Neg, Num, Var

    memo = {} if memo is None else memo
    if tree in memo:
        return memo[tree]
    if isinstance(tree, Num):
        value = tree.value
    elif isinstance(tree, Var):
        if tree.name not in env:
            raise ExpressionError(f"no value for {tree.name!r}: pass --at {tree.name}=VALUE")
        value = env[tree.name]
    elif isinstance(tree, Neg):
        value = functions[NEGATE](evaluate_shared(tree.operand, env, functions, memo))
    elif isinstance(tree, BinOp):
        left = evaluate_shared(tree.left, env, functions, memo)
        right = evaluate_shared(tree.right, env, functions, memo)
        value = functions[tree.op](left, right)
    elif isinstance(tree, Call):
        value = functions[tree.func](*[evaluate_shared(a, env, functions, memo)
                                       for a in tree.args])
    else:
        raise TypeError(f"not an expression tree: {type(tree).__name__}")
    memo[tree] = value
    return value


def _assignments(options: list[str], option: str) -> dict[str, float]:
    from chainrule.inspect.expr import ExpressionError, parse_assignment

    values: dict[str, float] = {}
    for text in options:
        try:
            name, value = parse_assignment(text)
        except ExpressionError as error:
            raise ValueError(str(error).replace("--at", option)) from None
        if name in values:
            raise ValueError(f"{option} {name} is given twice ({values[name]:g} and {value:g}); "
                             f"give each input once")
        values[name] = value
    return values


def _check_names(given: Mapping[str, float], inputs: list[str], option: str) -> None:
    for name in given:
        if name not in inputs:
            listed = ", ".join(inputs) if inputs else "none"
            raise ValueError(f"{option} {name}=...: the expression has no input named {name!r} "
                             f"(its inputs: {listed})")


def run(args: argparse.Namespace) -> int:
    from chainrule.inspect.draw import can_render, write_atomically
    from chainrule.inspect.expr import ExpressionError, parse, to_string, variables
    from chainrule.inspect.trace import trace

    try:
        tree = parse(args.expression)
    except ExpressionError as error:
        message = str(error)
        if error.column is not None and "column" not in message:
            message += f" at column {error.column}"
        raise ValueError(f"{message} in {args.expression!r}"
                         if len(args.expression) <= 80 else message) from None
    inputs = variables(tree)
    at = _assignments(args.at, "--at")
    seed = _assignments(args.seed, "--seed")
    if not inputs:
        raise ValueError("the expression has no inputs to differentiate by; use a named input "
                         "such as x and give its value with --at x=VALUE")
    _check_names(at, inputs, "--at")
    _check_names(seed, inputs, "--seed")
    missing = [name for name in inputs if name not in at]
    if missing:
        options = " ".join(f"--at {name}=VALUE" for name in missing)
        raise ValueError(f"no value for {', '.join(repr(n) for n in missing)}: pass {options}")
    if (args.svg or args.png) and not can_render():
        raise ValueError("--svg and --png need Graphviz's `dot` program (Debian/Ubuntu: "
                         "apt-get install graphviz; macOS: brew install graphviz); "
                         "--dot FILE writes the graph as text without it")

    functions = engine_functions()

    def expression(*values: Any) -> Any:
        return evaluate_shared(tree, dict(zip(inputs, values)), functions)

    expression.__name__ = "f"
    seed_vector = tuple(seed.get(name, 0.0) for name in inputs) if seed else None
    try:
        with np.errstate(all="ignore"):
            result = trace(expression, *(at[name] for name in inputs), names=inputs,
                           seed=seed_vector)
    except (ArithmeticError, TypeError, RuntimeError, NotImplementedError) as error:
        raise ValueError(f"could not evaluate {to_string(tree)!r}: {error}") from None

    result.title = f"f = {to_string(tree)}  at " + ", ".join(f"{n}={at[n]:g}" for n in inputs)
    _reconfigure_stdout()
    print(result)
    for row in result.rows:
        if not np.all(np.isfinite(row["primal"])):
            print(f"chainrule: warning: {row['name']} = {row['operation']} is "
                  f"{row['primal']} (outside the function's domain?)", file=sys.stderr)

    if args.dot or args.svg or args.png:
        picture = result.draw()
        if args.dot:
            write_atomically(args.dot, picture.source.encode())
        if args.svg:
            picture.render(args.svg, format="svg")
        if args.png:
            picture.render(args.png, format="png", dpi=150)
    if args.json:
        print(json.dumps(_json_summary(result, tree, at, inputs), allow_nan=False))
    return 0


def _json_summary(result: Any, tree: Any, at: Mapping[str, float], inputs: list[str]) -> dict:
    from chainrule.inspect import _format
    from chainrule.inspect.expr import to_string

    gradient = result.gradient if len(inputs) > 1 else (result.gradient,)
    output_row = result[result.output_name] if result.output_name else None
    return {
        "expression": to_string(tree),
        "inputs": dict(at),
        "output": _format.jsonable(result.output),
        "gradient": {name: _format.jsonable(g) for name, g in zip(inputs, gradient)},
        "tangent": _format.jsonable(output_row["tangent"]) if output_row else {},
        "rows": result.to_dicts(jsonable=True),
    }


def _reconfigure_stdout() -> None:
    """Print ∂ and v̇ even where standard output is not UTF-8 (as '?' there)."""
    try:
        sys.stdout.reconfigure(errors="replace")
    except (AttributeError, ValueError):
        pass
