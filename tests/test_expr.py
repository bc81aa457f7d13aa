"""Specification of chainrule.inspect.expr, the parser behind `chainrule trace EXPR`."""

from __future__ import annotations

import ast
import builtins
import math
import sys
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import pytest

try:
    from chainrule.inspect import expr
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from chainrule.inspect import expr

from chainrule.inspect.expr import (
    DEFAULT_FUNCTIONS,
    MATH_FUNCTIONS,
    MAX_DEPTH,
    MAX_LENGTH,
    BinOp,
    Call,
    ExpressionError,
    Neg,
    Num,
    Var,
    evaluate,
    parse,
    parse_assignment,
    to_string,
    variables,
)

X, Y, Z = 1.7, -0.6, 2.3
ENV = {"x": X, "y": Y, "z": Z}

# (expression, the same computation written in Python)
PRECEDENCE_TABLE = [
    ("x + y * z", lambda x, y, z: x + y * z),
    ("(x + y) * z", lambda x, y, z: (x + y) * z),
    ("x - y - z", lambda x, y, z: x - y - z),
    ("x - (y - z)", lambda x, y, z: x - (y - z)),
    ("x / y / z", lambda x, y, z: x / y / z),
    ("x / y * z", lambda x, y, z: x / y * z),
    ("x * y / z", lambda x, y, z: x * y / z),
    ("x - y + z", lambda x, y, z: x - y + z),
    ("-x**2", lambda x, y, z: -(x**2)),
    ("(-x)**2", lambda x, y, z: (-x) ** 2),
    ("x**z**0.5", lambda x, y, z: x ** (z**0.5)),
    ("(x**z)**0.5", lambda x, y, z: (x**z) ** 0.5),
    ("2**-x", lambda x, y, z: 2**-x),
    ("2**-x*3", lambda x, y, z: 2**-x * 3),
    ("x**2*y", lambda x, y, z: x**2 * y),
    ("-x*y", lambda x, y, z: -x * y),
    ("--x", lambda x, y, z: x),
    ("+x - -y", lambda x, y, z: +x - -y),
    ("x * -y", lambda x, y, z: x * -y),
    ("2*x**3 - 4*x*y + z/2", lambda x, y, z: 2 * x**3 - 4 * x * y + z / 2),
    ("1e-3 * x + .5 - 2.", lambda x, y, z: 1e-3 * x + 0.5 - 2.0),
    ("1.5E+2 / z", lambda x, y, z: 1.5e2 / z),
    ("((x))", lambda x, y, z: x),
    ("x*y + exp(x*y) - sin(y)", lambda x, y, z: x * y + math.exp(x * y) - math.sin(y)),
    (
        "6*exp(-y)/(1+x**2+y**2) + 2*x**3",
        lambda x, y, z: 6 * math.exp(-y) / (1 + x**2 + y**2) + 2 * x**3,
    ),
    ("log(z) * cos(x) ** 2", lambda x, y, z: math.log(z) * math.cos(x) ** 2),
    ("tanh(x - y) / sqrt(z)", lambda x, y, z: math.tanh(x - y) / math.sqrt(z)),
    ("maximum(x, y) - minimum(y, z)", lambda x, y, z: max(x, y) - min(y, z)),
    ("pi * z**2 + e", lambda x, y, z: math.pi * z**2 + math.e),
    ("power(x, 2) - -power(z, y)", lambda x, y, z: x**2 - -(z**y)),
]
EXPRESSIONS = [text for text, _ in PRECEDENCE_TABLE]


@pytest.mark.parametrize("text, python", PRECEDENCE_TABLE, ids=EXPRESSIONS)
def test_evaluation_matches_python_arithmetic(text, python):
    assert evaluate(parse(text), ENV, MATH_FUNCTIONS) == python(X, Y, Z)


@pytest.mark.parametrize("text, python", PRECEDENCE_TABLE, ids=EXPRESSIONS)
def test_caret_is_the_same_operator_as_double_star(text, python):
    caret = parse(text.replace("**", "^"))
    assert caret == parse(text)
    assert evaluate(caret, ENV, MATH_FUNCTIONS) == python(X, Y, Z)


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_to_string_parses_back_to_the_same_tree(text):
    tree = parse(text)
    assert parse(to_string(tree)) == tree
    assert str(tree) == to_string(tree)


def test_minus_power_negates_the_power_like_python():
    assert parse("-x^2") == Neg(BinOp("power", Var("x"), Num(2.0)))


def test_power_is_right_associative():
    x, y, z = Var("x"), Var("y"), Var("z")
    assert parse("x^y^z") == BinOp("power", x, BinOp("power", y, z))
    assert parse("x**y**z") == parse("x^y^z")


def test_subtraction_and_division_are_left_associative():
    x, y, z = Var("x"), Var("y"), Var("z")
    assert parse("x-y-z") == BinOp("subtract", BinOp("subtract", x, y), z)
    assert parse("x/y/z") == BinOp("divide", BinOp("divide", x, y), z)


def test_unary_plus_is_dropped_and_unary_minus_is_a_neg_node():
    assert parse("+x") == Var("x")
    assert parse("-2") == Neg(Num(2.0))


def test_calls_constants_and_numbers_build_the_documented_nodes():
    assert parse("maximum(x, 1e-3)") == Call("maximum", (Var("x"), Num(0.001)))
    assert parse("pi") == Num(math.pi, "pi")
    assert parse("e") == Num(math.e, "e")
    assert parse("e", constants={}) == Var("e")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("(x+y)*z", "(x + y) * z"),
        ("x-(y-z)", "x - (y - z)"),
        ("x-(y+z)", "x - (y + z)"),
        ("(x-y)-z", "x - y - z"),
        ("x/(y*z)", "x / (y * z)"),
        ("-x^2", "-x**2"),
        ("(-x)^2", "(-x)**2"),
        ("x^(y^z)", "x**y**z"),
        ("(x^y)^z", "(x**y)**z"),
        ("x^(-y)", "x**-y"),
        ("-(x*y)", "-(x * y)"),
        ("2.0*x + 0.5", "2 * x + 0.5"),
        ("1e-5 + 1e20", "1e-05 + 1e+20"),
        ("sin(x)^2 + maximum(x,y)", "sin(x)**2 + maximum(x, y)"),
        ("2*pi*r", "2 * pi * r"),
    ],
)
def test_to_string_is_canonical_with_only_needed_parentheses(text, expected):
    assert to_string(parse(text)) == expected


def test_to_string_parenthesizes_a_negative_number_used_as_a_base():
    assert to_string(BinOp("power", Num(-2.0), Num(2.0))) == "(-2)**2"


def test_trees_are_immutable_and_hashable():
    tree = parse("x * exp(y)")
    with pytest.raises(AttributeError):
        tree.op = "add"
    assert hash(tree) == hash(parse("x*exp(y)"))
    with pytest.raises(ValueError, match="op must be one of"):
        BinOp("xor", Var("x"), Var("y"))


def test_variables_are_listed_in_order_of_first_appearance():
    assert variables(parse("y*x + z*y + x")) == ["y", "x", "z"]
    assert variables(parse("x2*x1 + exp(x1*x3)")) == ["x2", "x1", "x3"]


def test_variables_exclude_constants_and_function_names():
    assert variables(parse("pi * r^2 + exp(e)")) == ["r"]
    assert variables(parse("2 + 3")) == []


def test_evaluate_maps_operators_and_calls_to_the_functions_given():
    calls = []

    def recorder(name):
        def function(*args):
            calls.append((name, args))
            return f"{name}{args}"

        return function

    functions = {name: recorder(name) for name in MATH_FUNCTIONS}
    env = {name: name for name in "abcdg"} | {"e": "e", "f": "f"}
    result = evaluate(parse("-a + b*c - d/e^f + exp(g)", constants={}), env, functions)
    names = [name for name, _ in calls]
    assert names == ["negative", "multiply", "add", "power", "divide", "subtract", "exp", "add"]
    assert calls[0] == ("negative", ("a",))
    assert calls[3] == ("power", ("e", "f"))
    assert result.startswith("add(")


def test_evaluate_passes_numbers_as_floats():
    seen = []
    functions = dict(MATH_FUNCTIONS, add=lambda x, y: seen.append((x, y)) or x + y)
    evaluate(parse("2 + x"), {"x": 1}, functions)
    assert seen == [(2.0, 1)] and isinstance(seen[0][0], float)


def test_evaluate_names_the_missing_variable_and_the_option_to_pass():
    with pytest.raises(ExpressionError) as caught:
        evaluate(parse("x1*x2 + sin(x2)"), {"x1": 1.0}, MATH_FUNCTIONS)
    assert str(caught.value) == "no value for 'x2': pass --at x2=VALUE"
    assert caught.value.column is None


def test_evaluate_names_a_function_missing_from_the_mapping():
    with pytest.raises(ExpressionError, match="no implementation of 'relu'"):
        evaluate(parse("relu(x)"), {"x": 1.0}, {"add": MATH_FUNCTIONS["add"]})


def test_math_functions_cover_the_default_whitelist():
    assert set(MATH_FUNCTIONS) == set(DEFAULT_FUNCTIONS)
    assert evaluate(parse("sigmoid(-1000) + relu(-2) + sign(-3)"), {}, MATH_FUNCTIONS) == -1.0


# ------------------------------------------------------------------ refusals

HOSTILE = [
    ("__import__('os').system('echo hi')", 1, "unknown function '__import__' at column 1"),
    ("().__class__", 2, "unexpected ')' at column 2"),
    ("x.real", 2, "unexpected '.' at column 2"),
    ("sin(x).__globals__", 7, "unexpected '.' at column 7"),
    ("[a for a in b]", 1, "unexpected '[' at column 1"),
    ("open('f')", 1, "unknown function 'open' at column 1"),
    ("lambda: 1", 1, "unexpected keyword 'lambda' at column 1"),
    ("x if y else z", 3, "unexpected keyword 'if' at column 3"),
    ("'abc'", 1, 'unexpected "\'" at column 1'),
    ('x + "abc"', 5, "unexpected '\"' at column 5"),
    ("x[0]", 2, "unexpected '[' at column 2"),
    ("exp(x=1)", 6, "unexpected '=' at column 6 (keyword arguments are not allowed)"),
    ("x == y", 3, "unexpected '==' at column 3"),
    ("x = 1", 3, "unexpected '=' at column 3"),
    ("import os", 1, "unexpected keyword 'import' at column 1"),
    ("x; y", 2, "unexpected ';' at column 2"),
    ("x\ny", 2, "unexpected '\\n' at column 2"),
    ("x // y", 3, "unexpected '//' at column 3"),
    ("x @ y", 3, "unexpected '@' at column 3"),
    ("sin(*x)", 5, "unexpected '*' at column 5"),
    ("{}", 1, "unexpected '{' at column 1"),
    ("exp.__call__(x)", 1, "'exp' at column 1 is a function: call it as exp(...)"),
    ("None", 1, "unexpected keyword 'None' at column 1"),
    ("x(y)", 1, "unknown function 'x' at column 1"),
]


@pytest.mark.parametrize("text, column, message", HOSTILE, ids=[t for t, _, _ in HOSTILE])
def test_hostile_input_is_refused_with_its_column(text, column, message):
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert str(caught.value) == message
    assert caught.value.column == column
    assert isinstance(caught.value, ValueError)


def _payloads(path):
    touch = f"open('{path}', 'w')"
    return [
        f"__import__('os').system('touch {path}')",
        touch,
        f'exec("{touch}")',
        f'eval("{touch}")',
        f"[{touch} for a in b]",
        f"(lambda: {touch})()",
        f"x if {touch} else y",
        f"exp({touch})",
        "().__class__.__base__.__subclasses__()",
        f"x; {touch}",
    ]


def _code_execution_forbidden():
    """Patch the builtins that could run code so that any call fails loudly."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the parser tried to run code")

    stack = ExitStack()
    for name in ("eval", "exec", "compile", "__import__", "open"):
        stack.enter_context(mock.patch.object(builtins, name, forbidden))
    return stack


@pytest.mark.parametrize("index", range(len(_payloads("f"))))
def test_hostile_input_never_runs(tmp_path, index):
    sentinel = tmp_path / "sentinel"
    payload = _payloads(sentinel)[index]
    with pytest.raises(ExpressionError), _code_execution_forbidden():
        parse(payload)
    assert not sentinel.exists()


def test_module_never_calls_code_running_builtins():
    source = Path(expr.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    forbidden = {
        "eval",
        "exec",
        "compile",
        "getattr",
        "setattr",
        "__import__",
        "globals",
        "locals",
        "vars",
        "open",
        "breakpoint",
    }
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert names & forbidden == set()
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {
        "__future__",
        "collections",
        "dataclasses",
        "difflib",
        "keyword",
        "math",
        "operator",
        "re",
        "types",
        "typing",
    }


def test_dunder_names_are_only_ever_variable_names():
    assert parse("__builtins__") == Var("__builtins__")
    with pytest.raises(ExpressionError, match="no value for '__builtins__'"):
        evaluate(parse("__builtins__"), {}, MATH_FUNCTIONS)


@pytest.mark.parametrize(
    "text, column, message",
    [
        ("", 1, "empty expression"),
        ("   ", 1, "empty expression"),
        ("x +", 4, "unexpected end of expression"),
        ("exp(", 5, "unexpected end of expression"),
        ("2 * (x + y", 5, "missing ')' opened at column 5"),
        ("sin(x + y", 4, "missing ')' opened at column 4"),
        ("(x + (y)", 1, "missing ')' opened at column 1"),
        ("x + y)", 6, "unmatched ')' at column 6"),
        ("x y", 3, "unexpected 'y' at column 3 (missing operator?)"),
        ("2x", 2, "unexpected 'x' at column 2 (missing operator?)"),
        ("(x)(y)", 4, "unexpected '(' at column 4 (missing operator?)"),
        ("(x, y)", 3, "unexpected ',' at column 3"),
        ("maximum(x, )", 12, "unexpected ')' at column 12"),
        ("x * * y", 5, "unexpected '*' at column 5"),
        ("1.2.3", 4, "unexpected '.3' at column 4 (missing operator?)"),
        ("x²", 2, "unexpected '²' at column 2"),
        ("1e999 * x", 1, "number '1e999' is too large at column 1"),
        ("sine(x)", 1, "unknown function 'sine' at column 1 (did you mean 'sin'?)"),
        ("exp(x, y)", 1, "exp() at column 1 takes 1 argument, got 2"),
        ("x + maximum(y)", 5, "maximum() at column 5 takes 2 arguments, got 1"),
        ("x + exp", 5, "'exp' at column 5 is a function: call it as exp(...)"),
        ("pi(2)", 1, "unknown function 'pi' at column 1"),
    ],
)
def test_error_messages_point_at_the_problem(text, column, message):
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert str(caught.value) == message
    assert caught.value.column == column
    assert "\n" not in str(caught.value)


def test_leftmost_problem_is_reported_first():
    with pytest.raises(ExpressionError, match="unknown function 'open' at column 3"):
        parse("x+open('f') ; $")


def test_whitelist_is_a_parameter():
    assert parse("f(x, y, z)", functions={"f"}) == Call("f", (Var("x"), Var("y"), Var("z")))
    with pytest.raises(ExpressionError, match="unknown function 'exp'"):
        parse("exp(x)", functions={"f"})
    assert parse("sin", functions=()) == Var("sin")


# ------------------------------------------------------------ unicode aliases


def test_unicode_minus_times_and_divide_are_aliases():
    assert parse("x × y ÷ z − 1") == parse("x * y / z - 1")
    assert parse("−x^2") == parse("-x^2")


def test_unicode_aliases_keep_columns_and_are_quoted_as_typed():
    with pytest.raises(ExpressionError, match=r"^unexpected '×' at column 5$"):
        parse("x × × y")
    with pytest.raises(ExpressionError, match=r"^missing '\)' opened at column 5$"):
        parse("2 × (x ÷ y")


def test_other_unicode_operators_are_refused_clearly():
    with pytest.raises(ExpressionError, match=r"^unexpected '⋅' at column 3$"):
        parse("x ⋅ y")
    with pytest.raises(ExpressionError, match=r"^unexpected '√' at column 1$"):
        parse("√x")


def test_unicode_letters_make_names():
    assert variables(parse("θ * α + θ")) == ["θ", "α"]


# --------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    "text",
    [
        "(" * 4000 + "x" + ")" * 4000,
        "-" * 9000 + "x",
        "+" * 9000 + "x",
        "exp(" * 1500 + "x" + ")" * 1500,
        "x" + "^x" * 4000,
        "+".join(["x"] * 4000),
        "maximum(x, " * 700 + "x" + ")" * 700,
    ],
    ids=["parentheses", "minus", "plus", "calls", "power", "flat sum", "binary calls"],
)
def test_deep_nesting_is_refused_without_recursion_error(text):
    assert len(text) <= MAX_LENGTH
    with pytest.raises(ExpressionError, match=r"nested too deeply \(more than 100 levels\)"):
        parse(text)


def _stack_depth():
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth


def test_deep_nesting_is_refused_even_from_a_deep_stack():
    def descend(levels):
        return descend(levels - 1) if levels else parse("(" * 4000 + "x" + ")" * 4000)

    # Leave fewer frames than MAX_DEPTH levels of parentheses need.
    with pytest.raises(ExpressionError, match="^expression is nested too deeply$"):
        descend(sys.getrecursionlimit() - _stack_depth() - 2 * MAX_DEPTH)


def test_nesting_up_to_the_limit_is_accepted_and_usable():
    parenthesized = parse("(" * (MAX_DEPTH - 1) + "x" + ")" * (MAX_DEPTH - 1))
    assert parenthesized == Var("x")
    negated = parse("-" * (MAX_DEPTH - 1) + "x")
    calls = parse("exp(" * (MAX_DEPTH - 1) + "x" + ")" * (MAX_DEPTH - 1))
    flat = parse("+".join(["x"] * MAX_DEPTH))
    for tree in (negated, calls, flat):
        assert parse(to_string(tree)) == tree
        assert repr(tree) and hash(tree) == hash(parse(to_string(tree)))
        assert variables(tree) == ["x"]
    assert evaluate(negated, {"x": 2.0}, MATH_FUNCTIONS) == -2.0
    assert evaluate(flat, {"x": 1.0}, MATH_FUNCTIONS) == MAX_DEPTH


def test_one_level_past_the_limit_is_refused():
    for text in [
        "(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH,
        "-" * MAX_DEPTH + "x",
        "+".join(["x"] * (MAX_DEPTH + 1)),
    ]:
        with pytest.raises(ExpressionError, match="nested too deeply"):
            parse(text)


def test_very_long_input_is_refused():
    with pytest.raises(ExpressionError) as caught:
        parse("x+" * MAX_LENGTH + "x")
    assert "expression is too long" in str(caught.value)
    assert caught.value.column == MAX_LENGTH + 1


def test_non_string_input_is_a_type_error():
    with pytest.raises(TypeError, match="expected a string"):
        parse(b"x + y")


# ----------------------------------------------------------------- --at NAME=VALUE


@pytest.mark.parametrize(
    "text, expected",
    [
        ("x1=1.5", ("x1", 1.5)),
        ("x=-2", ("x", -2.0)),
        ("y=1e-3", ("y", 0.001)),
        ("z=.5", ("z", 0.5)),
        ("w=+3", ("w", 3.0)),
        ("v=2.", ("v", 2.0)),
        ("u=1.5E2", ("u", 150.0)),
        (" x2 = 0 ", ("x2", 0.0)),
        ("θ=−1", ("θ", -1.0)),
    ],
)
def test_parse_assignment_accepts_names_and_decimal_numbers(text, expected):
    name, value = parse_assignment(text)
    assert (name, value) == expected
    assert isinstance(value, float)


@pytest.mark.parametrize(
    "text, message",
    [
        ("x1", "--at expects NAME=VALUE, got 'x1'"),
        ("", "--at expects NAME=VALUE, got ''"),
        ("=1", "--at expects NAME=VALUE with NAME a variable name like x1, got '=1'"),
        ("1x=1", "--at expects NAME=VALUE with NAME a variable name like x1, got '1x=1'"),
        ("lambda=1", "--at expects NAME=VALUE with NAME a variable name like x1, got 'lambda=1'"),
        ("x.y=1", "--at expects NAME=VALUE with NAME a variable name like x1, got 'x.y=1'"),
        ("x=", "--at x: VALUE must be a finite number like 1.5, -2 or 1e-3, got ''"),
        ("x=abc", "--at x: VALUE must be a finite number like 1.5, -2 or 1e-3, got 'abc'"),
        ("x=1,5", "--at x: VALUE must be a finite number like 1.5, -2 or 1e-3, got '1,5'"),
        ("x=1=2", "--at x: VALUE must be a finite number like 1.5, -2 or 1e-3, got '1=2'"),
        ("x=pi", "--at x: VALUE must be a finite number like 1.5, -2 or 1e-3, got 'pi'"),
        ("x=nan", "--at x: VALUE must be a finite number like 1.5, -2 or 1e-3, got 'nan'"),
        ("x=inf", "--at x: VALUE must be a finite number like 1.5, -2 or 1e-3, got 'inf'"),
        (
            "x=-Infinity",
            "--at x: VALUE must be a finite number like 1.5, -2 or 1e-3, got '-Infinity'",
        ),
        ("x=1e999", "--at x: VALUE must be a finite number like 1.5, -2 or 1e-3, got '1e999'"),
        ("x=1_000", "--at x: VALUE must be a finite number like 1.5, -2 or 1e-3, got '1_000'"),
    ],
)
def test_parse_assignment_refuses_malformed_options_clearly(text, message):
    with pytest.raises(ExpressionError) as caught:
        parse_assignment(text)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_parse_assignment_column_points_at_the_value():
    with pytest.raises(ExpressionError) as caught:
        parse_assignment("x1=abc")
    assert caught.value.column == 4
